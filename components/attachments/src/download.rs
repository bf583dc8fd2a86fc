//! `GET /api/attachments/{id}`: the chunks streamed back, one at a time.
//!
//! Always `Content-Disposition: attachment` with the stored type, `nosniff`
//! and `Content-Security-Policy: sandbox`, so an uploaded HTML page can never
//! run as this site. Only raster images may be shown inline (`?inline=1`, for
//! previews). ETag is the SHA-256; one `Range` gives 206.

use edgedesk_core::ApiError;
use edgedesk_core::attachments::{self as store, CHUNK};
use edgedesk_web::router::{respond, send};
use edgedesk_web::{Ctx, Resp};
use futures::SinkExt;
use spin_sdk::http::ResponseOutparam;

use crate::names::{Range, content_disposition, inline_image, parse_range};

/// What to answer: headers, and which bytes (`start..end`) to stream.
struct Plan {
    resp: Resp,
    id: String,
    start: u64,
    end: u64,
}

fn matches_etag(header: Option<&str>, etag: &str) -> bool {
    header.is_some_and(|h| {
        h.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == etag || t == "*")
    })
}

fn plan(ctx: &Ctx, id: &str) -> Result<Plan, ApiError> {
    let viewer = ctx.desk_viewer()?;
    let a = store::visible(ctx.sql()?, &viewer, id)?.ok_or(ApiError::NotFound)?;
    let size = a.size as u64;
    let etag = format!("\"{}\"", a.sha256);
    let inline =
        ctx.req.query_param("inline").as_deref() == Some("1") && inline_image(&a.content_type);
    let kind = if inline { "inline" } else { "attachment" };
    let base = |status: u16| {
        Resp::new(status)
            .header("etag", etag.as_str())
            .header("cache-control", "private, no-cache")
            .header("content-security-policy", "sandbox; default-src 'none'")
            .header("x-content-type-options", "nosniff")
            .header("accept-ranges", "bytes")
    };
    let mut out = Plan {
        resp: base(304),
        id: a.id.clone(),
        start: 0,
        end: 0,
    };
    if matches_etag(ctx.req.header("if-none-match"), &etag) {
        return Ok(out);
    }
    // A Range for another version of the file is ignored (If-Range).
    let range = match ctx.req.header("if-range") {
        Some(v) if v.trim() != etag => Range::Full,
        _ => parse_range(ctx.req.header("range"), size),
    };
    let (status, start, end) = match range {
        Range::Unsatisfiable => {
            out.resp = base(416).header("content-range", format!("bytes */{size}"));
            return Ok(out);
        }
        Range::Full => (200, 0, size),
        Range::Part { start, end } => (206, start, end + 1),
    };
    let mut resp = base(status)
        .header("content-type", a.content_type.as_str())
        .header(
            "content-disposition",
            content_disposition(kind, &a.filename),
        )
        .header("content-length", (end - start).to_string());
    if status == 206 {
        resp = resp.header("content-range", format!("bytes {start}-{}/{size}", end - 1));
    }
    out.resp = resp;
    out.start = start;
    out.end = end;
    Ok(out)
}

pub async fn serve(ctx: &Ctx, id: &str, out: ResponseOutparam) {
    let plan = match plan(ctx, id) {
        Ok(p) => p,
        Err(e) => return send(respond(ctx, Err(e)), out).await,
    };
    let (outgoing, _) = respond(ctx, Ok(plan.resp)).into_outgoing();
    let mut body = outgoing.take_body();
    out.set(outgoing);
    if ctx.req.method == "HEAD" || plan.end <= plan.start {
        return;
    }
    let kv = match ctx.kv() {
        Ok(kv) => kv,
        Err(e) => return eprintln!("download: {e}"),
    };
    let chunk = CHUNK as u64;
    let (first, last) = (plan.start / chunk, (plan.end - 1) / chunk);
    for n in first..=last {
        let data = match kv.get(&store::chunk_key(&plan.id, n as i64)) {
            Ok(Some(d)) => d,
            // The body stops short of its Content-Length: the client sees a
            // failed download, never wrong bytes.
            Ok(None) => return eprintln!("download {}: chunk {n} missing", plan.id),
            Err(e) => return eprintln!("download {}: {e}", plan.id),
        };
        let lo = if n == first {
            (plan.start % chunk) as usize
        } else {
            0
        };
        let hi = if n == last {
            ((plan.end - 1) % chunk) as usize + 1
        } else {
            CHUNK
        };
        if hi > data.len() || lo >= hi {
            return eprintln!("download {}: chunk {n} is short", plan.id);
        }
        let piece = if lo == 0 && hi == data.len() {
            data
        } else {
            data[lo..hi].to_vec()
        };
        if let Err(e) = body.send(piece).await {
            // The client went away.
            return eprintln!("download {}: {e:?}", plan.id);
        }
    }
}
