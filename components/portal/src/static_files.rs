//! Static files from the `files` mount, safely.
//!
//! URL → file: `/` is `portal/index.html`; `/name` is `portal/name.html` when that
//! page exists (so pages have clean addresses); `/dir/` is `dir/index.html`; any
//! other path maps one to one. Every segment must be plain (letters, digits, `.`,
//! `_`, `-`, not starting with a dot) after one percent-decoding, so `..`,
//! encoded dots, backslashes, NUL and dotfiles all answer the 404 page. Nothing
//! ever lists a directory. `ETag` comes from size and modification time (a hash
//! of the content where the filesystem gives no mtime); `If-None-Match` gets a 304.

use sha2::{Digest, Sha256};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

use edgedesk_web::Resp;
use edgedesk_web::request::percent_decode;

/// Where spin.toml mounts `static/` inside the component.
const ROOT: &str = "/";

pub async fn serve(req: IncomingRequest, out: ResponseOutparam) {
    let method = req.method().to_string();
    let path = req.path_with_query().unwrap_or_else(|| "/".into());
    let path = path.split('?').next().unwrap_or("/").to_owned();
    let if_none_match = req
        .headers()
        .get("if-none-match")
        .into_iter()
        .next()
        .and_then(|v| String::from_utf8(v).ok());
    let resp = answer(&method, &path, if_none_match.as_deref()).secured();
    if let Err(e) = resp.send(out).await {
        eprintln!("response body: {e}");
    }
}

/// Pure routing decision, unit-tested natively.
pub fn answer(method: &str, raw_path: &str, if_none_match: Option<&str>) -> Resp {
    if method != "GET" && method != "HEAD" {
        return Resp::new(405)
            .header("allow", "GET, HEAD")
            .header("content-type", "text/plain; charset=utf-8")
            .with_body(b"Method Not Allowed".to_vec());
    }
    let Some(segments) = safe_segments(raw_path) else {
        return not_found(method);
    };
    for candidate in candidates(raw_path, &segments) {
        if let Some(resp) = file(method, &candidate, if_none_match, 200) {
            return resp;
        }
    }
    // A directory without its slash: send the browser to the canonical address.
    if !raw_path.ends_with('/') && !segments.is_empty() {
        let dir = segments.join("/");
        if is_file(&format!("{ROOT}{dir}/index.html")) {
            return Resp::new(301).header("location", format!("/{dir}/"));
        }
    }
    not_found(method)
}

/// Decoded path segments, or `None` if any segment is unsafe.
pub fn safe_segments(raw_path: &str) -> Option<Vec<String>> {
    let decoded = percent_decode(raw_path)?;
    if decoded.contains('%') {
        return None; // double encoding is never legitimate here
    }
    let mut out = Vec::new();
    for seg in decoded.split('/').filter(|s| !s.is_empty()) {
        let ok = seg.len() <= 128
            && !seg.starts_with('.')
            && seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !ok {
            return None;
        }
        out.push(seg.to_owned());
    }
    Some(out)
}

/// The files a safe path may name, in the order they are tried.
pub fn candidates(raw_path: &str, segments: &[String]) -> Vec<String> {
    let joined = segments.join("/");
    if segments.is_empty() {
        return vec![format!("{ROOT}portal/index.html")];
    }
    if raw_path.ends_with('/') {
        return vec![format!("{ROOT}{joined}/index.html")];
    }
    let mut c = Vec::new();
    if segments.len() == 1 && !joined.contains('.') {
        c.push(format!("{ROOT}portal/{joined}.html"));
    }
    c.push(format!("{ROOT}{joined}"));
    // Clean URLs for the operators' pages too: /admin/request -> admin/request.html.
    if segments.len() > 1 && !joined.contains('.') {
        c.push(format!("{ROOT}{joined}.html"));
    }
    c
}

fn is_file(path: &str) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file())
        .unwrap_or(false)
}

fn file(method: &str, path: &str, if_none_match: Option<&str>, status: u16) -> Option<Resp> {
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    // The validator comes from size and modification time, so a revalidation
    // (304) never reads the file; without an mtime, from a hash of the content.
    let mut bytes = None;
    let etag = match meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
    {
        Some(mtime) => format!("\"{:x}-{:x}\"", meta.len(), mtime.as_nanos()),
        None => {
            let content = std::fs::read(path).ok()?;
            let digest = Sha256::digest(&content);
            bytes = Some(content);
            format!("\"{}\"", edgedesk_core::token::hex(&digest[..12]))
        }
    };
    let base = Resp::new(status)
        .header("content-type", content_type(path))
        // No build step means no fingerprinted names: revalidate every time
        // (a 304 costs one metadata lookup).
        .header("cache-control", "no-cache")
        .header("etag", etag.clone());
    if status == 200 && if_none_match.is_some_and(|v| etag_matches(v, &etag)) {
        let mut r = base;
        r.status = 304;
        return Some(r);
    }
    if method == "HEAD" {
        return Some(base.header("content-length", meta.len().to_string()));
    }
    let bytes = match bytes {
        Some(b) => b,
        None => std::fs::read(path).ok()?,
    };
    Some(base.with_body(bytes))
}

fn etag_matches(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

fn not_found(method: &str) -> Resp {
    file(method, &format!("{ROOT}portal/404.html"), None, 404).unwrap_or_else(|| {
        Resp::new(404)
            .header("content-type", "text/plain; charset=utf-8")
            .with_body(b"Not Found".to_vec())
    })
}

pub fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_tricks_are_refused() {
        for p in [
            "/../etc/passwd",
            "/assets/../../x",
            "/%2e%2e/secret",
            "/%2E%2E%2Fx",
            "/assets%2f..%2f..%2fx",
            "/a\\b",
            "/a%5cb",
            "/a%00b",
            "/.git/config",
            "/%252e%252e/x",
            "/%ff",
        ] {
            assert_eq!(safe_segments(p), None, "{p}");
        }
    }

    #[test]
    fn plain_paths_are_accepted() {
        assert_eq!(
            safe_segments("/assets/app.css").unwrap(),
            vec!["assets", "app.css"]
        );
        assert_eq!(safe_segments("/").unwrap(), Vec::<String>::new());
        assert_eq!(safe_segments("//admin//").unwrap(), vec!["admin"]);
    }

    #[test]
    fn clean_page_addresses_map_to_portal_pages() {
        let segs = safe_segments("/login").unwrap();
        assert_eq!(
            candidates("/login", &segs),
            vec!["/portal/login.html", "/login"]
        );
        assert_eq!(candidates("/", &[]), vec!["/portal/index.html"]);
        let segs = safe_segments("/admin/").unwrap();
        assert_eq!(candidates("/admin/", &segs), vec!["/admin/index.html"]);
        let segs = safe_segments("/admin/request").unwrap();
        assert_eq!(
            candidates("/admin/request", &segs),
            vec!["/admin/request", "/admin/request.html"]
        );
    }

    #[test]
    fn content_types_cover_the_page_assets() {
        assert_eq!(content_type("/a/b.JS"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("/x.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("/x.unknown"), "application/octet-stream");
    }

    #[test]
    fn etags_match_strong_weak_and_lists() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("W/\"abc\", \"def\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }

    #[test]
    fn other_methods_get_405() {
        assert_eq!(answer("POST", "/", None).status, 405);
    }
}
