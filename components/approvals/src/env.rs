//! What domain functions get instead of the Spin context, so they run natively
//! in unit tests: storage, time, randomness and the two settings mail needs.

use edgedesk_core::{Clock, Random, Sql};

pub struct Env<'a> {
    pub sql: &'a dyn Sql,
    pub clock: &'a dyn Clock,
    pub rng: &'a dyn Random,
    pub portal_name: String,
    /// `public_base_url` without a trailing slash.
    pub base_url: String,
    /// The client address, for audit entries (`core::audit`).
    pub address: String,
}

impl Env<'_> {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
