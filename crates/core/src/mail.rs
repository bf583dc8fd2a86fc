//! The one mail layout: every message is a greeting, paragraphs and action
//! links, rendered as plain text and as HTML in which every value is escaped,
//! with the portal's name as the signature and, for request mail, a "turn off"
//! link in the footer. Each message supplies only its subject and parts.

use crate::outbox::{Mail, html_escape};

/// One block of a message.
#[derive(Debug, Clone)]
pub enum Part {
    Text(String),
    /// A labelled action link.
    Link(String, String),
}

/// "Hello <name>,".
pub fn hello(name: &str) -> Part {
    Part::Text(format!("Hello {name},"))
}

/// Renders a message. `turn_off` is the one-click link that stops this kind of
/// mail (request notifications), shown in the footer when present.
pub fn render(
    kind: &'static str,
    to: &str,
    subject: String,
    parts: &[Part],
    portal_name: &str,
    turn_off: Option<&str>,
) -> Mail {
    let mut text = String::new();
    let mut html = String::from(
        "<!doctype html><html><body style=\"font-family: system-ui, sans-serif; color: #172b4d\">",
    );
    for p in parts {
        match p {
            Part::Text(t) => {
                text.push_str(t);
                text.push_str("\n\n");
                // Line breaks typed by people (comments, reasons) are kept.
                html.push_str(&format!(
                    "<p style=\"white-space: pre-wrap\">{}</p>",
                    html_escape(t)
                ));
            }
            Part::Link(label, url) => {
                text.push_str(&format!("{label}:\n{url}\n\n"));
                html.push_str(&format!(
                    "<p><a href=\"{}\">{}</a></p>",
                    html_escape(url),
                    html_escape(label)
                ));
            }
        }
    }
    let sig = format!("— {portal_name}");
    text.push_str(&sig);
    text.push('\n');
    html.push_str(&format!(
        "<p style=\"color: #5e6c84\">{}</p>",
        html_escape(&sig)
    ));
    if let Some(url) = turn_off {
        text.push_str(&format!(
            "\nTurn off this request's notifications:\n{url}\n"
        ));
        html.push_str(&format!(
            "<p style=\"color: #5e6c84; font-size: 12px\"><a href=\"{}\">Turn off this request's notifications</a></p>",
            html_escape(url)
        ));
    }
    html.push_str("</body></html>");
    Mail {
        kind,
        to: to.to_owned(),
        subject,
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_in_html_and_kept_in_text() {
        let m = render(
            "x.test",
            "a@x.test",
            "S".into(),
            &[
                hello("<b>Eve</b>"),
                Part::Link("Open".into(), "https://h/p?a=1&b=2".into()),
            ],
            "Desk",
            Some("https://h/off?t=1"),
        );
        assert!(m.text.contains("Hello <b>Eve</b>,"));
        assert!(m.html.contains("Hello &lt;b&gt;Eve&lt;/b&gt;,"));
        assert!(!m.html.contains("<b>Eve"));
        assert!(m.html.contains("href=\"https://h/p?a=1&amp;b=2\""));
        assert!(
            m.text
                .contains("Turn off this request's notifications:\nhttps://h/off?t=1")
        );
        assert!(m.text.contains("— Desk"));
    }
}
