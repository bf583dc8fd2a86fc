//! `edgedesk bench --scenario desk`: issue 8's budgets, measured the way a
//! platform team would see them.
//!
//! The app and the hello floor (`tests/fixtures/hello`) each run in a child
//! `edgedesk up` process, so the resident memory reported is the serving
//! host's alone (sampled from `/proc/<pid>/status` every 20 ms, plus the
//! kernel's high-water mark), and the load generator's CPU is not the host's.
//! The floor is measured in the same run, first, and every throughput is also
//! given as a share of it.
//!
//! The desk is seeded the only way a bench can without mail: rows written
//! straight into the app's database (1,000 organizations, each with one
//! approved customer holding a signed-in session, and 100,000 requests, 100
//! per customer), which is why it runs only on a temporary state directory
//! the bench made, never on a real deployment's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::Full;

use crate::bench::{self, PathStats};
use crate::bench_transfer::{hex, random_token};
use crate::proc_stats::{RssPeak, context_switches, cpu_seconds, status_kib};

const ORGANIZATIONS: i64 = 1000;
const REQUESTS: i64 = 100_000;
const WORDS: [&str; 8] = [
    "invoice",
    "password",
    "auction",
    "certificate",
    "guarantee",
    "transfer",
    "login",
    "feed",
];

/// What the scenario needs to start its two children.
pub struct DeskOptions {
    /// The `edgedesk` binary to run as the children (this one).
    pub exe: PathBuf,
    /// The desk's spin.toml.
    pub app: PathBuf,
    /// The hello floor's spin.toml (or its folder).
    pub floor: PathBuf,
    /// Seconds per measured load.
    pub duration: Duration,
}

/// A child `edgedesk up`, killed when dropped.
struct Child {
    process: std::process::Child,
    addr: SocketAddr,
}

impl Child {
    fn spawn(exe: &Path, from: &Path, state_dir: &Path) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let process = std::process::Command::new(exe)
            .arg("up")
            .arg("--from")
            .arg(from)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--state-dir")
            .arg(state_dir)
            .arg("--quiet")
            .stdout(std::process::Stdio::null())
            // The app's mail goes to its log: not this report's business.
            .stderr(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        Ok(Child { process, addr })
    }

    fn pid(&self) -> u32 {
        self.process.id()
    }

    async fn ready(&mut self, path: &str) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            if let Some(status) = self.process.try_wait()? {
                bail!("the host at {} exited early: {status}", self.addr);
            }
            if let Ok(req) = get(self.addr, path, None)
                && let Ok((status, _)) = once(self.addr, req).await
                && status < 500
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "the host at {} did not answer {path} in 2 minutes",
            self.addr
        )
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// One request on a fresh connection: the status and body.
async fn once(addr: SocketAddr, req: http::Request<Full<Bytes>>) -> anyhow::Result<(u16, Bytes)> {
    use http_body_util::BodyExt as _;
    let mut s = bench::connect(addr).await?;
    s.ready().await?;
    let resp = s.send_request(req).await?;
    let status = resp.status().as_u16();
    Ok((status, resp.into_body().collect().await?.to_bytes()))
}

fn get(
    addr: SocketAddr,
    path: &str,
    cookie: Option<&str>,
) -> http::Result<http::Request<Full<Bytes>>> {
    let mut b = http::Request::get(path).header(http::header::HOST, addr.to_string());
    if let Some(c) = cookie {
        b = b.header(http::header::COOKIE, c);
    }
    b.body(Full::new(Bytes::new()))
}

/// A signed-in desk user written into the database.
#[derive(Clone)]
struct Session {
    cookie: String,
    csrf: String,
}

/// A signed-in session for `user_id`, last seen `seen_ago` seconds before
/// `now`.
fn session(
    tx: &rusqlite::Transaction<'_>,
    user_id: &str,
    now: i64,
    seen_ago: i64,
) -> anyhow::Result<Session> {
    use sha2::Digest as _;
    let (token, csrf) = (random_token()?, random_token()?);
    tx.execute(
        "INSERT INTO sessions (token_hash, user_id, stage, csrf_token, remember, created_at, \
         last_seen_at, expires_at, second_factor_at) VALUES (?1, ?2, 'full', ?3, 0, ?4, ?5, ?6, ?4)",
        rusqlite::params![
            hex(&sha2::Sha256::digest(token.as_bytes())),
            user_id,
            csrf,
            now,
            now - seen_ago,
            now + 6 * 3600
        ],
    )?;
    Ok(Session {
        cookie: format!("edgedesk_session={token}"),
        csrf,
    })
}

struct Seeded {
    customers: Vec<Session>,
    operator: Session,
}

/// Waits for the app's schema (the first request that opens the database
/// migrates it), then writes the desk's people and requests in one transaction.
async fn seed(addr: SocketAddr, db_path: &Path) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    loop {
        once(addr, get(addr, "/api/session", None)?).await?;
        let db = rusqlite::Connection::open(db_path)?;
        let ready: i64 = db.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'tickets'",
            [],
            |r| r.get(0),
        )?;
        if ready > 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the app did not create its schema in a minute");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut db = rusqlite::Connection::open(db_path)?;
    db.busy_timeout(Duration::from_secs(10))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let topic: String = db.query_row(
        "SELECT id FROM request_types ORDER BY position LIMIT 1",
        [],
        |r| r.get(0),
    )?;
    let tx = db.transaction()?;
    for o in 0..ORGANIZATIONS {
        tx.execute(
            "INSERT INTO organizations (id, name, name_key, state, created_at, updated_at) \
             VALUES ('org' || ?1, 'Org ' || ?1, 'org' || ?1, 'approved', ?2, ?2)",
            rusqlite::params![o, now],
        )?;
        tx.execute(
            "INSERT INTO users (id, username, email, full_name, password_hash, role, \
             email_confirmed_at, created_at, updated_at) VALUES ('c' || ?1, 'c' || ?1, \
             'c' || ?1 || '@bench.example', 'Customer ' || ?1, '!', 'customer', ?2, ?2, ?2)",
            rusqlite::params![o, now],
        )?;
        tx.execute(
            "INSERT INTO memberships (user_id, organization_id, access, created_at, updated_at) \
             VALUES ('c' || ?1, 'org' || ?1, 'approved', ?2, ?2)",
            rusqlite::params![o, now],
        )?;
    }
    tx.execute(
        "INSERT INTO users (id, username, email, full_name, password_hash, role, \
         email_confirmed_at, created_at, updated_at) VALUES ('bench-operator', 'bench-operator', \
         'operator@bench.example', 'Bench Operator', '!', 'operator', ?1, ?1, ?1)",
        [now],
    )?;
    for n in 1..=REQUESTS {
        let o = n % ORGANIZATIONS;
        let status = ["open", "in_progress", "answered", "closed"][(n % 4) as usize];
        let waiting = (n % 4 < 2).then_some(now - REQUESTS + n);
        let summary = format!("Request {n} about {}", WORDS[(n % 8) as usize]);
        let at = now - REQUESTS + n;
        tx.execute(
            "INSERT INTO tickets (id, number, request_type_id, summary, description, status, \
             visibility, customer_id, raised_by, organization_id, created_at, updated_at, \
             last_activity_at, waiting_since) VALUES ('t' || ?1, ?1, ?2, ?3, 'Seeded description', \
             ?4, 'organization', 'c' || ?5, 'c' || ?5, 'org' || ?5, ?6, ?6, ?6, ?7)",
            rusqlite::params![n, topic, summary, status, o, at, waiting],
        )?;
        tx.execute(
            "INSERT INTO ticket_participants (ticket_id, user_id, muted, added_at) \
             VALUES ('t' || ?1, 'c' || ?2, 0, ?3)",
            rusqlite::params![n, o, at],
        )?;
        tx.execute(
            "INSERT INTO ticket_search (rowid, body) VALUES (-?1, ?2)",
            rusqlite::params![n, format!("SD-{n}\n{summary}\nSeeded description")],
        )?;
    }
    tx.execute(
        "UPDATE ticket_sequence SET last = ?1 WHERE name = 'tickets'",
        [REQUESTS],
    )?;
    // Sessions last, as of the end of seeding (which takes most of a
    // minute), and last seen at staggered times over the past minute, as a
    // desk's signed-in people are: a session is touched at most once a
    // minute (core::session), so the loads see the steady ~1,000 touches a
    // minute of 1,000 active people. All seen at seeding's start, every one
    // of them came due together, in the middle of "my requests" at c16.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let mut customers = Vec::new();
    for o in 0..ORGANIZATIONS {
        customers.push(session(&tx, &format!("c{o}"), now, o % 60)?);
    }
    let operator = session(&tx, "bench-operator", now, 0)?;
    tx.commit()?;
    // The seeding went to the write-ahead log (the app keeps the file in WAL
    // mode): 50 MB that the host's checkpoint thread would otherwise copy
    // into the file during the first loads, while every read looked its
    // pages up in the log's index. Seeding ends with the log folded in.
    db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(Seeded {
        customers,
        operator,
    })
}

/// One measured load and the budget it answers to.
struct Row {
    stats: PathStats,
    /// The serving host's CPU per answered request, in µs.
    cpu_us: f64,
    /// The serving host's context switches per answered request.
    switches: f64,
    connections: usize,
    budget: &'static str,
    met: Option<bool>,
}

fn pick(customers: usize, conn: usize, i: u64) -> usize {
    // Spread each connection's calls over all customers: the per-account
    // limits see what many people at once would send, not one person's flood.
    ((conn as u64 * 7919 + i * 104_729) % customers as u64) as usize
}

/// A budget a load answers to: its words in the report and its check.
type Budget<'a> = (&'static str, &'a dyn Fn(&PathStats) -> bool);

/// Runs one measured load, notes the host's CPU per answer, and checks the
/// load against its budget (the floor has none).
async fn measured(
    pid: u32,
    addr: SocketAddr,
    label: &str,
    connections: usize,
    duration: Duration,
    make: impl bench::MakeRequest,
    budget: Option<Budget<'_>>,
) -> anyhow::Result<Row> {
    let (before, switched) = (cpu_seconds(pid), context_switches(pid));
    let stats = bench::run_requests(addr, &[label.to_owned()], connections, duration, make)
        .await?
        .remove(0);
    let answers = stats.requests.max(1) as f64;
    let cpu_us = (cpu_seconds(pid) - before) * 1e6 / answers;
    let switches = context_switches(pid).saturating_sub(switched) as f64 / answers;
    Ok(Row {
        met: budget.map(|(_, check)| check(&stats)),
        budget: budget.map_or("", |(words, _)| words),
        stats,
        cpu_us,
        switches,
        connections,
    })
}

/// Runs the scenario and returns its report.
pub async fn run(opts: DeskOptions) -> anyhow::Result<String> {
    let app_dir = tempfile::tempdir()?;
    let floor_dir = tempfile::tempdir()?;
    let mut app = Child::spawn(&opts.exe, &opts.app, app_dir.path())?;
    let mut floor = Child::spawn(&opts.exe, &opts.floor, floor_dir.path())?;
    app.ready("/api/health").await?;
    floor.ready("/").await?;
    let db_path = app_dir
        .path()
        .join(crate::runtime_config::DEFAULT_SQLITE_FILE);
    let seeded_at = Instant::now();
    let seeded = Arc::new(seed(app.addr, &db_path).await?);
    let mut out = format!(
        "desk seeded in {:.1} s: {ORGANIZATIONS} organizations, {REQUESTS} requests\n",
        seeded_at.elapsed().as_secs_f64()
    );
    let d = opts.duration;
    let warm = Duration::from_secs(1);
    let mut rows = Vec::new();
    let host = app.addr;

    // The floor first, in this run: the shares below are of this figure.
    let floor_addr = floor.addr;
    let hello = move |_: usize, _: u64| (0, get(floor_addr, "/", None));
    bench::run_requests(floor_addr, &["/".into()], 16, warm, hello).await?;
    let floor_row = measured(
        floor.pid(),
        floor_addr,
        "hello floor GET /",
        16,
        d,
        hello,
        None,
    )
    .await?;
    let idle_kib = status_kib(app.pid(), "VmRSS:");
    let parts = |pid: u32| {
        format!(
            "anonymous {:.1} MiB, file {:.1} MiB, shared {:.1} MiB",
            status_kib(pid, "RssAnon:") as f64 / 1024.0,
            status_kib(pid, "RssFile:") as f64 / 1024.0,
            status_kib(pid, "RssShmem:") as f64 / 1024.0
        )
    };
    let idle_parts = parts(app.pid());
    let watch = RssPeak::start(app.pid(), Duration::from_millis(20));

    let mine = {
        let s = seeded.clone();
        move |conn: usize, i: u64| {
            let c = &s.customers[pick(s.customers.len(), conn, i)];
            (
                0,
                get(
                    host,
                    "/api/requests?created_by=me&status=any",
                    Some(&c.cookie),
                ),
            )
        }
    };
    bench::run_requests(host, &["warm".into()], 16, warm, mine.clone()).await?;
    let my_requests = "GET /api/requests?created_by=me";
    let mut mine_16 = measured(app.pid(), host, my_requests, 16, d, mine.clone(), None).await?;
    // The floor again right after: the share is of the mean of the two
    // samples that bracket it, so the machine's drift over the minutes
    // between them (a third on a shared machine) does not decide it.
    let floor_after = measured(
        floor.pid(),
        floor_addr,
        "hello floor GET / (again)",
        16,
        d,
        hello,
        None,
    )
    .await?;
    drop(floor);
    let floor_rate =
        ((floor_row.stats.requests_per_sec + floor_after.stats.requests_per_sec) / 2.0).max(1.0);
    mine_16.budget = "≥ 35% of the floors";
    mine_16.met =
        Some(mine_16.stats.requests_per_sec / floor_rate >= 0.35 && mine_16.stats.errors == 0);
    rows.push(mine_16);
    let p99_10 = |s: &PathStats| s.p99 < Duration::from_millis(10) && s.errors == 0;
    let budget = Some(("p99 < 10 ms", &p99_10 as &dyn Fn(&PathStats) -> bool));
    rows.push(measured(app.pid(), host, my_requests, 2, d, mine, budget).await?);
    let op = seeded.operator.clone();
    let queue = move |_: usize, _: u64| (0, get(host, "/api/agent/requests", Some(&op.cookie)));
    let label = "GET /api/agent/requests (queue)";
    rows.push(measured(app.pid(), host, label, 2, d, queue, budget).await?);
    let op = seeded.operator.clone();
    let search = move |_: usize, i: u64| {
        let q = ["certificate", "guarantee", "password%20transfer", "SD-4242"][(i % 4) as usize];
        let path = format!("/api/agent/requests?status=any&q={q}");
        (0, get(host, &path, Some(&op.cookie)))
    };
    let p99_50 = |s: &PathStats| s.p99 < Duration::from_millis(50) && s.errors == 0;
    let budget = Some(("p99 < 50 ms", &p99_50 as &dyn Fn(&PathStats) -> bool));
    let label = "GET /api/agent/requests?q= (search)";
    rows.push(measured(app.pid(), host, label, 2, d, search, budget).await?);

    let count = |path: &Path| -> anyhow::Result<i64> {
        let db = rusqlite::Connection::open(path)?;
        Ok(db.query_row("SELECT count(*) FROM tickets", [], |r| r.get(0))?)
    };
    let before = count(&db_path)?;
    let raise = {
        let s = seeded.clone();
        move |conn: usize, i: u64| {
            let c = &s.customers[pick(s.customers.len(), conn, i)];
            let body = format!(
                "{{\"request_type\":\"registration\",\"summary\":\"Bench {conn}-{i}\",\"visibility\":\"private\"}}"
            );
            (
                0,
                post(
                    host,
                    "/api/requests",
                    Some(c),
                    "application/json",
                    Bytes::from(body),
                ),
            )
        }
    };
    let label = "POST /api/requests (raise)";
    let rate = |s: &PathStats| s.errors == 0 && s.non_2xx == 0 && s.requests_per_sec >= 500.0;
    let budget = Some(("≥ 500/s, 0 errors", &rate as &dyn Fn(&PathStats) -> bool));
    rows.push(measured(app.pid(), host, label, 16, d, raise.clone(), budget).await?);
    let p99_20 =
        |s: &PathStats| s.errors == 0 && s.non_2xx == 0 && s.p99 < Duration::from_millis(20);
    let budget = Some(("p99 < 20 ms", &p99_20 as &dyn Fn(&PathStats) -> bool));
    rows.push(measured(app.pid(), host, label, 2, d, raise, budget).await?);
    let created_ok: u64 = rows[rows.len() - 2..].iter().map(|r| r.stats.ok).sum();
    let rows_created = count(&db_path)? - before;
    let peak_kib = watch.finish();
    let hwm_kib = status_kib(app.pid(), "VmHWM:");
    let end_parts = parts(app.pid());

    out.push_str(&format!(
        "{:<40} {:>5} {:>9} {:>9} {:>9} {:>7} {:>7} {:>8} {:>8} {:>6}  {:<20} {}\n",
        "load",
        "conns",
        "req/s",
        "p50",
        "p99",
        "errors",
        "non-2xx",
        "floor%",
        "cpu/req",
        "cs/req",
        "budget",
        "met"
    ));
    let mut line = |r: &Row| {
        let s = &r.stats;
        out.push_str(&format!(
            "{:<40} {:>5} {:>9.1} {:>7.2}ms {:>7.2}ms {:>7} {:>7} {:>7.1}% {:>6.0}µs {:>6.2}  {:<20} {}\n",
            s.path,
            r.connections,
            s.requests_per_sec,
            s.p50.as_secs_f64() * 1e3,
            s.p99.as_secs_f64() * 1e3,
            s.errors,
            s.non_2xx,
            s.requests_per_sec * 100.0 / floor_rate,
            r.cpu_us,
            r.switches,
            r.budget,
            match r.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "",
            }
        ));
    };
    line(&floor_row);
    line(&floor_after);
    for r in &rows {
        line(r);
    }
    let mib = |k: u64| k as f64 / 1024.0;
    out.push_str(&format!(
        "floor% is of {floor_rate:.1}/s, the mean of the two hello samples\n"
    ));
    out.push_str(&format!(
        "requests created {rows_created} = 2xx answers {created_ok}: {}\n\
         host resident memory: {:.1} MiB idle after seeding, peak {:.1} MiB during the loads \
         (kernel high-water mark {:.1} MiB); budget ≤ 64 MiB: {}\n\
         resident at idle: {idle_parts}; after the loads: {end_parts}\n",
        if rows_created == created_ok as i64 {
            "yes"
        } else {
            "NO"
        },
        mib(idle_kib),
        mib(peak_kib),
        mib(hwm_kib),
        if peak_kib <= 64 * 1024 { "yes" } else { "NO" },
    ));
    Ok(out)
}

/// The password every seeded customer signs in with in the mixed scenario.
const MIXED_PASSWORD: &str = "bench-mixed-password-2026";

/// The mixed scenario's operations, in the order they are reported.
const MIXED_OPS: [&str; 7] = [
    "sign-in POST /api/auth/login",
    "list GET /api/requests?created_by=me",
    "search GET /api/requests?q=",
    "raise POST /api/requests",
    "comment POST /api/requests/{key}/comments",
    "upload POST /api/attachments (16 KiB)",
    "download GET /api/attachments/{id}",
];

/// Which operation call `i` makes: of every 20 calls, 1 sign-in, 6 lists,
/// 2 searches, 3 raises, 3 comments, 2 uploads and 3 downloads.
fn mixed_op(i: u64) -> usize {
    match i % 20 {
        0 => 0,
        1..=6 => 1,
        7 | 8 => 2,
        9..=11 => 3,
        12..=14 => 4,
        15 | 16 => 5,
        _ => 6,
    }
}

const UPLOAD_BOUNDARY: &str = "edgedesk-bench-mixed";

fn upload_body(n: u64) -> Bytes {
    let mut body = format!(
        "--{UPLOAD_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"note-{n}.txt\"\r\n\
         Content-Type: text/plain\r\n\r\n"
    )
    .into_bytes();
    body.extend(std::iter::repeat_n(b'a' + (n % 26) as u8, 16 * 1024));
    body.extend(format!("\r\n--{UPLOAD_BOUNDARY}--\r\n").into_bytes());
    Bytes::from(body)
}

fn post(
    addr: SocketAddr,
    path: &str,
    who: Option<&Session>,
    content_type: &str,
    body: Bytes,
) -> http::Result<http::Request<Full<Bytes>>> {
    let mut b = http::Request::post(path)
        .header(http::header::HOST, addr.to_string())
        .header(http::header::CONTENT_TYPE, content_type);
    if let Some(s) = who {
        b = b
            .header(http::header::COOKIE, s.cookie.as_str())
            .header("x-csrf-token", s.csrf.as_str());
    }
    b.body(Full::new(body))
}

/// A request customer `o` raised in the seed that takes comments: customer
/// `o` has requests `o + 1000k`, all with the status of `o % 4`, and status 3
/// (closed) refuses comments, so those customers comment on a neighbour's
/// comment as the customer before them, on that customer's request.
fn open_request_of(o: usize, i: u64) -> (usize, i64) {
    let o = if o % 4 == 3 { o - 1 } else { o };
    let k = 1 + (i % 99) as i64;
    (o, o as i64 + ORGANIZATIONS * k)
}

/// `edgedesk bench --scenario mixed`: issue 11's mixed load. Sign-in, list,
/// search, raise, comment, upload and download, interleaved on every
/// connection (64 by default), over the seeded desk, for the duration.
pub async fn run_mixed(opts: DeskOptions, connections: usize) -> anyhow::Result<String> {
    let app_dir = tempfile::tempdir()?;
    let mut app = Child::spawn(&opts.exe, &opts.app, app_dir.path())?;
    app.ready("/api/health").await?;
    let db_path = app_dir
        .path()
        .join(crate::runtime_config::DEFAULT_SQLITE_FILE);
    let seeded = seed(app.addr, &db_path).await?;
    // One password hash for every customer (argon2id, the app's default
    // parameters are in the PHC string the app verifies with).
    let phc = {
        use argon2::password_hash::{PasswordHasher as _, SaltString};
        let salt = SaltString::encode_b64(random_token()?.as_bytes().get(..16).unwrap_or_default())
            .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        argon2::Argon2::default()
            .hash_password(MIXED_PASSWORD.as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("hash: {e}"))?
            .to_string()
    };
    rusqlite::Connection::open(&db_path)?.execute(
        "UPDATE users SET password_hash = ?1 WHERE role = 'customer'",
        [&phc],
    )?;
    let host = app.addr;
    // Files to download: one upload per customer of the first 200, each
    // downloadable by its uploader.
    let mut files = Vec::new();
    for o in 0..200usize {
        let who = &seeded.customers[o];
        let req = post(
            host,
            "/api/attachments",
            Some(who),
            &format!("multipart/form-data; boundary={UPLOAD_BOUNDARY}"),
            upload_body(o as u64),
        )?;
        let (status, body) = once(host, req).await?;
        if status != 201 && status != 200 {
            bail!(
                "seeding an upload answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let text = String::from_utf8_lossy(&body);
        let id = text
            .split("\"id\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .context("the upload answer names no id")?
            .to_owned();
        files.push((o, id));
    }
    let count = |table: &str| -> anyhow::Result<i64> {
        let db = rusqlite::Connection::open(&db_path)?;
        Ok(db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
    };
    let (tickets_before, comments_before, files_before) = (
        count("tickets")?,
        count("ticket_activity WHERE kind = 'comment'")?,
        count("attachments")?,
    );
    let customers = Arc::new(seeded.customers);
    let files = Arc::new(files);
    let make = {
        let customers = customers.clone();
        move |conn: usize, i: u64| {
            let op = mixed_op(i);
            let o = pick(customers.len(), conn, i / 20 * 20 + (i % 20) * 7);
            let who = &customers[o];
            let json = "application/json";
            let req = match op {
                0 => post(
                    host,
                    "/api/auth/login",
                    None,
                    json,
                    Bytes::from(format!(
                        "{{\"login\":\"c{o}\",\"password\":\"{MIXED_PASSWORD}\"}}"
                    )),
                ),
                1 => get(
                    host,
                    "/api/requests?created_by=me&status=any",
                    Some(&who.cookie),
                ),
                2 => {
                    let q = WORDS[(i / 20 % 8) as usize];
                    get(
                        host,
                        &format!("/api/requests?status=any&q={q}"),
                        Some(&who.cookie),
                    )
                }
                3 => post(
                    host,
                    "/api/requests",
                    Some(who),
                    json,
                    Bytes::from(format!(
                        "{{\"request_type\":\"registration\",\"summary\":\"Mixed {conn}-{i}\",\"visibility\":\"private\"}}"
                    )),
                ),
                4 => {
                    let (o, n) = open_request_of(o, i);
                    post(
                        host,
                        &format!("/api/requests/SD-{n}/comments"),
                        Some(&customers[o]),
                        json,
                        Bytes::from(format!("{{\"body\":\"Mixed comment {conn}-{i}\"}}")),
                    )
                }
                5 => post(
                    host,
                    "/api/attachments",
                    Some(who),
                    &format!("multipart/form-data; boundary={UPLOAD_BOUNDARY}"),
                    upload_body(i),
                ),
                _ => {
                    let (o, id) = &files[(i as usize / 20 + conn) % files.len()];
                    get(
                        host,
                        &format!("/api/attachments/{id}"),
                        Some(&customers[*o].cookie),
                    )
                }
            };
            (op, req)
        }
    };
    let labels: Vec<String> = MIXED_OPS.iter().map(|s| (*s).to_owned()).collect();
    let idle_kib = status_kib(app.pid(), "VmRSS:");
    let watch = RssPeak::start(app.pid(), Duration::from_millis(20));
    let cpu_before = cpu_seconds(app.pid());
    let stats = bench::run_requests(host, &labels, connections, opts.duration, make).await?;
    let cpu = cpu_seconds(app.pid()) - cpu_before;
    let peak_kib = watch.finish();
    let created = |label: usize| stats.get(label).map_or(0, |s| s.ok) as i64;
    let (tickets, comments, uploads) = (
        count("tickets")? - tickets_before,
        count("ticket_activity WHERE kind = 'comment'")? - comments_before,
        count("attachments")? - files_before,
    );
    let total: u64 = stats.iter().map(|s| s.requests).sum();
    let errors: u64 = stats.iter().map(|s| s.errors + s.non_2xx).sum();
    let mut out = format!(
        "mixed load: {connections} connections for {:.0} s over {ORGANIZATIONS} organizations and {REQUESTS} requests\n\
         {:<44} {:>8} {:>9} {:>9} {:>9} {:>7} {:>7}\n",
        opts.duration.as_secs_f64(),
        "operation",
        "answers",
        "per s",
        "p50",
        "p99",
        "errors",
        "non-2xx"
    );
    for s in &stats {
        out.push_str(&format!(
            "{:<44} {:>8} {:>9.1} {:>7.2}ms {:>7.2}ms {:>7} {:>7}\n",
            s.path,
            s.requests,
            s.requests_per_sec,
            s.p50.as_secs_f64() * 1e3,
            s.p99.as_secs_f64() * 1e3,
            s.errors,
            s.non_2xx
        ));
    }
    let mib = |k: u64| k as f64 / 1024.0;
    out.push_str(&format!(
        "all: {total} answers, {:.1}/s, {errors} errors or non-2xx (budget 0): {}; host CPU {:.0} µs per answer\n\
         rows created = 2xx answers: requests {tickets} = {}, comments {comments} = {}, files {uploads} = {}: {}\n\
         host resident memory: {:.1} MiB idle, peak {:.1} MiB during the load\n",
        total as f64 / opts.duration.as_secs_f64().max(0.001),
        if errors == 0 { "yes" } else { "NO" },
        cpu * 1e6 / total.max(1) as f64,
        created(3),
        created(4),
        created(5),
        if tickets == created(3) && comments == created(4) && uploads == created(5) {
            "yes"
        } else {
            "NO"
        },
        mib(idle_kib),
        mib(peak_kib),
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_has_every_operation_in_its_share() {
        let mut seen = [0; MIXED_OPS.len()];
        for i in 0..20 {
            seen[mixed_op(i)] += 1;
        }
        assert_eq!(seen, [1, 6, 2, 3, 3, 2, 3]);
    }

    #[test]
    fn comments_go_to_a_seeded_request_that_is_not_closed() {
        for o in 0..1000 {
            for i in 0..200 {
                let (owner, n) = open_request_of(o, i);
                assert!((1..=REQUESTS).contains(&n));
                assert_eq!(n % ORGANIZATIONS, owner as i64);
                assert_ne!(n % 4, 3, "request {n} is seeded closed");
            }
        }
    }

    #[test]
    fn consecutive_calls_of_a_connection_go_to_different_customers() {
        for conn in 0..16 {
            let picked: std::collections::HashSet<usize> =
                (0..1000).map(|i| pick(1000, conn, i)).collect();
            // 104,729 is prime, so a connection's first 1,000 calls visit
            // every customer once: no account sees more than its share.
            assert_eq!(picked.len(), 1000);
        }
    }
}
