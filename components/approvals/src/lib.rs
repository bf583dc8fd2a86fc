//! Component `approvals`: company access.
//!
//! Routes: `POST /api/access-requests`, `GET /api/access-requests`,
//! `GET /api/access-requests/mine`, `GET /api/access-requests/{id}`,
//! `POST /api/access-requests/{id}/approve`, `POST /api/access-requests/{id}/decline`,
//! `GET`/`POST /api/access-requests/approve-link` (the mailed "Approve" link),
//! `GET /api/organizations/mine`, and the operators' `/api/admin/organizations…`.
//!
//! Owns tables `organizations`, `organization_domains`, `memberships` (written
//! through `edgedesk_core::access`), `access_requests` and `approval_links`;
//! queues mail through the outbox.

mod decide;
mod env;
mod links;
mod mail;
mod orgs;
mod requests;
pub mod routes;
pub use routes::ROUTES;

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
