//! Crash safety (issue 11 part 5): the host is killed with SIGKILL in the
//! middle of a burst of writes (requests with files, comments, uploads of one
//! to three chunks, access approvals) while mail is being delivered, then
//! started again on the same state directory. Checked afterwards:
//!
//! - every write that was answered 201/200 is there, whole (a request with its
//!   search row, participant and files; a comment; an upload with every chunk
//!   and the bytes it was answered for; an approval with the membership);
//! - `PRAGMA integrity_check` is `ok` on the app's database and on the
//!   key-value file, as the kill left them;
//! - every key-value chunk belongs to an attachment row, and the cleanup
//!   removes what the kill cut off, leaving no chunk without a published file;
//! - the outbox resumes after the restart with no outside help (the
//!   due-check after ordinary requests), every queued mail reaches the relay,
//!   and an id reaches it twice only if that message was being sent when the
//!   host died. That is the pipeline's real guarantee: delivery is at least
//!   once with a stable id (API.md "Mail relay format"), because a relay's
//!   2xx can arrive just before the process dies and before the outbox row is
//!   marked. The relay here answers 20 ms after accepting, so the kill often
//!   lands in that gap.
//!
//! SIGKILL needs the host in another process: the test re-runs its own binary
//! as the child, with `--exact crash::crash_child_host --ignored`, and the
//! child serves the app in-process until it is killed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use edgedesk_e2e::{Client, MailCapture, TestResponse, app_manifest, ensure_built, json};
use sha2::{Digest, Sha256};

/// Set (to the child's settings as JSON) only in the child process.
const CHILD_ENV: &str = "EDGEDESK_CRASH_CHILD";
const READY: &str = "EDGEDESK-CRASH-CHILD-READY";
const BOUNDARY: &str = "----edgedesk-crash";
const CUSTOMERS: usize = 6;
const PENDING: usize = 200;

/// The child: serves the app on the given state directory until killed.
/// Without `EDGEDESK_CRASH_CHILD` (a plain `--ignored` run) it does nothing.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "the child process of sigkill_during_a_burst_of_writes_loses_nothing_acknowledged"]
async fn crash_child_host() -> anyhow::Result<()> {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return Ok(());
    };
    let spec: serde_json::Value = serde_json::from_str(&spec)?;
    let mut up = edgedesk_host::UpOptions::new(app_manifest());
    up.listen = spec["listen"].as_str().context("listen")?.parse()?;
    up.state_dir = Some(PathBuf::from(spec["state"].as_str().context("state")?));
    // No timer: after the restart, only the app's own due-check may resume
    // the outbox (as on real Spin).
    up.kick_interval = None;
    up.log_requests = false;
    let vars = spec["vars"].as_object().context("vars")?;
    up.env = Some(
        vars.iter()
            .map(|(k, v)| {
                (
                    format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()),
                    v.as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
    );
    let app = edgedesk_host::start(up).await?;
    println!("{READY} {}", app.addr());
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// A host in a child process.
struct Host {
    child: Child,
    addr: SocketAddr,
}

impl Host {
    fn start(state: &Path, relay: &MailCapture) -> anyhow::Result<Host> {
        let listen = SocketAddr::from(([127, 0, 0, 1], edgedesk_e2e::free_port()?));
        let spec = json!({
            "state": state,
            "listen": listen.to_string(),
            "vars": {
                "mail_transport": "http",
                "mail_relay_url": relay.url(),
                "mail_relay_origin": relay.origin(),
                // A burst, not people: the abuse limits would refuse it.
                "limit_raise_per_account": "off",
                "limit_comment_per_account": "off",
                "limit_upload_per_account": "off",
            },
        });
        let mut child = Command::new(std::env::current_exe()?)
            .args([
                "--exact",
                "crash::crash_child_host",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_ENV, spec.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("EDGEDESK_CRASH_VERBOSE").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()?;
        let stdout = child.stdout.take().context("child stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Keeps reading to the end, so the child never blocks on a full pipe.
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix(READY) {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => Ok(Host {
                child,
                addr: addr.parse()?,
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the child host did not start");
            }
        }
    }

    /// SIGKILL: no shutdown, no flush, no destructor.
    fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn db(state: &Path) -> anyhow::Result<rusqlite::Connection> {
    let c = rusqlite::Connection::open(state.join("sqlite_db.db"))?;
    c.busy_timeout(Duration::from_secs(10))?;
    Ok(c)
}

fn kv(state: &Path) -> anyhow::Result<rusqlite::Connection> {
    let c = rusqlite::Connection::open(state.join("sqlite_key_value.db"))?;
    c.busy_timeout(Duration::from_secs(10))?;
    Ok(c)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A signed-in session written straight into the database (the sign-in
/// journeys are tested elsewhere; here they would only cost time):
/// (cookie token, CSRF token).
fn session(c: &rusqlite::Connection, user: &str, n: usize) -> anyhow::Result<(String, String)> {
    let token = hex(&Sha256::digest(format!("crash-token-{user}-{n}-{}", now())));
    let csrf = hex(&Sha256::digest(format!("crash-csrf-{user}-{n}")));
    c.execute(
        "INSERT INTO sessions (token_hash, user_id, stage, csrf_token, remember, created_at, \
         last_seen_at, expires_at) VALUES (?1, ?2, 'full', ?3, 0, ?4, ?4, ?4 + 3600)",
        rusqlite::params![hex(&Sha256::digest(token.as_bytes())), user, csrf, now()],
    )?;
    Ok((token, csrf))
}

fn user(c: &rusqlite::Connection, id: &str, role: &str) -> anyhow::Result<()> {
    c.execute(
        "INSERT INTO users (id, username, email, full_name, password_hash, role, \
         email_confirmed_at, created_at, updated_at) VALUES (?1, ?1, ?1 || '@crash.example', \
         'Person ' || ?1, '!', ?2, 1, 1, 1)",
        rusqlite::params![id, role],
    )?;
    Ok(())
}

/// An operator, customers of one approved company, and people of other
/// companies waiting for the operators' approval.
fn seed(state: &Path) -> anyhow::Result<(String, Vec<String>, Vec<String>)> {
    let mut c = db(state)?;
    let tx = c.transaction()?;
    tx.execute(
        "INSERT INTO organizations (id, name, name_key, state, created_at, updated_at) \
         VALUES ('org-crash', 'Crash Ltd', 'crash ltd', 'approved', 1, 1)",
        [],
    )?;
    user(&tx, "op-crash", "operator")?;
    for i in 0..CUSTOMERS {
        let id = format!("cust{i}");
        user(&tx, &id, "customer")?;
        tx.execute(
            "INSERT INTO memberships (user_id, organization_id, access, created_at, updated_at) \
             VALUES (?1, 'org-crash', 'approved', 1, 1)",
            [&id],
        )?;
    }
    let mut pending = Vec::new();
    for k in 0..PENDING {
        let (uid, org) = (format!("wait{k}"), format!("org-wait{k}"));
        user(&tx, &uid, "customer")?;
        tx.execute(
            "INSERT INTO organizations (id, name, name_key, state, created_at, updated_at) \
             VALUES (?1, 'Waiting ' || ?1, 'waiting ' || ?1, 'pending', 1, 1)",
            [&org],
        )?;
        tx.execute(
            "INSERT INTO memberships (user_id, organization_id, access, created_at, updated_at) \
             VALUES (?1, ?2, 'pending', 1, 1)",
            [&uid, &org],
        )?;
        let id = format!("ar-crash-{k}");
        tx.execute(
            "INSERT INTO access_requests (id, user_id, organization_id, company_name, approver, \
             status, created_at) VALUES (?1, ?2, ?3, 'Waiting ' || ?3, 'operators', 'pending', ?4)",
            rusqlite::params![id, uid, org, k as i64],
        )?;
        pending.push(id);
    }
    tx.commit()?;
    let customers = (0..CUSTOMERS).map(|i| format!("cust{i}")).collect();
    Ok(("op-crash".into(), customers, pending))
}

fn client(addr: SocketAddr, token: &(String, String)) -> Client {
    let c = Client::new(addr);
    c.set_cookie("edgedesk_session", &token.0);
    c.set_default_header("x-csrf-token", &token.1);
    c
}

/// Bytes of file `n` of customer `who`: 1 KiB to 700 KiB (one to three
/// 256 KiB chunks), different for each.
fn file_bytes(who: usize, n: usize) -> Vec<u8> {
    let len = [1024, 300 * 1024, 700 * 1024, 5 * 1024][n % 4] + who * 13 + n;
    (0..len)
        .map(|i| ((i * 31 + who * 7 + n) % 251) as u8)
        .collect()
}

async fn upload(c: &Client, data: &[u8]) -> anyhow::Result<TestResponse> {
    let mut b = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    b.extend_from_slice(data);
    b.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    c.request(
        "POST",
        "/api/attachments",
        &[(
            "content-type",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
        )],
        b,
    )
    .await
}

/// What the app acknowledged before it died.
#[derive(Default)]
struct Acked {
    /// Request key → the files it was raised with.
    raises: BTreeMap<String, Vec<String>>,
    /// Comment id → (request key, its file).
    comments: BTreeMap<String, (String, Option<String>)>,
    /// Upload id → (sha256 the app answered, the sha256 of the bytes sent, size).
    uploads: BTreeMap<String, (String, String, usize)>,
    approvals: BTreeSet<String>,
    /// Answers that were neither the expected success nor a dropped connection.
    unexpected: Vec<String>,
}

/// One customer's writes, back to back, until the connection dies or `stop`.
async fn customer_burst(who: usize, c: Client, acked: Arc<Mutex<Acked>>, stop: Arc<AtomicBool>) {
    let mut last_key: Option<String> = None;
    let mut n = 0;
    let note = |what: String| {
        if let Ok(mut a) = acked.lock() {
            a.unexpected.push(what);
        }
    };
    while !stop.load(Ordering::SeqCst) {
        // Upload a file, then use it: even steps raise with it, odd ones
        // comment with it on the last request.
        let data = file_bytes(who, n);
        let Ok(r) = upload(&c, &data).await else {
            return;
        };
        if r.status != 201 {
            note(format!("upload: {} {}", r.status, r.text()));
            return;
        }
        let Ok(body) = r.json() else { return };
        let file = body["items"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let answered = body["items"][0]["sha256"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if let Ok(mut a) = acked.lock() {
            a.uploads.insert(
                file.clone(),
                (answered, hex(&Sha256::digest(&data)), data.len()),
            );
        }
        let files = [file.clone()];
        let r = match (&last_key, n % 2) {
            (Some(key), 1) => {
                c.post_json(
                    &format!("/api/requests/{key}/comments"),
                    &json!({ "body": format!("comment {n} of {who}"), "attachment_ids": files }),
                )
                .await
            }
            _ => {
                c.post_json(
                    "/api/requests",
                    &json!({ "request_type": "technical-support",
                             "summary": format!("crash burst {who}-{n}"),
                             "visibility": "private", "attachment_ids": files }),
                )
                .await
            }
        };
        let Ok(r) = r else { return };
        if r.status != 201 {
            note(format!("write: {} {}", r.status, r.text()));
            return;
        }
        let Ok(body) = r.json() else { return };
        if let Ok(mut a) = acked.lock() {
            match (&last_key, n % 2) {
                (Some(key), 1) => {
                    let id = body["id"].as_str().unwrap_or_default().to_owned();
                    a.comments.insert(id, (key.clone(), Some(file)));
                }
                _ => {
                    let key = body["key"].as_str().unwrap_or_default().to_owned();
                    a.raises.insert(key.clone(), vec![file]);
                    last_key = Some(key);
                }
            }
        }
        // A comment without a file in between.
        if let Some(key) = &last_key {
            let Ok(r) = c
                .post_json(
                    &format!("/api/requests/{key}/comments"),
                    &json!({ "body": format!("plain comment {n} of {who}") }),
                )
                .await
            else {
                return;
            };
            if r.status != 201 {
                note(format!("comment: {} {}", r.status, r.text()));
                return;
            }
            if let (Ok(body), Ok(mut a)) = (r.json(), acked.lock()) {
                let id = body["id"].as_str().unwrap_or_default().to_owned();
                a.comments.insert(id, (key.clone(), None));
            }
        }
        n += 1;
    }
}

/// The operator approves waiting access requests, one after another.
async fn approvals_burst(
    c: Client,
    ids: Vec<String>,
    acked: Arc<Mutex<Acked>>,
    stop: Arc<AtomicBool>,
) {
    for id in ids {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(r) = c
            .post_json(&format!("/api/access-requests/{id}/approve"), &json!({}))
            .await
        else {
            return;
        };
        if let Ok(mut a) = acked.lock() {
            if r.status == 200 {
                a.approvals.insert(id);
            } else {
                a.unexpected
                    .push(format!("approve: {} {}", r.status, r.text()));
                return;
            }
        }
    }
}

/// Writes against `host` from `people` and the operator (approving
/// `approvals`), then kills the host with SIGKILL: after `min` (plus up to
/// half a second), at the moment the relay has accepted a message and not
/// yet answered, if one comes within `wait_mail`: the sender dies between
/// the relay's "delivered" and its own record of it.
#[allow(clippy::too_many_arguments)]
async fn burst_and_kill(
    host: Host,
    relay: &MailCapture,
    people: &[(usize, (String, String))],
    op_token: &(String, String),
    approvals: &[String],
    acked: &Arc<Mutex<Acked>>,
    min: Duration,
    wait_mail: Duration,
) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (who, t) in people {
        tasks.push(tokio::spawn(customer_burst(
            *who,
            client(host.addr, t),
            acked.clone(),
            stop.clone(),
        )));
    }
    tasks.push(tokio::spawn(approvals_burst(
        client(host.addr, op_token),
        approvals.to_vec(),
        acked.clone(),
        stop.clone(),
    )));
    let jitter = Duration::from_millis(u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .subsec_millis()
            / 2,
    ));
    tokio::time::sleep(min + jitter).await;
    let seen = relay.attempts();
    let waited = Instant::now();
    while relay.attempts() == seen && waited.elapsed() < wait_mail {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mail_in_flight = relay.attempts() > seen;
    let relay_had = relay.messages().len();
    host.kill()?;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await?;
    }
    let a = acked.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    println!(
        "killed {:.2} s into a burst ({} writers), {}; the relay holds {relay_had} mails; \
         acknowledged so far: {} raises, {} comments, {} uploads, {} approvals",
        started.elapsed().as_secs_f64(),
        people.len() + 1,
        if mail_in_flight {
            "a mail accepted by the relay and not yet answered"
        } else {
            "no mail in flight"
        },
        a.raises.len(),
        a.comments.len(),
        a.uploads.len(),
        a.approvals.len()
    );
    Ok(Vec::new())
}

fn integrity(conn: &rusqlite::Connection) -> anyhow::Result<String> {
    Ok(conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
}

/// Chunk keys in the key-value store: attachment id → chunk numbers.
fn chunk_map(state: &Path) -> anyhow::Result<HashMap<String, BTreeSet<i64>>> {
    let kv = kv(state)?;
    let mut stmt = kv.prepare("SELECT key FROM spin_key_value WHERE key LIKE 'blob/%'")?;
    let mut out: HashMap<String, BTreeSet<i64>> = HashMap::new();
    for key in stmt.query_map([], |r| r.get::<_, String>(0))? {
        let key = key?;
        let mut parts = key.splitn(3, '/').skip(1);
        let (Some(id), Some(n)) = (parts.next(), parts.next()) else {
            bail!("odd chunk key {key}");
        };
        out.entry(id.to_owned()).or_default().insert(n.parse()?);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_a_burst_of_writes_loses_nothing_acknowledged() -> anyhow::Result<()> {
    let started = Instant::now();
    ensure_built(&app_manifest())?;
    let relay = MailCapture::start().await?;
    relay.delay_answers(Duration::from_millis(20));
    let state = tempfile::Builder::new()
        .prefix("edgedesk-crash-")
        .tempdir()?;
    let host = Host::start(state.path(), &relay)?;
    // The first request that opens the database migrates it.
    let r = Client::new(host.addr)
        .post_json(
            "/api/auth/login",
            &json!({ "login": "nobody", "password": "x" }),
        )
        .await?;
    assert_eq!(r.status, 401, "{}", r.text());
    let (op, customers, pending) = seed(state.path())?;
    let conn = db(state.path())?;
    let op_token = session(&conn, &op, 0)?;
    let tokens: Vec<_> = customers
        .iter()
        .map(|c| session(&conn, c, 0))
        .collect::<anyhow::Result<_>>()?;
    drop(conn);

    // ---- two kills: the first in the middle of a burst of writes by
    // everyone (mail mostly waits then: people's writes go first); after
    // the restart, the second while the backlog of mail is being delivered
    // and one customer and the operator go on writing.
    let acked = Arc::new(Mutex::new(Acked::default()));
    let everyone: Vec<_> = tokens.iter().cloned().enumerate().collect();
    let mut in_flight = BTreeSet::new();
    let phases = [
        (&everyone[..], &pending[..PENDING * 3 / 4], 1000, 500),
        (&everyone[..1], &pending[PENDING * 3 / 4..], 300, 5000),
    ];
    let mut host = host;
    for (phase, (people, approvals, min_ms, mail_ms)) in phases.into_iter().enumerate() {
        in_flight.extend(
            burst_and_kill(
                host,
                &relay,
                people,
                &op_token,
                approvals,
                &acked,
                Duration::from_millis(min_ms),
                Duration::from_millis(mail_ms),
            )
            .await?,
        );
        // The files as the kill left them.
        let conn = db(state.path())?;
        assert_eq!(
            integrity(&conn)?,
            "ok",
            "app database after kill {}",
            phase + 1
        );
        assert_eq!(
            integrity(&kv(state.path())?)?,
            "ok",
            "key-value file after kill {}",
            phase + 1
        );
        in_flight.extend(
            conn.prepare("SELECT id FROM outbox WHERE state = 'sending'")?
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?,
        );
        // Two minutes pass: the leases the dead sender held (the message in
        // hand, the delivery runner's) run out, written here instead of waited for.
        conn.execute(
            "UPDATE outbox SET lease_until = ?1 WHERE state = 'sending'",
            [now() - 1],
        )?;
        conn.execute(
            "UPDATE settings SET value = '0' WHERE name = 'mail.runner'",
            [],
        )?;
        drop(conn);
        // Restart on the same state directory.
        host = Host::start(state.path(), &relay)?;
    }
    let acked = std::mem::take(&mut *acked.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    assert!(acked.unexpected.is_empty(), "{:#?}", acked.unexpected);
    assert!(
        acked.raises.len() >= 5 && acked.comments.len() >= 5 && !acked.approvals.is_empty(),
        "the bursts were too short to prove anything"
    );

    let conn = db(state.path())?;
    let customer = client(host.addr, &tokens[0]);

    // Every acknowledged request, whole.
    for (key, files) in &acked.raises {
        let number: i64 = key.trim_start_matches("SD-").parse()?;
        let (id, search): (String, i64) = conn
            .query_row(
                "SELECT t.id, (SELECT count(*) FROM ticket_search s WHERE s.rowid = -t.number) \
             FROM tickets t WHERE t.number = ?1",
                [number],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .with_context(|| format!("acknowledged request {key} is missing"))?;
        assert_eq!(search, 1, "{key} has no search row");
        for f in files {
            let linked: String = conn
                .query_row(
                    "SELECT ticket_id FROM attachments WHERE id = ?1 AND state = 'ready'",
                    [f],
                    |r| r.get(0),
                )
                .with_context(|| format!("file {f} of {key}"))?;
            assert_eq!(linked, id, "file {f} of {key}");
        }
    }
    for (cid, (key, file)) in &acked.comments {
        let n: i64 = conn.query_row(
            "SELECT count(*) FROM ticket_activity WHERE id = ?1 AND kind = 'comment'",
            [cid],
            |r| r.get(0),
        )?;
        assert_eq!(n, 1, "acknowledged comment {cid} on {key} is missing");
        if let Some(f) = file {
            let on: String = conn.query_row(
                "SELECT activity_id FROM attachments WHERE id = ?1 AND state = 'ready'",
                [f],
                |r| r.get(0),
            )?;
            assert_eq!(&on, cid, "file {f} of comment {cid}");
        }
    }
    for id in &acked.approvals {
        let (status, access): (String, String) = conn.query_row(
            "SELECT r.status, m.access FROM access_requests r JOIN memberships m \
             ON m.user_id = r.user_id WHERE r.id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        assert_eq!(
            (status.as_str(), access.as_str()),
            ("approved", "approved"),
            "{id}"
        );
    }
    // Nothing half-written, acknowledged or not: every request has its search
    // row, every comment its search row, every linked file is published.
    let (tickets, unindexed): (i64, i64) = conn.query_row(
        "SELECT count(*), count(*) FILTER (WHERE NOT EXISTS \
         (SELECT 1 FROM ticket_search s WHERE s.rowid = -t.number)) FROM tickets t",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    assert_eq!(unindexed, 0, "requests without their search row");
    assert!(tickets as usize >= acked.raises.len());
    let loose: i64 = conn.query_row(
        "SELECT count(*) FROM attachments WHERE ticket_id IS NOT NULL AND state <> 'ready'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(loose, 0, "linked files that are not published");

    // Every acknowledged upload: its chunks, and its bytes through the app.
    let chunks = chunk_map(state.path())?;
    for (id, (answered, sent, size)) in &acked.uploads {
        assert_eq!(answered, sent, "upload {id} was answered with another hash");
        let (count, stored_size, sha): (i64, i64, String) = conn
            .query_row(
                "SELECT chunks, size, sha256 FROM attachments WHERE id = ?1 AND state = 'ready'",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .with_context(|| format!("acknowledged upload {id} is missing"))?;
        assert_eq!((stored_size as usize, &sha), (*size, sent), "upload {id}");
        let want: BTreeSet<i64> = (0..count).collect();
        assert_eq!(
            chunks.get(id).cloned().unwrap_or_default(),
            want,
            "chunks of {id}"
        );
    }
    // Downloads of a few, by their uploader (customer 0's own files).
    let mine: Vec<&String> = acked
        .uploads
        .keys()
        .filter(|id| {
            conn.query_row(
                "SELECT uploader_id FROM attachments WHERE id = ?1",
                [id.as_str()],
                |r| r.get::<_, String>(0),
            )
            .is_ok_and(|u| u == customers[0])
        })
        .take(4)
        .collect();
    for id in mine {
        let r = customer.get(&format!("/api/attachments/{id}")).await?;
        assert_eq!(r.status, 200, "download {id}");
        assert_eq!(
            hex(&Sha256::digest(&r.body)),
            acked.uploads[id].1,
            "bytes of {id}"
        );
    }
    // Every chunk belongs to a row: a chunk without one could never be found
    // again (key-value cannot be listed cheaply; rows are written first).
    let rows: BTreeSet<String> = conn
        .prepare("SELECT id FROM attachments")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let orphans: Vec<&String> = chunks.keys().filter(|id| !rows.contains(*id)).collect();
    assert!(orphans.is_empty(), "chunks without a row: {orphans:?}");

    // ---- the cleanup: a day passes for what was never linked (the
    // uploads the kill cut off, and files whose request or comment never
    // came), then uploads run the cleanup after answering, 8 rows a time.
    conn.execute(
        "UPDATE attachments SET created_at = created_at - 86401 WHERE ticket_id IS NULL",
        [],
    )?;
    let stale = || -> anyhow::Result<i64> {
        Ok(conn.query_row(
            "SELECT count(*) FROM attachments WHERE ticket_id IS NULL AND created_at < ?1",
            [now() - 86_000],
            |r| r.get(0),
        )?)
    };
    let stale_before = stale()?;
    let mut fresh = BTreeSet::new();
    for _ in 0..40 {
        if stale()? == 0 {
            break;
        }
        let r = upload(&customer, b"cleanup trigger").await?;
        assert_eq!(r.status, 201, "{}", r.text());
        fresh.insert(
            r.json()?["items"][0]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(stale()?, 0, "cleanup left abandoned uploads");
    let chunks = chunk_map(state.path())?;
    let mut stmt =
        conn.prepare("SELECT id, chunks, state, ticket_id IS NOT NULL FROM attachments")?;
    let live: HashMap<String, (i64, String, bool)> = stmt
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))?
        .collect::<Result<_, _>>()?;
    for (id, nums) in &chunks {
        let Some((count, state, linked)) = live.get(id) else {
            panic!("chunks of {id} survived the cleanup without a row");
        };
        assert_eq!(state, "ready", "{id}");
        assert!(
            *linked || fresh.contains(id),
            "unlinked {id} survived the cleanup"
        );
        assert_eq!(
            nums,
            &(0..*count).collect::<BTreeSet<_>>(),
            "chunks of {id}"
        );
    }
    println!("cleanup removed {stale_before} abandoned uploads");

    // ---- the outbox resumes: ordinary requests run the due-check.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: i64 = conn.query_row(
            "SELECT (SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')) \
             + (SELECT count(*) FROM outbox_fanout)",
            [],
            |r| r.get(0),
        )?;
        if waiting == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{waiting} mails still waiting after the restart"
        );
        let r = customer.get("/api/requests?created_by=me").await?;
        assert_eq!(r.status, 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let failed: i64 = conn.query_row(
        "SELECT count(*) FROM outbox WHERE state = 'failed'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(failed, 0, "mail failed");
    let outbox: BTreeSet<String> = conn
        .prepare("SELECT id FROM outbox")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for m in relay.messages() {
        *seen
            .entry(m.body["id"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    let missing: Vec<&String> = outbox.iter().filter(|id| !seen.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "delivered mail the relay never saw: {missing:?}"
    );
    let unknown: Vec<&String> = seen.keys().filter(|id| !outbox.contains(*id)).collect();
    assert!(
        unknown.is_empty(),
        "the relay saw mail the outbox never had: {unknown:?}"
    );
    let twice: Vec<&String> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    for id in &twice {
        assert_eq!(seen[*id], 2, "{id} went out more than twice");
        assert!(
            in_flight.contains(*id),
            "{id} went out twice but was not being sent when the host died"
        );
    }
    // Each acknowledged request's "we received it" mail went out.
    for key in acked.raises.keys() {
        let n: i64 = conn.query_row(
            "SELECT count(*) FROM outbox WHERE kind = 'request.created' AND state = 'delivered' \
             AND subject LIKE '[' || ?1 || ']%'",
            [key],
            |r| r.get(0),
        )?;
        assert_eq!(n, 1, "the mail for {key}");
    }
    println!(
        "mail: {} messages, {} in flight at the kill, {} delivered twice (same id); {:.1} s in all",
        outbox.len(),
        in_flight.len(),
        twice.len(),
        started.elapsed().as_secs_f64()
    );
    drop(stmt);
    drop(conn);
    host.kill()?;
    Ok(())
}
