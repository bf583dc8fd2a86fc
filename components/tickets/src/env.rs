//! What domain functions get instead of the Spin context, so they run natively
//! in unit tests: storage, time, randomness and the settings they need.

use std::cell::OnceCell;

use edgedesk_core::keys::LinkKeys;
use edgedesk_core::rate_limit::Check;
use edgedesk_core::{ApiError, Clock, Random, Sql};

pub struct Env<'a> {
    pub sql: &'a dyn Sql,
    pub clock: &'a dyn Clock,
    pub rng: &'a dyn Random,
    pub portal_name: String,
    /// `public_base_url` without a trailing slash.
    pub base_url: String,
    /// `ticket_key_prefix`: keys read `SD-12`.
    pub prefix: String,
    /// Signs the one-click links in request mail (unsubscribe, rating):
    /// loaded on first use, since most requests sign nothing.
    pub links: OnceCell<LinkKeys>,
    pub load_links: Box<dyn Fn() -> Result<LinkKeys, ApiError> + 'a>,
    /// The abuse limits this request's write counts against, in its own
    /// transaction (`rate_limit::limit_all`); empty for the other routes.
    pub limits: Vec<Check>,
}

impl Env<'_> {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn links(&self) -> Result<&LinkKeys, ApiError> {
        if let Some(k) = self.links.get() {
            return Ok(k);
        }
        let k = (self.load_links)()?;
        Ok(self.links.get_or_init(|| k))
    }

    /// `SD-12` for number 12.
    pub fn key(&self, number: i64) -> String {
        format!("{}-{number}", self.prefix)
    }

    /// The number of a key typed by a person (`sd-12`, ` SD-12 `); `None` when
    /// it is not one of this desk's keys.
    pub fn parse_key(&self, key: &str) -> Option<i64> {
        let (prefix, n) = key.trim().rsplit_once('-')?;
        if !prefix.eq_ignore_ascii_case(&self.prefix) || n.is_empty() || n.len() > 12 {
            return None;
        }
        if !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n.parse().ok().filter(|n| *n > 0)
    }
}
