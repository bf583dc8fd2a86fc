//! Per-request context: the request, lazily opened stores, clock, randomness,
//! variables, the session, and what to do after the handler (cookies, mail kick).

use std::cell::{Cell, OnceCell, RefCell};

use edgedesk_core::Row;
use edgedesk_core::access::Standing;
use edgedesk_core::clock::SystemClock;
use edgedesk_core::keys::{DataKeys, LinkKeys};
use edgedesk_core::migrate;
use edgedesk_core::random::OsRandom;
use edgedesk_core::session::{self as core_session, Opening, Rider, Session, Stage};
use edgedesk_core::settings::{self, KeyVars, is_local_http};
use edgedesk_core::token::ct_eq;
use edgedesk_core::{ApiError, Clock, Kv, Random, Sql};

use crate::request::Req;
use crate::session::{COOKIE, clear_cookie, set_cookie};
use crate::spin_store::{SpinKv, SpinSql};

pub struct Ctx {
    pub req: Req,
    sql: OnceCell<SpinSql>,
    /// The schema was checked (and migrated) on this request's connection.
    schema_checked: Cell<bool>,
    kv: OnceCell<SpinKv>,
    pub clock: SystemClock,
    pub rng: OsRandom,
    /// The opening statement's answer; `None` without a session cookie.
    opening: OnceCell<Option<Opening>>,
    /// Columns the route asked the opening statement to carry, and then
    /// what it read for them.
    rider: RefCell<Option<Rider>>,
    ridden: RefCell<Option<Row>>,
    pub(crate) set_cookies: RefCell<Vec<String>>,
    pub(crate) kick: Cell<bool>,
}

impl Ctx {
    pub fn new(req: Req) -> Self {
        Self {
            req,
            sql: OnceCell::new(),
            schema_checked: Cell::new(false),
            kv: OnceCell::new(),
            clock: SystemClock,
            rng: OsRandom,
            opening: OnceCell::new(),
            rider: RefCell::new(None),
            ridden: RefCell::new(None),
            set_cookies: RefCell::new(Vec::new()),
            kick: Cell::new(false),
        }
    }

    /// The `default` database, opened on first use and migrated if behind.
    pub fn sql(&self) -> Result<&dyn Sql, ApiError> {
        let conn = self.connection()?;
        if !self.schema_checked.get() {
            migrate::ensure_schema(conn)?;
            self.schema_checked.set(true);
        }
        Ok(conn)
    }

    /// The connection, its schema not yet checked.
    fn connection(&self) -> Result<&SpinSql, ApiError> {
        if let Some(s) = self.sql.get() {
            return Ok(s);
        }
        let conn = SpinSql::open_default()?;
        Ok(self.sql.get_or_init(|| conn))
    }

    /// Did this request open the database? (Components without one, like the
    /// portal, never do.)
    pub fn sql_opened(&self) -> bool {
        self.sql.get().is_some()
    }

    /// The `default` key-value store, opened on first use.
    pub fn kv(&self) -> Result<&dyn Kv, ApiError> {
        if let Some(s) = self.kv.get() {
            return Ok(s);
        }
        let store = SpinKv::open_default()?;
        Ok(self.kv.get_or_init(|| store))
    }

    pub fn clock(&self) -> &dyn Clock {
        &self.clock
    }

    pub fn rng(&self) -> &dyn Random {
        &self.rng
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A Spin variable this component declares; a missing one is a deploy error.
    pub fn var(&self, name: &str) -> Result<String, ApiError> {
        spin_sdk::variables::get(name)
            .map_err(|e| ApiError::internal(format!("variable {name}: {e}")))
    }

    /// A variable, or `default` when it is not declared or empty.
    pub fn var_or(&self, name: &str, default: &str) -> String {
        match spin_sdk::variables::get(name) {
            Ok(v) if !v.is_empty() => v,
            _ => default.to_owned(),
        }
    }

    /// `public_base_url` without a trailing slash.
    pub fn base_url(&self) -> String {
        self.var_or("public_base_url", "http://127.0.0.1:3000")
            .trim_end_matches('/')
            .to_owned()
    }

    /// Cookies are `Secure` except on plain-http localhost.
    pub fn secure_cookies(&self) -> bool {
        !is_local_http(&self.base_url())
    }

    /// The key variables this component declares (an undeclared one reads as
    /// unset: a component gets only the keys spin.toml gives it).
    fn key_vars(&self) -> KeyVars {
        KeyVars {
            link_key: self.var_or("link_key", ""),
            link_key_previous: self.var_or("link_key_previous", ""),
            data_key: self.var_or("data_key", ""),
            data_key_previous: self.var_or("data_key_previous", ""),
            link_secret: self.var_or("link_secret", ""),
        }
    }

    /// Keys for signing and verifying links (`keys::sign_link`,
    /// `keys::verify_link`); 503 `key_missing` when none is configured off
    /// localhost. The component declares `link_key` and `link_key_previous`.
    pub fn link_keys(&self) -> Result<LinkKeys, ApiError> {
        settings::link_keys(self.sql()?, &self.rng, &self.key_vars(), &self.base_url())
    }

    /// Keys for data at rest (`DataKeys::seal` / `open`); the component
    /// declares `data_key`, `data_key_previous` and `link_secret` (legacy).
    pub fn data_keys(&self) -> Result<DataKeys, ApiError> {
        settings::data_keys(self.sql()?, &self.rng, &self.key_vars(), &self.base_url())
    }

    /// Asks the notifications component to deliver queued mail once the handler
    /// has answered (its transaction is committed by then).
    pub fn kick_mail(&self) {
        self.kick.set(true);
    }

    /// The caller's live session, if the cookie names one. Loaded once.
    pub fn session(&self) -> Result<Option<&Session>, ApiError> {
        Ok(self.session_and_standing()?.map(|(s, _)| s))
    }

    /// The session's person's role and company access, read with the
    /// session (so as of the start of this request).
    pub fn standing(&self) -> Result<Option<&Standing>, ApiError> {
        Ok(self.session_and_standing()?.map(|(_, p)| p))
    }

    fn session_and_standing(&self) -> Result<Option<&(Session, Standing)>, ApiError> {
        Ok(self.opening()?.and_then(|o| o.session.as_ref()))
    }

    /// Whether the opening statement found mail due (`None` when the request
    /// has not run it): the due-check after the answer needs no read then.
    pub fn mail_due_at_opening(&self) -> Option<bool> {
        self.opening
            .get()
            .and_then(|o| o.as_ref())
            .map(|o| o.mail_due)
    }

    /// Has the opening statement carry `rider`'s columns
    /// (`core::session::Rider`), read back with [`Ctx::take_rider_row`]. It must
    /// come before anything reads the session; after that it is ignored,
    /// and the route reads what it needs in a statement of its own.
    pub fn ride_opening(&self, rider: Rider) {
        if self.opening.get().is_none() {
            *self.rider.borrow_mut() = Some(rider);
        }
    }

    /// The rider's columns as the opening statement read them, handed over
    /// once; `None` when it carried none (no rider, no session cookie, or
    /// asked too late).
    pub fn take_rider_row(&self) -> Option<Row> {
        self.ridden.borrow_mut().take()
    }

    /// The opening statement (`core::session::open`) for a request with a
    /// session cookie, run once. It also checks the schema version: when it
    /// is not this build's, or the statement fails on a database not yet
    /// migrated, the schema is migrated and the statement run again.
    fn opening(&self) -> Result<Option<&Opening>, ApiError> {
        if let Some(o) = self.opening.get() {
            return Ok(o.as_ref());
        }
        let Some(token) = self.req.cookie(COOKIE) else {
            return Ok(self.opening.get_or_init(|| None).as_ref());
        };
        let conn = self.connection()?;
        let rider = self.rider.borrow_mut().take();
        let rider = rider.as_ref();
        let first = core_session::open_with(conn, &self.clock, token, rider);
        let mut opened = match first {
            Ok(o) if self.schema_checked.get() || o.schema_version == migrate::version() => o,
            _ => {
                migrate::ensure_schema(conn)?;
                let o = core_session::open_with(conn, &self.clock, token, rider)?;
                if o.schema_version != migrate::version() {
                    // Migrated before the version had its row
                    // (`migrate::VERSION_SETTING`): written once, here.
                    migrate::mark_version(conn)?;
                }
                o
            }
        };
        self.schema_checked.set(true);
        *self.ridden.borrow_mut() = opened.rider.take();
        Ok(self.opening.get_or_init(|| Some(opened)).as_ref())
    }

    /// The session at one of `stages`, or the contract's 401.
    pub fn require_stage(&self, stages: &[Stage]) -> Result<&Session, ApiError> {
        let s = self
            .session()?
            .ok_or_else(|| ApiError::unauthorized("not_signed_in", "Please sign in."))?;
        if stages.contains(&s.stage) {
            return Ok(s);
        }
        Err(match s.stage {
            Stage::PasswordOk => ApiError::unauthorized(
                "second_factor_required",
                "Confirm your second factor to continue.",
            ),
            Stage::Needs2faSetup => ApiError::unauthorized(
                "second_factor_setup_required",
                "Set up a second factor to continue.",
            ),
            Stage::Full => ApiError::forbidden("not_allowed", "This step is already done."),
        })
    }

    /// A fully signed-in session.
    pub fn require_full(&self) -> Result<&Session, ApiError> {
        self.require_stage(&[Stage::Full])
    }

    /// CSRF: a state-changing request made with a live session cookie must carry
    /// `X-CSRF-Token` equal to the session's token (compared in constant time).
    pub fn check_csrf(&self) -> Result<(), ApiError> {
        if !self.req.is_unsafe_method() {
            return Ok(());
        }
        let Some(s) = self.session()? else {
            return Ok(());
        };
        let sent = self.req.header("x-csrf-token").unwrap_or("");
        if ct_eq(sent.as_bytes(), s.csrf_token.as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "csrf_failed",
                "The security token is missing or wrong. Reload the page and try again.",
            ))
        }
    }

    /// Starts a session and sets its cookie.
    pub fn start_session(
        &self,
        user_id: &str,
        stage: Stage,
        remember: bool,
    ) -> Result<Session, ApiError> {
        // A session the browser already had ends: sign-in always rotates the token.
        if let Some(old) = self.session()? {
            core_session::destroy(self.sql()?, &old.token_hash)?;
        }
        let (token, s) = core_session::create(
            self.sql()?,
            &self.clock,
            &self.rng,
            user_id,
            stage,
            remember,
        )?;
        self.set_cookies
            .borrow_mut()
            .push(set_cookie(&token, remember, self.secure_cookies()));
        Ok(s)
    }

    /// Moves the current session to `stage` under a fresh token (and cookie).
    pub fn change_stage(
        &self,
        stage: Stage,
        second_factor_verified: bool,
    ) -> Result<Session, ApiError> {
        let old = self
            .session()?
            .ok_or_else(|| ApiError::unauthorized("not_signed_in", "Please sign in."))?;
        let (token, s) = core_session::rotate(
            self.sql()?,
            &self.clock,
            &self.rng,
            old,
            stage,
            second_factor_verified,
        )?;
        self.set_cookies
            .borrow_mut()
            .push(set_cookie(&token, s.remember, self.secure_cookies()));
        Ok(s)
    }

    /// Ends the current session and clears the cookie.
    pub fn end_session(&self) -> Result<(), ApiError> {
        if let Some(s) = self.session()? {
            core_session::destroy(self.sql()?, &s.token_hash)?;
        }
        self.set_cookies
            .borrow_mut()
            .push(clear_cookie(self.secure_cookies()));
        Ok(())
    }

    /// Adds a `Set-Cookie` to the answer (e.g. a trusted-device cookie).
    pub fn add_cookie(&self, cookie: String) {
        self.set_cookies.borrow_mut().push(cookie);
    }
}
