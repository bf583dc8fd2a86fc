//! Transports (API.md "Mail relay format"): `log` writes the mail to the host's log
//! (development: the log is where you click the confirmation link); `http` POSTs
//! one JSON message per mail to the relay, any 2xx meaning delivered.
//!
//! A relay URL outside `mail_relay_origin` is reported as the message's last
//! error ("relay origin not allowed: set mail_relay_origin to …") instead of
//! being tried: Spin would deny the request anyway (`allowed_outbound_hosts`
//! is that variable), with an error that does not say what to change.

use std::fmt;

use serde::Serialize;

use edgedesk_web::Ctx;

use crate::outbox::Claimed;

pub enum Transport {
    Log,
    Http {
        url: String,
        token: String,
    },
    /// Mail cannot be sent until the operator fixes this (kept as last error).
    Misconfigured(String),
}

pub struct Settings {
    pub transport: Transport,
    pub from: String,
}

/// Why one try failed. The text goes to the outbox's `last_error`: never a body
/// or a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The relay answered this non-2xx status.
    Answered(u16),
    /// No answer: refused, reset, DNS, denied by the host.
    Unreachable(String),
    /// No answer within this many seconds.
    TimedOut(u64),
    /// The settings are wrong; nothing was sent.
    Config(String),
    /// `inner` after `tries` tries within one run.
    Tries { inner: Box<Failure>, tries: usize },
}

impl Failure {
    /// Worth trying again in a moment: the relay is busy or briefly away.
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::Answered(s) => *s >= 500 || *s == 408 || *s == 429,
            Failure::Unreachable(_) | Failure::TimedOut(_) => true,
            Failure::Config(_) => false,
            Failure::Tries { inner, .. } => inner.is_transient(),
        }
    }

    /// Every other message would fail the same way (relay down or settings
    /// wrong), unlike a refusal of this one message.
    pub fn is_relay_wide(&self) -> bool {
        match self {
            Failure::Config(_) => true,
            Failure::Tries { inner, .. } => inner.is_relay_wide(),
            other => other.is_transient(),
        }
    }

    pub fn after_tries(self, tries: usize) -> Failure {
        if tries <= 1 {
            return self;
        }
        Failure::Tries {
            inner: Box::new(self),
            tries,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Answered(s) => write!(f, "relay answered {s}"),
            Failure::Unreachable(e) => write!(f, "relay unreachable: {e}"),
            Failure::TimedOut(s) => write!(f, "relay did not answer within {s} s"),
            Failure::Config(e) => f.write_str(e),
            Failure::Tries { inner, tries } => write!(f, "{inner} ({tries} tries)"),
        }
    }
}

impl Settings {
    pub fn is_log(&self) -> bool {
        matches!(self.transport, Transport::Log)
    }

    pub fn from_ctx(ctx: &Ctx) -> Settings {
        let from = ctx.var_or("mail_from", "EdgeDesk <no-reply@localhost>");
        let transport = match ctx.var_or("mail_transport", "log").as_str() {
            "log" => Transport::Log,
            "http" => http_transport(
                &ctx.var_or("mail_relay_url", ""),
                &ctx.var_or("mail_relay_origin", ""),
                ctx.var_or("mail_relay_token", ""),
            ),
            other => Transport::Misconfigured(format!(
                "unknown mail_transport {:?}: use log or http",
                other.chars().take(40).collect::<String>()
            )),
        };
        Settings { transport, from }
    }
}

fn http_transport(url: &str, allowed_origin: &str, token: String) -> Transport {
    if url.is_empty() {
        return Transport::Misconfigured("mail_transport=http needs mail_relay_url".into());
    }
    let Some(origin) = Origin::of(url) else {
        return Transport::Misconfigured("mail_relay_url is not an http:// or https:// URL".into());
    };
    // A pattern (`*`) or a list is checked by Spin itself; compare plain origins
    // only (and nothing when the variable is not given to this component).
    let plain = !allowed_origin.trim().is_empty() && !allowed_origin.contains(['*', ',', ' ']);
    if plain && Origin::of(allowed_origin).as_ref() != Some(&origin) {
        return Transport::Misconfigured(format!(
            "relay origin not allowed: set mail_relay_origin to {}",
            origin.display
        ));
    }
    Transport::Http {
        url: url.to_owned(),
        token,
    }
}

/// `scheme://host:port` as Spin compares `allowed_outbound_hosts` entries:
/// scheme and host case-insensitive, a missing port meaning the scheme's own.
#[derive(Debug)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
    /// As the URL wrote it, without user info or path (for the message).
    display: String,
}

impl PartialEq for Origin {
    fn eq(&self, o: &Self) -> bool {
        (&self.scheme, &self.host, self.port) == (&o.scheme, &o.host, o.port)
    }
}

impl Origin {
    fn of(url: &str) -> Option<Origin> {
        let (scheme, rest) = url.trim().split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let authority = rest.split(['/', '?', '#']).next()?;
        let authority = authority.rsplit('@').next()?;
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (h, after) = v6.split_once(']')?;
                (format!("[{h}]"), after.strip_prefix(':'))
            }
            None => match authority.split_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            },
        };
        let port = match port {
            None | Some("") => default_port,
            Some(p) => p.parse().ok()?,
        };
        if host.is_empty() {
            return None;
        }
        Some(Origin {
            display: format!("{scheme}://{authority}"),
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

#[derive(Serialize)]
pub struct RelayMessage<'a> {
    pub id: &'a str,
    pub from: &'a str,
    pub to: [&'a str; 1],
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
}

pub fn relay_body(from: &str, mail: &Claimed) -> Vec<u8> {
    let msg = RelayMessage {
        id: &mail.id,
        from,
        to: [&mail.to],
        subject: &mail.subject,
        text: &mail.text,
        html: &mail.html,
    };
    serde_json::to_vec(&msg).unwrap_or_default()
}

/// The `log` transport: the mail, in full, on the host's log, in one write
/// (`eprintln!` with arguments writes each piece to the unbuffered stderr,
/// a host call apiece).
pub fn write_to_log(settings: &Settings, mail: &Claimed) {
    let text = format!(
        "mail {} to {} from {}\nSubject: {}\n\n{}\n-- end of mail {}\n",
        mail.id, mail.to, settings.from, mail.subject, mail.text, mail.id
    );
    eprint!("{text}");
}

/// Sends one mail (one try).
pub async fn send(settings: &Settings, mail: &Claimed) -> Result<(), Failure> {
    match &settings.transport {
        Transport::Log => {
            write_to_log(settings, mail);
            Ok(())
        }
        Transport::Misconfigured(why) => Err(Failure::Config(why.clone())),
        Transport::Http { url, token } => {
            let mut b = spin_sdk::http::Request::builder();
            b.method(spin_sdk::http::Method::Post)
                .uri(url.as_str())
                .header("content-type", "application/json")
                .body(relay_body(&settings.from, mail));
            if !token.is_empty() {
                b.header("authorization", format!("Bearer {token}"));
            }
            match spin_sdk::http::send::<_, spin_sdk::http::Response>(b.build()).await {
                Ok(r) if (200..300).contains(r.status()) => Ok(()),
                Ok(r) => Err(Failure::Answered(*r.status())),
                Err(e) => Err(Failure::Unreachable(
                    e.to_string().chars().take(200).collect(),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_body_has_the_contract_fields() {
        let mail = Claimed {
            id: "m1".into(),
            to: "ada@example.com".into(),
            subject: "[SD-1] Hi".into(),
            text: "t".into(),
            html: "<p>h</p>".into(),
            attempts: 1,
        };
        let v: serde_json::Value =
            serde_json::from_slice(&relay_body("EdgeDesk <x@y>", &mail)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id":"m1","from":"EdgeDesk <x@y>","to":["ada@example.com"],
                               "subject":"[SD-1] Hi","text":"t","html":"<p>h</p>"})
        );
    }

    fn misconfigured(t: Transport) -> String {
        match t {
            Transport::Misconfigured(why) => why,
            _ => String::new(),
        }
    }

    #[test]
    fn a_relay_outside_its_allowed_origin_names_the_fix() {
        let t = http_transport(
            "https://relay.example.com:8443/send",
            "https://mail-relay.invalid",
            String::new(),
        );
        assert_eq!(
            misconfigured(t),
            "relay origin not allowed: set mail_relay_origin to https://relay.example.com:8443"
        );
        let t = http_transport(
            "http://127.0.0.1:9/send",
            "http://127.0.0.1:10",
            String::new(),
        );
        assert!(misconfigured(t).ends_with("to http://127.0.0.1:9"));
        // User info never reaches the message.
        let t = http_transport(
            "https://u:pw@relay.example.com/",
            "https://x.example",
            String::new(),
        );
        assert!(misconfigured(t).ends_with("to https://relay.example.com"));
    }

    #[test]
    fn origins_compare_like_spin() {
        for (url, origin) in [
            (
                "https://relay.example.com/send",
                "https://relay.example.com",
            ),
            (
                "https://relay.example.com/send",
                "https://relay.example.com:443",
            ),
            (
                "https://RELAY.example.com:443/send?x=1",
                "https://relay.example.com/",
            ),
            ("http://127.0.0.1:8025/send", "http://127.0.0.1:8025"),
            ("http://[::1]:8025/send", "http://[::1]:8025"),
            // Patterns and lists are left to Spin.
            ("https://a.example.com/send", "https://*.example.com"),
        ] {
            assert!(
                matches!(
                    http_transport(url, origin, String::new()),
                    Transport::Http { .. }
                ),
                "{url} within {origin}"
            );
        }
        for (url, origin) in [
            ("http://relay.example.com/send", "https://relay.example.com"),
            (
                "https://relay.example.com:8443/",
                "https://relay.example.com",
            ),
            (
                "https://relay.example.com.evil.test/",
                "https://relay.example.com",
            ),
        ] {
            assert!(
                matches!(
                    http_transport(url, origin, String::new()),
                    Transport::Misconfigured(_)
                ),
                "{url} outside {origin}"
            );
        }
    }

    #[test]
    fn bad_settings_are_reported_not_sent() {
        assert!(
            misconfigured(http_transport("", "https://x", String::new()))
                .contains("mail_relay_url")
        );
        assert!(
            misconfigured(http_transport("ftp://x/", "https://x", String::new())).contains("http")
        );
        let f =
            Failure::Config("relay origin not allowed: set mail_relay_origin to https://x".into());
        assert!(!f.is_transient());
        assert!(f.is_relay_wide());
        assert_eq!(
            f.to_string(),
            "relay origin not allowed: set mail_relay_origin to https://x"
        );
    }

    #[test]
    fn failures_read_as_a_sentence_for_the_operator() {
        assert_eq!(
            Failure::Answered(503).after_tries(3).to_string(),
            "relay answered 503 (3 tries)"
        );
        assert_eq!(
            Failure::Answered(400).after_tries(1).to_string(),
            "relay answered 400"
        );
        assert!(!Failure::Answered(400).is_relay_wide());
        assert!(Failure::Answered(503).after_tries(3).is_relay_wide());
    }
}
