//! The account mails. Plain text plus HTML in which every value is escaped.

use edgedesk_core::mail::{Part, hello, render};
use edgedesk_core::outbox::Mail;

use crate::env::Config;

/// Every account mail in the one layout of `edgedesk_core::mail`.
fn build(kind: &'static str, to: &str, subject: String, parts: &[Part], cfg: &Config) -> Mail {
    render(kind, to, subject, parts, &cfg.portal_name, None)
}

pub fn confirm(cfg: &Config, to: &str, name: &str, token: &str) -> Mail {
    let link = format!("{}/confirm?token={token}", cfg.base_url);
    build(
        "auth.confirm",
        to,
        format!("Confirm your {} account", cfg.portal_name),
        &[
            hello(name),
            Part::Text(format!(
                "Thank you for signing up to {}. Open this link within 24 hours to confirm your email address:",
                cfg.portal_name
            )),
            Part::Link("Confirm my email address".into(), link),
            Part::Text("If you did not sign up, you can ignore this message: no account is created without confirmation.".into()),
        ],
        cfg,
    )
}

pub fn already_registered(cfg: &Config, to: &str, name: &str) -> Mail {
    build(
        "auth.already_registered",
        to,
        format!("You already have an account at {}", cfg.portal_name),
        &[
            hello(name),
            Part::Text(format!(
                "Someone (probably you) tried to sign up to {} with this email address, but it already has an account.",
                cfg.portal_name
            )),
            Part::Link("Sign in".into(), format!("{}/login", cfg.base_url)),
            Part::Link(
                "Forgot your password? Reset it".into(),
                format!("{}/forgot-password", cfg.base_url),
            ),
            Part::Text(
                "If this was not you, you can ignore this message; nothing has changed.".into(),
            ),
        ],
        cfg,
    )
}

pub fn username_taken(cfg: &Config, to: &str, name: &str, username: &str) -> Mail {
    build(
        "auth.username_taken",
        to,
        format!("Your {} sign-up could not be completed", cfg.portal_name),
        &[
            hello(name),
            Part::Text(format!(
                "The username \"{username}\" is already taken, so no account was created. Sign up again with another username, or leave it empty to sign in with your email address."
            )),
            Part::Link("Sign up".into(), format!("{}/signup", cfg.base_url)),
        ],
        cfg,
    )
}

pub fn reset(cfg: &Config, to: &str, name: &str, token: &str) -> Mail {
    let link = format!("{}/reset-password?token={token}", cfg.base_url);
    build(
        "auth.reset",
        to,
        format!("Reset your {} password", cfg.portal_name),
        &[
            hello(name),
            Part::Text(
                "Open this link within 1 hour to choose a new password. It works once.".into(),
            ),
            Part::Link("Choose a new password".into(), link),
            Part::Text(
                "If you did not ask for this, ignore this message: your password stays as it is."
                    .into(),
            ),
        ],
        cfg,
    )
}

/// An administrator created the account: the link sets the first password.
pub fn invited(cfg: &Config, to: &str, name: &str, username: &str, token: &str) -> Mail {
    let link = format!("{}/reset-password?token={token}", cfg.base_url);
    build(
        "auth.invited",
        to,
        format!("Your {} account is ready", cfg.portal_name),
        &[
            hello(name),
            Part::Text(format!(
                "An administrator created an account for you at {}. Your username is {username}. Open this link within 7 days to choose your password; at your first sign-in you will set up a second factor.",
                cfg.portal_name
            )),
            Part::Link("Choose my password".into(), link),
        ],
        cfg,
    )
}

pub fn username_reminder(cfg: &Config, to: &str, name: &str, username: &str) -> Mail {
    build(
        "auth.username",
        to,
        format!("Your {} username", cfg.portal_name),
        &[
            hello(name),
            Part::Text(format!("Your username is: {username}")),
            Part::Text("You can also sign in with this email address.".into()),
            Part::Link("Sign in".into(), format!("{}/login", cfg.base_url)),
        ],
        cfg,
    )
}

pub fn locked(cfg: &Config, to: &str, name: &str, minutes: i64) -> Mail {
    build(
        "auth.locked",
        to,
        format!("Your {} account was locked", cfg.portal_name),
        &[
            hello(name),
            Part::Text(format!(
                "After many failed sign-in attempts, your account is locked for {minutes} minutes. You can sign in again after that."
            )),
            Part::Text("If these attempts were not yours, someone may be guessing your password. Choose a new one:".into()),
            Part::Link(
                "Reset my password".into(),
                format!("{}/forgot-password", cfg.base_url),
            ),
        ],
        cfg,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::new("Acme <Desk>", "http://127.0.0.1:3000/", "open", "")
    }

    #[test]
    fn confirmation_mail_links_to_the_confirm_page() {
        let m = confirm(&cfg(), "a@x.example", "Ada", "TOKEN_1");
        assert_eq!(m.subject, "Confirm your Acme <Desk> account");
        assert!(
            m.text
                .contains("http://127.0.0.1:3000/confirm?token=TOKEN_1")
        );
        assert!(
            m.html
                .contains("href=\"http://127.0.0.1:3000/confirm?token=TOKEN_1\"")
        );
        assert_eq!(m.kind, "auth.confirm");
    }

    #[test]
    fn user_text_is_escaped_in_html() {
        let m = username_taken(&cfg(), "a@x.example", "<script>x</script>", "bob");
        assert!(!m.html.contains("<script>"));
        assert!(m.html.contains("&lt;script&gt;"));
        assert!(m.html.contains("Acme &lt;Desk&gt;"));
        assert!(m.text.contains("<script>x</script>"));
    }

    #[test]
    fn reset_mail_links_to_the_reset_page() {
        let m = reset(&cfg(), "a@x.example", "Ada", "T2");
        assert!(
            m.text
                .contains("http://127.0.0.1:3000/reset-password?token=T2")
        );
        assert!(m.text.contains("1 hour"));
    }
}
