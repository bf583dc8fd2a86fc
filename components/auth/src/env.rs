//! What domain functions get instead of the Spin context: storage, time,
//! randomness and the component's settings, so they run natively in tests.

use edgedesk_core::{Clock, Random, Sql};

/// Settings read from Spin variables once per request.
#[derive(Debug, Clone)]
pub struct Config {
    pub portal_name: String,
    /// `public_base_url` without a trailing slash.
    pub base_url: String,
    /// `signup_mode = open` (anything else closes self sign-up).
    pub signup_open: bool,
    /// `admin_emails`, lowercased.
    pub admin_emails: Vec<String>,
}

impl Config {
    pub fn new(portal_name: &str, base_url: &str, signup_mode: &str, admin_emails: &str) -> Self {
        Self {
            portal_name: portal_name.to_owned(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            signup_open: signup_mode.trim().eq_ignore_ascii_case("open"),
            admin_emails: admin_emails
                .split(',')
                .map(|e| e.trim().to_lowercase())
                .filter(|e| !e.is_empty())
                .collect(),
        }
    }

    /// True when `email` (already lowercased) is listed in `admin_emails`.
    pub fn is_admin_email(&self, email: &str) -> bool {
        self.admin_emails.iter().any(|a| a == email)
    }
}

pub struct Env<'a> {
    pub sql: &'a dyn Sql,
    pub clock: &'a dyn Clock,
    pub rng: &'a dyn Random,
    pub cfg: &'a Config,
}

impl Env<'_> {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_emails_are_split_trimmed_and_case_insensitive() {
        let c = Config::new(
            "P",
            "http://x/",
            "open",
            " Boss@Corp.example , ,ops@corp.example",
        );
        assert!(c.is_admin_email("boss@corp.example"));
        assert!(c.is_admin_email("ops@corp.example"));
        assert!(!c.is_admin_email("other@corp.example"));
        assert_eq!(c.base_url, "http://x");
        assert!(c.signup_open);
        assert!(!Config::new("P", "http://x", "invite", "").signup_open);
    }
}
