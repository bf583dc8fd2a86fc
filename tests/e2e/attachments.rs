//! Attachments end to end (issue 9): uploads through the host, linked to a
//! request and a comment, downloaded byte for byte (whole and by range),
//! seen by colleagues only where the request is shared, removed by the
//! uploader or an operator, and the refusals, checked against what the
//! database and the key-value store hold afterwards.

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use edgedesk_e2e::desk::{Desk, Person, error_code};
use edgedesk_e2e::{TestResponse, Value, json};
use sha2::{Digest, Sha256};

const BOUNDARY: &str = "----edgedesk-e2e-7f3a";

fn sha(data: &[u8]) -> String {
    edgedesk_core::token::hex(&Sha256::digest(data))
}

/// A multipart body with one `file` part per (name, type, bytes).
fn multipart(files: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, ct, data) in files {
        b.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {ct}\r\n\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(data);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    b
}

async fn upload_raw(p: &Person, content_type: &str, body: Vec<u8>) -> anyhow::Result<TestResponse> {
    p.client
        .request(
            "POST",
            "/api/attachments",
            &[("content-type", content_type)],
            body,
        )
        .await
}

async fn upload(p: &Person, files: &[(&str, &str, &[u8])]) -> anyhow::Result<TestResponse> {
    upload_raw(
        p,
        &format!("multipart/form-data; boundary={BOUNDARY}"),
        multipart(files),
    )
    .await
}

/// Uploads and returns the ids, in order.
async fn upload_ok(p: &Person, files: &[(&str, &str, &[u8])]) -> anyhow::Result<Vec<String>> {
    let r = upload(p, files).await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let items = r.json()?["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), files.len());
    Ok(items
        .iter()
        .map(|i| i["id"].as_str().unwrap_or_default().to_owned())
        .collect())
}

/// A customer with approved access to `company` (an operator approves).
async fn member(desk: &Desk, op: &Person, username: &str, company: &str) -> anyhow::Result<Person> {
    let p = desk
        .customer(
            username,
            &format!("{username}@{}.example", company.to_lowercase()),
            &format!("{username} Person"),
        )
        .await?;
    let r = p
        .client
        .post_json("/api/access-requests", &json!({ "company_name": company }))
        .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()?["id"].as_str().unwrap_or_default().to_owned();
    let r = op
        .client
        .post_json(&format!("/api/access-requests/{id}/approve"), &json!({}))
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    Ok(p)
}

/// Rows in `attachments` and chunk keys in the key-value store.
fn stored(desk: &Desk) -> anyhow::Result<(i64, i64)> {
    let rows = desk
        .db()?
        .query_row("SELECT count(*) FROM attachments", [], |r| r.get(0))?;
    let kv = rusqlite::Connection::open(desk.app.state_dir().join("sqlite_key_value.db"))?;
    let keys = kv.query_row(
        "SELECT count(*) FROM spin_key_value WHERE key LIKE 'blob/%'",
        [],
        |r| r.get(0),
    )?;
    Ok((rows, keys))
}

fn page_files(page: &Value) -> Vec<(String, String)> {
    page["attachments"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["filename"].as_str().unwrap_or_default().to_owned(),
                        f["id"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn files_go_with_requests_and_comments_to_those_who_may_see_them() -> anyhow::Result<()> {
    let desk = Desk::start(&[]).await?;
    let op = desk.staff("opal", "operator").await?;
    let ann = member(&desk, &op, "ann", "Acme").await?;
    let bob = member(&desk, &op, "bob", "Acme").await?;
    let gil = member(&desk, &op, "gil", "Globex").await?;

    // Several files in one upload: 600 KiB (three chunks), a non-ASCII and a
    // path-traversal name, a zero-byte file, an HTML page.
    let big: Vec<u8> = (0..600 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let html = b"<html><script>alert(1)</script></html>";
    let r = upload(
        &ann,
        &[
            ("../../etc/report.bin", "application/octet-stream", &big),
            ("Übersicht été 日本.csv", "text/csv", b"a,b\n1,2\n"),
            ("empty.txt", "text/plain", b""),
            ("page.html", "text/html", html),
        ],
    )
    .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let items = r.json()?["items"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = items
        .iter()
        .filter_map(|i| i["filename"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "report.bin",
            "Übersicht été 日本.csv",
            "empty.txt",
            "page.html"
        ]
    );
    assert_eq!(items[0]["size"], 600 * 1024);
    assert_eq!(items[0]["sha256"], sha(&big));
    assert_eq!(items[2]["size"], 0);
    let ids: Vec<String> = items
        .iter()
        .map(|i| i["id"].as_str().unwrap_or_default().to_owned())
        .collect();

    // Unlinked: only the uploader sees them (others get the unknown id's 404).
    assert_eq!(
        ann.client
            .get(&format!("/api/attachments/{}", ids[1]))
            .await?
            .status,
        200
    );
    for p in [&bob, &gil] {
        assert_eq!(
            p.client
                .get(&format!("/api/attachments/{}", ids[1]))
                .await?
                .status,
            404
        );
    }
    // Someone else's upload cannot be linked.
    let r = bob
        .client
        .post_json(
            "/api/requests",
            &json!({ "request_type": "technical-support", "summary": "Mine now", "attachment_ids": [ids[0]] }),
        )
        .await?;
    assert_eq!(
        (r.status, error_code(&r)),
        (400, "unknown_attachment".into())
    );

    // Linked to a shared request (two files) and a private one (the rest).
    let r = ann
        .client
        .post_json(
            "/api/requests",
            &json!({ "request_type": "technical-support", "summary": "Shared files",
                     "visibility": "organization", "attachment_ids": [ids[0], ids[1]] }),
        )
        .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let shared = r.json()?["key"].as_str().unwrap_or_default().to_owned();
    let r = ann
        .client
        .post_json(
            "/api/requests",
            &json!({ "request_type": "technical-support", "summary": "Private files",
                     "visibility": "private", "attachment_ids": [ids[2], ids[3]] }),
        )
        .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let private = r.json()?["key"].as_str().unwrap_or_default().to_owned();
    // Linked once only.
    let r = ann
        .client
        .post_json(
            &format!("/api/requests/{shared}/comments"),
            &json!({ "body": "again", "attachment_ids": [ids[0]] }),
        )
        .await?;
    assert_eq!(error_code(&r), "unknown_attachment");

    // The colleague sees the shared request's files and downloads them byte
    // for byte, whole and by range; not the private request's.
    let page = bob
        .client
        .get(&format!("/api/requests/{shared}"))
        .await?
        .json()?;
    let files = page_files(&page);
    assert_eq!(files.len(), 2, "{page}");
    assert_eq!(page["attachments"][0]["uploader"]["username"], "ann");
    assert_eq!(page["attachments"][0]["sha256"], sha(&big));
    let r = bob
        .client
        .get(&format!("/api/attachments/{}", ids[0]))
        .await?;
    assert_eq!(r.status, 200);
    assert_eq!(sha(&r.body), sha(&big));
    assert_eq!(
        r.header("etag"),
        Some(format!("\"{}\"", sha(&big)).as_str())
    );
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    // HEAD: the headers alone.
    let r = bob
        .client
        .request(
            "HEAD",
            &format!("/api/attachments/{}", ids[0]),
            &[],
            Vec::new(),
        )
        .await?;
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert!(r.header("etag").is_some());
    // A range across a chunk boundary (256 KiB).
    let r = bob
        .client
        .request(
            "GET",
            &format!("/api/attachments/{}", ids[0]),
            &[("range", "bytes=262000-262999")],
            Vec::new(),
        )
        .await?;
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some("bytes 262000-262999/614400")
    );
    assert_eq!(&r.body[..], &big[262_000..263_000]);
    let r = bob
        .client
        .request(
            "GET",
            &format!("/api/attachments/{}", ids[0]),
            &[("range", "bytes=-10")],
            Vec::new(),
        )
        .await?;
    assert_eq!((r.status, &r.body[..]), (206, &big[big.len() - 10..]));
    let r = bob
        .client
        .request(
            "GET",
            &format!("/api/attachments/{}", ids[0]),
            &[("range", "bytes=700000-")],
            Vec::new(),
        )
        .await?;
    assert_eq!(r.status, 416);
    // The non-ASCII name survives (RFC 5987).
    let r = bob
        .client
        .get(&format!("/api/attachments/{}", ids[1]))
        .await?;
    let cd = r
        .header("content-disposition")
        .unwrap_or_default()
        .to_owned();
    assert!(cd.starts_with("attachment;"), "{cd}");
    assert!(
        cd.contains("filename*=UTF-8''%C3%9Cbersicht%20%C3%A9t%C3%A9%20%E6%97%A5%E6%9C%AC.csv"),
        "{cd}"
    );
    for p in [&bob, &gil] {
        assert_eq!(
            p.client
                .get(&format!("/api/attachments/{}", ids[2]))
                .await?
                .status,
            404
        );
        assert_eq!(
            p.client
                .get(&format!("/api/requests/{private}"))
                .await?
                .status,
            404
        );
    }
    assert_eq!(
        gil.client
            .get(&format!("/api/attachments/{}", ids[0]))
            .await?
            .status,
        404
    );
    assert_eq!(
        gil.client.get("/api/attachments/no-such-id").await?.status,
        404
    );

    // The zero-byte file and the HTML page: an attachment, never run here.
    let r = op
        .client
        .get(&format!("/api/attachments/{}", ids[2]))
        .await?;
    assert_eq!((r.status, r.body.len()), (200, 0));
    let r = ann
        .client
        .get(&format!("/api/attachments/{}?inline=1", ids[3]))
        .await?;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], html);
    assert!(
        r.header("content-disposition")
            .unwrap_or_default()
            .starts_with("attachment;")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(
        r.header("content-security-policy")
            .unwrap_or_default()
            .contains("sandbox")
    );

    // A comment with a file, by the colleague; the operator's reply too.
    let bobs = upload_ok(&bob, &[("log.txt", "text/plain", b"bob's log")]).await?;
    let r = bob
        .client
        .post_json(
            &format!("/api/requests/{shared}/comments"),
            &json!({ "body": "Here is my log", "attachment_ids": bobs }),
        )
        .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let comment_id = r.json()?["id"].as_str().unwrap_or_default().to_owned();
    let ops = upload_ok(&op, &[("fix.txt", "text/plain", b"the fix")]).await?;
    let r = op
        .client
        .post_json(
            &format!("/api/agent/requests/{shared}/comments"),
            &json!({ "body": "Try this", "attachment_ids": ops }),
        )
        .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let page = ann
        .client
        .get(&format!("/api/requests/{shared}"))
        .await?
        .json()?;
    assert_eq!(page_files(&page).len(), 4);
    let activity = page["activity"].as_array().cloned().unwrap_or_default();
    let bobs_comment = activity.iter().find(|a| a["id"] == comment_id.as_str());
    assert_eq!(
        bobs_comment.map(|c| c["attachments"][0]["filename"].clone()),
        Some(json!("log.txt"))
    );
    let r = ann
        .client
        .get(&format!("/api/attachments/{}", ops[0]))
        .await?;
    assert_eq!(&r.body[..], b"the fix");

    // Removal: not by a colleague who did not upload it; by the uploader;
    // by an operator. The activity records each.
    let r = ann
        .client
        .delete(&format!("/api/attachments/{}", bobs[0]))
        .await?;
    assert_eq!((r.status, error_code(&r)), (403, "not_allowed".into()));
    assert_eq!(
        gil.client
            .delete(&format!("/api/attachments/{}", bobs[0]))
            .await?
            .status,
        404
    );
    assert_eq!(
        bob.client
            .delete(&format!("/api/attachments/{}", bobs[0]))
            .await?
            .status,
        204
    );
    assert_eq!(
        bob.client
            .get(&format!("/api/attachments/{}", bobs[0]))
            .await?
            .status,
        404
    );
    assert_eq!(
        op.client
            .delete(&format!("/api/attachments/{}", ids[0]))
            .await?
            .status,
        204
    );
    assert_eq!(
        op.client
            .delete(&format!("/api/attachments/{}", ids[0]))
            .await?
            .status,
        404
    );
    let page = ann
        .client
        .get(&format!("/api/requests/{shared}"))
        .await?
        .json()?;
    let names: Vec<String> = page_files(&page).into_iter().map(|f| f.0).collect();
    assert_eq!(names, ["Übersicht été 日本.csv", "fix.txt"]);
    let removed: Vec<&str> = page["activity"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["kind"] == "attachment_removed")
                .filter_map(|e| e["text"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        removed,
        [
            "Removed the attachment log.txt",
            "Removed the attachment report.bin"
        ]
    );
    // Their rows and chunks are gone: 4 files left (csv, empty, html, fix),
    // one chunk each but the empty one.
    assert_eq!(stored(&desk)?, (4, 3));
    desk.app.stop().await;
    Ok(())
}

/// Sends a request head promising `promised` body bytes, then only `body`,
/// and closes the connection.
fn cut_off(
    addr: std::net::SocketAddr,
    cookie: &str,
    csrf: &str,
    body: &[u8],
    promised: usize,
) -> anyhow::Result<()> {
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(
        s,
        "POST /api/attachments HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {promised}\r\n\r\n"
    )?;
    s.write_all(body)?;
    s.flush()?;
    s.shutdown(std::net::Shutdown::Both)?;
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_and_broken_uploads_leave_nothing_behind() -> anyhow::Result<()> {
    let desk = Desk::start(&[("attachment_max_bytes", "300000")]).await?;
    let op = desk.staff("opal", "operator").await?;
    let ann = member(&desk, &op, "ann", "Acme").await?;

    // The limit is published for pages to check before sending.
    let limits = ann.client.get("/api/attachments/limits").await?.json()?;
    assert_eq!(limits["attachment_max_bytes"], 300_000);
    assert_eq!(limits["max_files"], 50);

    // Over the limit, after a file that was fine: 413, nothing kept.
    let big = vec![1u8; 300_001];
    let r = upload(
        &ann,
        &[
            ("ok.txt", "text/plain", b"ok"),
            ("big.bin", "application/zip", &big),
        ],
    )
    .await?;
    assert_eq!((r.status, error_code(&r)), (413, "too_large".into()));
    assert_eq!(stored(&desk)?, (0, 0));
    // Exactly at the limit is fine.
    let at = vec![2u8; 300_000];
    let ids = upload_ok(&ann, &[("at.bin", "application/octet-stream", &at)]).await?;
    let r = ann
        .client
        .get(&format!("/api/attachments/{}", ids[0]))
        .await?;
    assert_eq!(sha(&r.body), sha(&at));

    // A body that ends before the closing delimiter; a missing boundary; a
    // wrong one; not multipart at all; no file part; no CSRF token.
    let mut body = multipart(&[("a.txt", "text/plain", b"hello")]);
    body.truncate(body.len() - 10);
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let r = upload_raw(&ann, &ct, body).await?;
    assert_eq!((r.status, error_code(&r)), (400, "truncated_body".into()));
    let good = multipart(&[("a.txt", "text/plain", b"hello")]);
    let r = upload_raw(&ann, "multipart/form-data", good.clone()).await?;
    assert_eq!(
        (r.status, error_code(&r)),
        (400, "invalid_multipart".into())
    );
    let r = upload_raw(&ann, "multipart/form-data; boundary=nope", good.clone()).await?;
    assert_eq!((r.status, error_code(&r)), (400, "truncated_body".into()));
    let r = upload_raw(&ann, "application/json", b"{}".to_vec()).await?;
    assert_eq!(r.status, 415);
    let r = upload_raw(&ann, &ct, format!("--{BOUNDARY}--\r\n").into_bytes()).await?;
    assert_eq!((r.status, error_code(&r)), (400, "no_files".into()));
    let r = ann
        .client
        .request(
            "POST",
            "/api/attachments",
            &[("content-type", ct.as_str()), ("x-csrf-token", "wrong")],
            good.clone(),
        )
        .await?;
    assert_eq!((r.status, error_code(&r)), (403, "csrf_failed".into()));
    // Not signed in.
    let stranger = desk.app.client();
    let r = stranger
        .request(
            "POST",
            "/api/attachments",
            &[("content-type", ct.as_str())],
            good,
        )
        .await?;
    assert_eq!(r.status, 401);
    assert_eq!(stored(&desk)?, (1, 2));

    // The connection drops in the middle of a file: the component discards
    // what it wrote (the host ends the body stream with an error).
    let cookie = format!(
        "edgedesk_session={}",
        ann.client.cookie("edgedesk_session").unwrap_or_default()
    );
    let session = ann.client.get("/api/session").await?.json()?;
    let csrf = session["csrf_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let whole = multipart(&[("cut.bin", "application/octet-stream", &vec![3u8; 290_000])]);
    let addr = desk.app.addr();
    let half = whole[..whole.len() / 2].to_vec();
    let total = whole.len();
    tokio::task::spawn_blocking(move || cut_off(addr, &cookie, &csrf, &half, total)).await??;
    // The guest may still be cleaning up after the connection closed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while stored(&desk)? != (1, 2) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stored(&desk)?, (1, 2));

    // Uploads never linked are removed after 24 hours, chunks and all, by
    // the next upload (a day passes in the database).
    desk.db()?
        .execute("UPDATE attachments SET created_at = created_at - 86401", [])?;
    upload_ok(&ann, &[("new.txt", "text/plain", b"new")]).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while stored(&desk)? != (1, 1) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stored(&desk)?, (1, 1));
    desk.app.stop().await;
    Ok(())
}
