//! Component `attachments`: files on requests and comments.
//!
//! Routes: `POST /api/attachments` (multipart upload, streamed into key-value
//! chunks), `GET /api/attachments/{id}` (streamed download, single ranges),
//! `DELETE /api/attachments/{id}`, `GET /api/attachments/limits`.
//!
//! Owns table `attachments` (SQL in `edgedesk_core::attachments`, which
//! tickets also uses to link uploads) and the key-value keys `blob/<id>/<n>`.
//! Uploads and downloads stream: the two routes are served here, outside
//! `edgedesk_web::serve_to`, which reads whole bodies.

mod download;
// Public (hidden) for the fuzz targets (fuzz/, docs/SECURITY.md "Fuzzing").
#[doc(hidden)]
pub mod multipart;
#[doc(hidden)]
pub mod names;
pub mod routes;
mod upload;
pub use routes::ROUTES;

use edgedesk_web::router::{find, serve_to};
use edgedesk_web::{Ctx, Req};
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

/// Entry point (public so native builds see it used): the streamed routes
/// here, the rest through the shared route table.
pub async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let head = Req::head(&req);
    let Ok((route, params)) = find(ROUTES, &head.method, &head.path) else {
        return serve_to(req, ROUTES, out).await;
    };
    match (route.method, route.pattern) {
        ("POST", routes::UPLOAD) => {
            let ctx = Ctx::new(head);
            upload::serve(&ctx, req, out).await;
            edgedesk_web::router::after_answer(&ctx).await;
        }
        ("GET", routes::ONE) => {
            drop(req);
            let ctx = Ctx::new(head);
            download::serve(&ctx, params.get("id"), out).await;
            edgedesk_web::router::after_answer(&ctx).await;
        }
        _ => serve_to(req, ROUTES, out).await,
    }
}
