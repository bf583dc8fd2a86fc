//! Role and company-access checks on the request context, shared by the desk
//! components (approvals, tickets, attachments).

use edgedesk_core::ApiError;
use edgedesk_core::access::{self, Viewer};
use edgedesk_core::paging::Paging;
use edgedesk_core::session::Session;
use edgedesk_core::users::{self, Role};

use crate::ctx::Ctx;

impl Ctx {
    /// A fully signed-in operator or admin. Everyone else gets `404`, so the
    /// operators' routes (`/api/admin/*`, `/api/agent/*`) cannot be discovered.
    pub fn require_operator(&self) -> Result<(&Session, Role), ApiError> {
        let s = self.require_full()?;
        match users::role(self.sql()?, &s.user_id)? {
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
        access::require_desk_access(self.sql()?, &s.user_id)
    }

    /// `page` and `per_page` from the query string.
    pub fn paging(&self) -> Result<Paging, ApiError> {
        Paging::from_query(
            self.req.query_param("page").as_deref(),
            self.req.query_param("per_page").as_deref(),
        )
    }
}
