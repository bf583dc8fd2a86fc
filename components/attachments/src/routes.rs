//! The route table. Upload and download stream their bodies and are served
//! by `crate::handle` before this table's buffered path; they are listed
//! here so routing (404/405) and the API document see every route.

use edgedesk_core::ApiError;
use edgedesk_core::attachments::{self as store, MAX_FILES, MAX_REQUEST_BYTES};
use edgedesk_web::router::route;
use edgedesk_web::{Ctx, Params, Resp, Route};
use serde_json::json;

use crate::upload::Limits;

pub const UPLOAD: &str = "/api/attachments";
pub const ONE: &str = "/api/attachments/{id}";

pub const ROUTES: &[Route] = &[
    // Literal before `{id}`: the router takes the first match.
    route("GET", "/api/attachments/limits", limits),
    route("POST", UPLOAD, streamed),
    route("GET", ONE, streamed),
    route("DELETE", ONE, remove),
];

/// The limits for this deployment (`attachment_max_bytes` per file).
pub fn upload_limits(ctx: &Ctx) -> Limits {
    let max_file = ctx
        .var_or("attachment_max_bytes", "")
        .trim()
        .parse()
        .unwrap_or(store::DEFAULT_MAX_BYTES);
    Limits {
        max_file,
        max_files: MAX_FILES,
        max_total: MAX_REQUEST_BYTES,
    }
}

/// Never reached: `crate::handle` serves these routes itself.
fn streamed(_: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    Err(ApiError::internal(
        "streamed route reached the buffered path",
    ))
}

/// What pages need to refuse a file before sending it.
fn limits(ctx: &Ctx, _: &Params) -> Result<Resp, ApiError> {
    let l = upload_limits(ctx);
    Ok(Resp::json(
        200,
        &json!({
            "attachment_max_bytes": l.max_file,
            "max_files": l.max_files,
            "max_request_bytes": l.max_total,
        }),
    ))
}

/// The uploader or an operator removes a file; the request's activity
/// records it. Others who may see it get 403, everyone else 404.
fn remove(ctx: &Ctx, p: &Params) -> Result<Resp, ApiError> {
    let viewer = ctx.desk_viewer()?;
    let sql = ctx.sql()?;
    let a = store::visible(sql, &viewer, p.get("id"))?.ok_or(ApiError::NotFound)?;
    if a.uploader_id != viewer.user_id() && !viewer.is_operator() {
        return Err(ApiError::forbidden(
            "not_allowed",
            "Only the person who added this file, or an operator, may remove it.",
        ));
    }
    if store::remove(sql, ctx.rng(), &a, viewer.user_id(), ctx.now())?
        && let Err(e) = store::purge(sql, ctx.kv()?, &a.id, a.chunks)
    {
        // The row is `deleted` already: cleanup finishes the job.
        eprintln!("attachment purge: {e}");
    }
    Ok(Resp::no_content())
}
