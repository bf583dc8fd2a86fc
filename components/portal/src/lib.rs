//! Component `portal`: the pages and the app's front door.
//!
//! Routes (spin.toml): `/...` static files from the `files` mount (guest `/`),
//! `/api/health`, and `/api/...` for everything no other component claims, which
//! answers the contract's JSON 404. Owns no tables.

// Public (hidden) for the fuzz targets (fuzz/, docs/SECURITY.md "Fuzzing").
#[doc(hidden)]
pub mod static_files;

use edgedesk_core::ApiError;
use edgedesk_core::hours::WorkingHours;
use edgedesk_web::router::route;
use edgedesk_web::{Ctx, Params, Resp, Route};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

/// Components of this build, reported by `/api/health` (a test checks this list
/// against spin.toml).
pub const COMPONENTS: &[&str] = &[
    "portal",
    "notifications",
    "auth",
    "twofactor",
    "approvals",
    "tickets",
    "attachments",
];

/// The route table (public so the OpenAPI test can compare it with openapi.yaml).
pub const ROUTES: &[Route] = &[route("GET", "/api/health", health)];

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
    let path = req.path_with_query().unwrap_or_default();
    if path.starts_with("/api/") || path == "/api" {
        edgedesk_web::serve_to(req, ROUTES, out).await
    } else {
        static_files::serve(req, out).await
    }
}

fn health(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let hours = WorkingHours::from_var(&ctx.var_or("working_hours", edgedesk_core::hours::DEFAULT));
    Ok(Resp::json(
        200,
        &serde_json::json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "components": COMPONENTS,
            // Added to the contract's fields so pages can show the configured
            // name, and the footer the desk's contact block and working hours.
            "portal_name": ctx.var_or("portal_name", "EdgeDesk Service Desk"),
            "desk_contact": ctx.var_or("desk_contact", ""),
            "working_hours": {
                "days": hours.days,
                "start": format!("{:02}:{:02}", hours.start / 60, hours.start % 60),
                "end": format!("{:02}:{:02}", hours.end / 60, hours.end % 60),
                "time_zone": hours.time_zone,
            },
            "working_hours_text": hours.describe(),
        }),
    ))
}
