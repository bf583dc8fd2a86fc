//! Component `tickets`: requests, the heart of the desk.
//!
//! Routes: `GET /api/request-types`; `POST`/`GET /api/requests`;
//! `GET /api/requests/{key}` and its `comments`, `visibility`, `mute` and
//! `rating`; the mailed rating link (`/api/requests/rating-link`); the
//! operators' `/api/agent/requests…` (queue, raise on behalf, assign,
//! transition, reply, internal notes, comment edits), `/api/agent/counts`,
//! `/api/agent/operators`; admins' `/api/admin/request-types…` (audited as
//! admin edits); operators' `GET /api/admin/reports` (see `reports`).
//!
//! Owns tables `request_types`, `ticket_sequence`, `tickets`,
//! `ticket_activity`, `ticket_participants`, `ticket_ratings` and
//! `ticket_search`; reads `notification_prefs`; queues mail through the outbox.
//! Every route but the topics list passes the shared desk gate
//! (`edgedesk_core::access::require_desk_access`).

mod activity;
mod attach;
mod env;
mod flows;
mod lists;
mod notify;
mod reports;
pub mod routes;
mod search;
mod tickets;
mod types;
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
