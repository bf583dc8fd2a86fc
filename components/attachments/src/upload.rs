//! `POST /api/attachments`: the multipart body streamed into key-value chunks.
//!
//! [`Upload`] is the sans-I/O part, driven by the parser's events: each `file`
//! part gets its row (`uploading`) before its first chunk, its bytes go into
//! 256 KiB values `blob/<id>/<n>` as they arrive, hashed on the way, and
//! nothing is visible until the whole request succeeded (one transaction turns
//! every row `ready`). Any failure (a file over the limit, a cut-off or
//! malformed body) discards the rows and deletes the chunks at once; a crash
//! in between leaves rows that `core::attachments::cleanup` finds. At most one
//! chunk and one parser buffer are in memory, whatever the file size.

use edgedesk_core::attachments::{self as store, CHUNK, kv_err};
use edgedesk_core::token::hex;
use edgedesk_core::{ApiError, Kv, Random, Sql, rate_limit};
use edgedesk_web::router::{respond, send};
use edgedesk_web::{Ctx, Resp, Write};
use futures::StreamExt;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

use crate::multipart::{self, Event};
use crate::names::{clean_content_type, clean_filename};

impl From<multipart::Error> for ApiError {
    fn from(e: multipart::Error) -> Self {
        match e {
            multipart::Error::Truncated => ApiError::bad_request(
                "truncated_body",
                "The upload ended early. Please try again.",
            ),
            multipart::Error::BadHeaders => ApiError::bad_request(
                "invalid_multipart",
                "The upload is not valid multipart/form-data.",
            ),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `attachment_max_bytes`, per file.
    pub max_file: u64,
    pub max_files: usize,
    pub max_total: u64,
}

/// A stored file, as the answer lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stored {
    pub id: String,
    pub filename: String,
    pub size: u64,
    pub content_type: String,
    pub sha256: String,
}

struct Current {
    id: String,
    filename: String,
    content_type: String,
    hasher: Sha256,
    size: u64,
    next_chunk: i64,
    buf: Vec<u8>,
}

pub struct Upload<'a> {
    pub sql: &'a dyn Sql,
    pub kv: &'a dyn Kv,
    pub rng: &'a dyn Random,
    pub uploader: &'a str,
    pub now: i64,
    pub limits: Limits,
    /// Every row this request created (also a failed file's).
    ids: Vec<String>,
    done: Vec<Stored>,
    current: Option<Current>,
    /// Inside a part that is not a file (its data is skipped).
    total: u64,
}

impl<'a> Upload<'a> {
    pub fn new(
        sql: &'a dyn Sql,
        kv: &'a dyn Kv,
        rng: &'a dyn Random,
        uploader: &'a str,
        now: i64,
        limits: Limits,
    ) -> Self {
        Upload {
            sql,
            kv,
            rng,
            uploader,
            now,
            limits,
            ids: Vec::new(),
            done: Vec::new(),
            current: None,
            total: 0,
        }
    }

    /// One parser event.
    pub fn on(&mut self, e: Event<'_>) -> Result<(), ApiError> {
        match e {
            Event::Part(part) => {
                if part.name.as_deref() != Some("file") {
                    return Ok(());
                }
                if self.ids.len() >= self.limits.max_files {
                    return Err(ApiError::bad_request(
                        "too_many_files",
                        format!("Send at most {} files at once.", self.limits.max_files),
                    ));
                }
                let filename = clean_filename(part.filename.as_deref().unwrap_or(""));
                let content_type = clean_content_type(part.content_type.as_deref());
                let id = store::begin(
                    self.sql,
                    self.rng,
                    self.uploader,
                    &filename,
                    &content_type,
                    self.now,
                )?;
                self.ids.push(id.clone());
                self.current = Some(Current {
                    id,
                    filename,
                    content_type,
                    hasher: Sha256::new(),
                    size: 0,
                    next_chunk: 0,
                    buf: Vec::with_capacity(CHUNK),
                });
                Ok(())
            }
            Event::Data(mut data) => {
                let Some(cur) = self.current.as_mut() else {
                    return Ok(());
                };
                cur.size += data.len() as u64;
                self.total += data.len() as u64;
                if cur.size > self.limits.max_file {
                    return Err(ApiError::TooLarge {
                        limit: self.limits.max_file as usize,
                    });
                }
                if self.total > self.limits.max_total {
                    return Err(ApiError::TooLarge {
                        limit: self.limits.max_total as usize,
                    });
                }
                cur.hasher.update(data);
                while !data.is_empty() {
                    let take = (CHUNK - cur.buf.len()).min(data.len());
                    cur.buf.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if cur.buf.len() == CHUNK {
                        self.kv
                            .set(&store::chunk_key(&cur.id, cur.next_chunk), &cur.buf)
                            .map_err(kv_err)?;
                        cur.next_chunk += 1;
                        cur.buf.clear();
                    }
                }
                Ok(())
            }
            Event::End => {
                let Some(mut cur) = self.current.take() else {
                    return Ok(());
                };
                if !cur.buf.is_empty() {
                    self.kv
                        .set(&store::chunk_key(&cur.id, cur.next_chunk), &cur.buf)
                        .map_err(kv_err)?;
                }
                let sha256 = hex(&cur.hasher.finalize_reset());
                store::finish(self.sql, &cur.id, cur.size, &sha256)?;
                self.done.push(Stored {
                    id: cur.id,
                    filename: cur.filename,
                    size: cur.size,
                    content_type: cur.content_type,
                    sha256,
                });
                Ok(())
            }
        }
    }

    /// The body ended well: publish every file at once.
    pub fn publish(&mut self) -> Result<Vec<Stored>, ApiError> {
        if self.done.is_empty() {
            return Err(ApiError::bad_request(
                "no_files",
                "Choose at least one file (form field `file`).",
            ));
        }
        store::publish(self.sql, &self.ids)?;
        self.ids.clear();
        Ok(std::mem::take(&mut self.done))
    }

    /// The upload failed: nothing of it stays. Rows turn `deleted` first, so
    /// an interruption here still leaves only what cleanup removes.
    pub fn abort(&mut self) {
        if self.ids.is_empty() {
            return;
        }
        if let Err(e) = store::discard(self.sql, &self.ids) {
            eprintln!("upload abort: {e}");
            return;
        }
        for id in std::mem::take(&mut self.ids) {
            if let Err(e) = store::purge(self.sql, self.kv, &id, 0) {
                eprintln!("upload abort: {e}");
            }
        }
    }
}

/// Most a request may carry beyond its files (part headers, boundaries).
const OVERHEAD: u64 = 1024 * 1024;

/// Serves the upload route: answers, then removes a few abandoned uploads
/// (real Spin has no timer; this is cheap: one indexed read when none).
pub async fn serve(ctx: &Ctx, incoming: IncomingRequest, out: ResponseOutparam) {
    let result = receive(ctx, incoming).await;
    send(respond(ctx, result), out).await;
    if let (Ok(sql), Ok(kv)) = (ctx.sql(), ctx.kv())
        && let Err(e) = store::cleanup(sql, kv, ctx.now(), 8)
    {
        eprintln!("attachment cleanup: {e}");
    }
}

async fn receive(ctx: &Ctx, incoming: IncomingRequest) -> Result<Resp, ApiError> {
    ctx.check_csrf()?;
    let viewer = ctx.desk_viewer()?;
    let ct = ctx.req.header("content-type").unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return Err(ApiError::UnsupportedMediaType {
            expected: "multipart/form-data",
        });
    }
    let boundary = multipart::boundary(ct).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_multipart",
            "The upload has no valid multipart boundary.",
        )
    })?;
    let limits = crate::routes::upload_limits(ctx);
    let declared = ctx
        .req
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_total + OVERHEAD) {
        return Err(ApiError::TooLarge {
            limit: limits.max_total as usize,
        });
    }
    let (sql, kv) = (ctx.sql()?, ctx.kv()?);
    // Counted before a byte is stored (one statement, its own commit: the
    // upload has no transaction around it), so a refused upload writes
    // nothing but the count.
    rate_limit::limit_all(sql, &ctx.write_limits(Write::Upload, &viewer), ctx.now())?;
    let mut up = Upload::new(sql, kv, ctx.rng(), viewer.user_id(), ctx.now(), limits);
    let mut parser = multipart::Parser::new(&boundary);
    let mut body = Box::pin(incoming.into_body_stream());
    let mut result: Result<(), ApiError> = Ok(());
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            result = Err(multipart::Error::Truncated.into());
            break;
        };
        result = parser.feed(&chunk, &mut |e| up.on(e));
        if result.is_err() {
            break;
        }
    }
    let result = result
        .and_then(|()| parser.finish().map_err(ApiError::from))
        .and_then(|()| up.publish());
    match result {
        Ok(items) => Ok(Resp::json(201, &json!({ "items": items }))),
        Err(e) => {
            up.abort();
            // Read (and drop) the rest of a refused body, within the request
            // limit, so the client sees the answer instead of a reset.
            let mut left = limits.max_total + OVERHEAD;
            while let Some(Ok(chunk)) = body.next().await {
                left = left.saturating_sub(chunk.len() as u64);
                if left == 0 {
                    break;
                }
            }
            Err(e)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::multipart::Parser;
    use crate::multipart::tests::body;
    use edgedesk_core::kv::KvError;
    use edgedesk_core::native::NativeSql;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// A key-value store whose keys a test can count.
    #[derive(Default)]
    struct MemoryKv(RefCell<HashMap<String, Vec<u8>>>);

    impl MemoryKv {
        fn is_empty(&self) -> bool {
            self.0.borrow().is_empty()
        }
    }

    impl Kv for MemoryKv {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
            Ok(self.0.borrow().get(key).cloned())
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
            self.0.borrow_mut().insert(key.to_owned(), value.to_vec());
            Ok(())
        }
        fn delete(&self, key: &str) -> Result<(), KvError> {
            self.0.borrow_mut().remove(key);
            Ok(())
        }
        fn exists(&self, key: &str) -> Result<bool, KvError> {
            Ok(self.0.borrow().contains_key(key))
        }
    }
    use edgedesk_core::random::OsRandom;

    const LIMITS: Limits = Limits {
        max_file: 3 * CHUNK as u64,
        max_files: 3,
        max_total: 5 * CHUNK as u64,
    };

    fn run(kv: &MemoryKv, db: &NativeSql, b: &[u8], step: usize) -> Result<Vec<Stored>, ApiError> {
        let rng = OsRandom;
        let mut up = Upload::new(db, kv, &rng, "u1", 100, LIMITS);
        let mut p = Parser::new("boundary");
        let r = (|| {
            for piece in b.chunks(step) {
                p.feed(piece, &mut |e| up.on(e))?;
            }
            p.finish()?;
            up.publish()
        })();
        if r.is_err() {
            up.abort();
        }
        r
    }

    fn db() -> NativeSql {
        let db = NativeSql::memory();
        edgedesk_core::migrate::ensure_schema(&db).unwrap();
        db
    }

    fn rows(db: &NativeSql) -> usize {
        db.execute("SELECT id FROM attachments", &[])
            .unwrap()
            .rows
            .len()
    }

    fn reassemble(kv: &MemoryKv, s: &Stored) -> Vec<u8> {
        let mut out = Vec::new();
        for n in 0..edgedesk_core::attachments::chunk_count(s.size) {
            out.extend(kv.get(&store::chunk_key(&s.id, n)).unwrap().unwrap());
        }
        out
    }

    #[test]
    fn files_are_chunked_hashed_and_published_together() {
        let (kv, db) = (MemoryKv::default(), db());
        let big: Vec<u8> = (0..(2 * CHUNK + 17)).map(|i| (i % 251) as u8).collect();
        let b = body(
            "boundary",
            &[("../big.bin", &big), ("empty.txt", b""), ("s.txt", b"hi")],
        );
        let items = run(&kv, &db, &b, 16 * 1024 + 3).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].filename, "big.bin");
        assert_eq!(items[0].size, big.len() as u64);
        assert_eq!(items[0].sha256, hex(&Sha256::digest(&big)));
        assert_eq!(reassemble(&kv, &items[0]), big);
        assert_eq!(items[1].size, 0);
        assert_eq!(items[1].sha256, hex(&Sha256::digest(b"")));
        assert!(!kv.exists(&store::chunk_key(&items[1].id, 0)).unwrap());
        let a = store::get(&db, &items[2].id).unwrap().unwrap();
        assert_eq!((a.state.as_str(), a.chunks), ("ready", 1));
    }

    #[test]
    fn a_file_over_the_limit_leaves_nothing_behind() {
        let (kv, db) = (MemoryKv::default(), db());
        let big = vec![7u8; 3 * CHUNK + 1];
        let b = body("boundary", &[("ok.txt", b"fine"), ("big.bin", &big)]);
        let e = run(&kv, &db, &b, 64 * 1024).unwrap_err();
        assert_eq!((e.status(), e.code()), (413, "too_large"));
        assert_eq!(rows(&db), 0);
        assert!(kv.is_empty());
    }

    #[test]
    fn cut_off_bodies_too_many_files_and_no_files_store_nothing() {
        let (kv, db) = (MemoryKv::default(), db());
        let b = body("boundary", &[("a.txt", &vec![1u8; CHUNK + 5])]);
        let e = run(&kv, &db, &b[..b.len() - 30], 1000).unwrap_err();
        assert_eq!(e.code(), "truncated_body");
        let four: Vec<(&str, &[u8])> = vec![("a", b"1"); 4];
        assert_eq!(
            run(&kv, &db, &body("boundary", &four), 7)
                .unwrap_err()
                .code(),
            "too_many_files"
        );
        let e = run(&kv, &db, b"--boundary--", 7).unwrap_err();
        assert_eq!(e.code(), "no_files");
        let total: Vec<(&str, &[u8])> = vec![("a", &[0u8; 2 * CHUNK]); 3];
        assert_eq!(
            run(&kv, &db, &body("boundary", &total), 9999)
                .unwrap_err()
                .status(),
            413
        );
        assert_eq!(rows(&db), 0);
        assert!(kv.is_empty());
    }
}
