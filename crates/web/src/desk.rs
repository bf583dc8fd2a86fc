//! Role and company-access checks on the request context, shared by the desk
//! components (approvals, tickets, attachments), and the abuse limits on
//! their writes ([`Write`], [`Ctx::write_limits`]).

use edgedesk_core::ApiError;
use edgedesk_core::access::{self, Viewer};
use edgedesk_core::paging::Paging;
use edgedesk_core::rate_limit::{Check, Rule, address_key};
use edgedesk_core::session::Session;
use edgedesk_core::users::Role;

use crate::ctx::Ctx;

/// A write people can repeat, limited per account and per client address
/// (Spin variables `limit_<what>_per_account` / `limit_<what>_per_address`,
/// `COUNT/SECONDS` or `off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// `POST /api/requests` (and operators' `POST /api/agent/requests`).
    Raise,
    /// A comment on a request (customers' and operators' routes).
    Comment,
    /// `POST /api/attachments` (the portal sends one per file).
    Upload,
}

impl Write {
    pub fn name(self) -> &'static str {
        match self {
            Write::Raise => "raise",
            Write::Comment => "comment",
            Write::Upload => "upload",
        }
    }

    /// (per account, per address) when the variables are unset.
    ///
    /// Per account, human scale over 10 minutes: a person raises a few
    /// requests a minute at most (30 leaves room for a burst of related
    /// ones); comments come faster in a back-and-forth with the desk (120 is
    /// one every 5 s for 10 minutes); the portal uploads each file on its own
    /// (200 is four drops of 50 files). Per address it is a flood guard only:
    /// one NAT or proxy can carry a whole company, and the desk's own load
    /// runs raise 500 and more a second from 127.0.0.1 over many accounts,
    /// so 60,000 a minute (1,000/s) stays out of their way.
    pub fn defaults(self) -> (Rule, Rule) {
        match self {
            Write::Raise => (Rule::new(30, 600), Rule::new(60_000, 60)),
            Write::Comment => (Rule::new(120, 600), Rule::new(60_000, 60)),
            Write::Upload => (Rule::new(200, 600), Rule::new(60_000, 60)),
        }
    }
}

impl Ctx {
    /// The limit of one variable, its default when unset or malformed (the
    /// latter said in the log: an operator who mistyped it must find out).
    fn limit_rule(&self, name: &str, default: Rule) -> Option<Rule> {
        let text = self.var_or(name, "");
        if text.trim().is_empty() {
            return Some(default);
        }
        match Rule::parse(&text) {
            Ok(rule) => rule,
            Err(why) => {
                eprintln!(
                    "variable {name}: {why}; using {}/{}",
                    default.max, default.window_s
                );
                Some(default)
            }
        }
    }

    /// The limits a `what` by `viewer` counts against, for
    /// `rate_limit::limit_all` in the write's transaction. Operators are not
    /// held to an account limit (they act for many customers, and a
    /// customer's limit is the customer's own); the address limit holds for
    /// everyone.
    pub fn write_limits(&self, what: Write, viewer: &Viewer) -> Vec<Check> {
        let (account, address) = what.defaults();
        let name = what.name();
        let mut checks = Vec::with_capacity(2);
        if !viewer.is_operator()
            && let Some(rule) = self.limit_rule(&format!("limit_{name}_per_account"), account)
        {
            checks.push(Check {
                key: format!("limit/{name}/account/{}", viewer.user_id()),
                rule,
            });
        }
        if let Some(rule) = self.limit_rule(&format!("limit_{name}_per_address"), address) {
            checks.push(Check {
                key: format!(
                    "limit/{name}/address/{}",
                    address_key(&self.req.client_ip())
                ),
                rule,
            });
        }
        checks
    }

    /// A fully signed-in operator or admin. Everyone else gets `404`, so the
    /// operators' routes (`/api/admin/*`, `/api/agent/*`) cannot be discovered.
    pub fn require_operator(&self) -> Result<(&Session, Role), ApiError> {
        let s = self.require_full()?;
        match self.standing()?.and_then(|p| p.role) {
            Some(r) if r.is_operator() => Ok((s, r)),
            _ => Err(ApiError::NotFound),
        }
    }

    /// A fully signed-in admin; operators get `403 admins_only`, others `404`.
    pub fn require_admin(&self) -> Result<&Session, ApiError> {
        match self.require_operator()? {
            (s, Role::Admin) => Ok(s),
            _ => Err(ApiError::forbidden(
                "admins_only",
                "Only administrators may do this.",
            )),
        }
    }

    /// The shared desk gate: a fully signed-in operator, or a customer whose
    /// company access is approved (`core::access::require_desk_access`).
    pub fn desk_viewer(&self) -> Result<Viewer, ApiError> {
        let s = self.require_full()?;
        let standing = self.standing()?.cloned().unwrap_or_default();
        access::desk_viewer(&s.user_id, &standing)
    }

    /// `page` and `per_page` from the query string.
    pub fn paging(&self) -> Result<Paging, ApiError> {
        Paging::from_query(
            self.req.query_param("page").as_deref(),
            self.req.query_param("per_page").as_deref(),
        )
    }
}
