//! Component `auth`: accounts.
//!
//! Routes: `/api/auth/signup` (GET mode, POST sign up), `/api/auth/confirm`,
//! `/api/auth/login`, `/api/auth/logout`, `/api/auth/password/forgot`,
//! `/api/auth/password/reset`, `/api/auth/username/forgot`,
//! `/api/auth/password-policy`, `GET /api/session`, `GET`/`PATCH /api/profile`,
//! `POST /api/profile/password`, `GET /api/terms`, `POST /api/terms/accept`,
//! and the administrators' `POST /api/admin/users` (invite sign-up); the
//! operator console's people (`GET /api/admin/users`, `…/users/{id}` and its
//! actions `unlock`, `end-sessions`, `role`, `deactivate`, `reactivate`, see
//! `people`), `GET /api/admin/audit` (JSON or CSV) and `GET /api/admin/settings`.
//!
//! Owns tables `users`, `account_tokens` and `login_attempts`; writes sessions
//! through `edgedesk_core::session`, mail through the outbox and audit entries
//! (sign-in failures, lockouts, account actions) through `edgedesk_core::audit`.

mod accounts;
mod env;
mod invite;
mod login;
mod mail;
mod people;
mod policy;
mod profile;
mod recovery;
pub mod routes;
pub use routes::ROUTES;
mod signup;
mod terms;
mod tokens;

#[cfg(test)]
mod testing;

use spin_sdk::http::{IncomingRequest, ResponseOutparam};

/// The wasi:http export (wasm only: native builds are for unit tests). The
/// macro's glue needs `unsafe`; nothing else may.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod entry {
    use spin_sdk::http::{IncomingRequest, ResponseOutparam};

    #[spin_sdk::http_component]
    async fn handle(req: IncomingRequest, out: ResponseOutparam) {
        super::handle(req, out).await
    }
}

/// Entry point (public so native builds see it used).
pub async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    edgedesk_web::serve_to(req, routes::ROUTES, out).await
}
