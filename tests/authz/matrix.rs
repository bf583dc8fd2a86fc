//! The authorization matrix (issue 11 part 1): every operation of
//! `openapi.yaml` × every caller (world.rs) × ownership where the route
//! takes an id, against the expected answers written once in
//! `tests/authz/matrix.txt`.
//!
//! The operation list comes from `openapi.yaml`, so a new route fails this
//! test until it has its rows. Bodies are valid and minimal, so an answer is
//! about who asks, not about what they sent. A mutating cell that succeeds
//! uses its object up: the next caller gets a fresh one. What a cell does to
//! the caller themself (their session, password, name, second factor) is put
//! back from a snapshot taken before it, so every cell starts from the same
//! world.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context as _, bail};
use edgedesk_e2e::desk::PASSWORD;
use edgedesk_e2e::{TestResponse, Value, json, workspace_root};
use rusqlite::types::Value as Sql;

use crate::world::{CALLERS, Caller, World, sha256_hex, upload};

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];
pub const OWNERSHIPS: &[&str] = &["own", "shared", "private", "other"];

/// (METHOD, path template) of every operation in openapi.yaml.
pub fn operations() -> anyhow::Result<BTreeSet<(String, String)>> {
    let text = std::fs::read_to_string(workspace_root().join("openapi.yaml"))?;
    let spec: serde_yaml::Value = serde_yaml::from_str(&text)?;
    let mut out = BTreeSet::new();
    for (path, item) in spec["paths"].as_mapping().context("paths")? {
        let path = path.as_str().context("path")?.to_owned();
        for m in METHODS {
            if item.get(*m).is_some() {
                out.insert((m.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    Ok(out)
}

/// Routes whose id names something a customer owns (or not): their rows come
/// in the four ownerships.
pub fn owned(path: &str) -> bool {
    path.contains("{key}")
        || path.starts_with("/api/attachments/{id}")
        || path.starts_with("/api/access-requests/{id}")
}

/// An expected answer: an exact status or a class such as `2xx`.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    Exact(u16),
    Class(u16),
}

impl Expect {
    fn parse(s: &str) -> anyhow::Result<Expect> {
        if let Some(c) = s.strip_suffix("xx") {
            return Ok(Expect::Class(c.parse()?));
        }
        Ok(Expect::Exact(s.parse()?))
    }

    fn accepts(&self, status: u16) -> bool {
        match self {
            Expect::Exact(s) => *s == status,
            Expect::Class(c) => status / 100 == *c,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    pub method: String,
    pub path: String,
    pub target: String,
    pub expect: Vec<Expect>,
    pub line: usize,
}

/// Reads tests/authz/matrix.txt: a `callers:` line naming the columns, then
/// one row per line `METHOD PATH TARGET status…`; `#` starts a comment.
pub fn read_matrix() -> anyhow::Result<Vec<Row>> {
    let file = workspace_root().join("tests/authz/matrix.txt");
    let text = std::fs::read_to_string(&file).with_context(|| format!("{}", file.display()))?;
    let mut callers: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("callers:") {
            callers = Some(rest.split_whitespace().map(str::to_owned).collect());
            continue;
        }
        let cols = callers
            .as_ref()
            .context("matrix.txt: `callers:` must come first")?;
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 + cols.len() {
            bail!(
                "matrix.txt line {}: {} columns, expected {}",
                i + 1,
                f.len(),
                3 + cols.len()
            );
        }
        rows.push(Row {
            method: f[0].to_owned(),
            path: f[1].to_owned(),
            target: f[2].to_owned(),
            expect: f[3..]
                .iter()
                .map(|s| Expect::parse(s))
                .collect::<anyhow::Result<_>>()
                .with_context(|| format!("matrix.txt line {}", i + 1))?,
            line: i + 1,
        });
    }
    let cols = callers.context("matrix.txt has no `callers:` line")?;
    if cols != CALLERS {
        bail!("matrix.txt callers {cols:?} differ from the test's {CALLERS:?}");
    }
    Ok(rows)
}

/// The table and the document agree: every operation has its rows (four
/// ownerships where the route takes an owned id), and no row names an
/// operation the document lacks. Runs without the app: fails fast.
#[test]
fn every_operation_of_openapi_has_its_rows() -> anyhow::Result<()> {
    let ops = operations()?;
    let rows = read_matrix()?;
    let mut problems = Vec::new();
    let mut seen: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for r in &rows {
        let key = (r.method.clone(), r.path.clone());
        if !ops.contains(&key) {
            problems.push(format!(
                "line {}: {} {} is not in openapi.yaml",
                r.line, r.method, r.path
            ));
        }
        let targets = seen.entry(key).or_default();
        if targets.contains(&r.target) {
            problems.push(format!("line {}: duplicate row", r.line));
        }
        targets.push(r.target.clone());
    }
    for (method, path) in &ops {
        match seen.get(&(method.clone(), path.clone())) {
            None => problems.push(format!("{method} {path}: no row in tests/authz/matrix.txt")),
            Some(targets) if owned(path) => {
                for o in OWNERSHIPS {
                    if !targets.iter().any(|t| t == o) {
                        problems.push(format!("{method} {path}: no row for ownership {o}"));
                    }
                }
            }
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    Ok(())
}

/// What a cell sends: the concrete path and the body.
struct Call {
    path: String,
    body: Option<Value>,
    multipart: bool,
}

/// The object a row's path needs, made fresh when a cell used it up.
#[derive(Default, Clone)]
struct Fixture {
    id: String,
    /// A second id: the comment of `…/comments/{id}`, the member of
    /// `…/members/{user_id}`.
    sub: String,
}

async fn fixture(w: &World, row: &Row) -> anyhow::Result<Fixture> {
    let p = row.path.as_str();
    let t = row.target.as_str();
    let mut f = Fixture::default();
    w.clear_limits()?;
    if p.contains("{key}") {
        f.id = w.request(t, None).await?;
        if p.ends_with("/rating") {
            w.agent(
                &f.id,
                "transition",
                &json!({ "to": "answered", "resolution": "Done" }),
            )
            .await?;
        }
        if p.ends_with("/comments/{id}") {
            let r = w
                .agent(
                    &f.id,
                    "comments",
                    &json!({ "body": "A note", "internal": true }),
                )
                .await?;
            f.sub = r.json()?["id"].as_str().unwrap_or_default().to_owned();
        }
    } else if p.starts_with("/api/attachments/{id}") {
        f.id = w.attachment(t).await?;
    } else if p.starts_with("/api/access-requests/{id}") {
        f.id = w.access_request(t).await?;
    } else if p.starts_with("/api/admin/users/{id}") || p.contains("{user_id}/reset") {
        f.id = w.invited().await?.0;
    } else if p.starts_with("/api/admin/organizations/{id}") {
        f.id = w.organization().await?;
        if p.ends_with("{user_id}") {
            let (uid, username) = w.invited().await?;
            let r = w
                .boss
                .client
                .post_json(
                    &format!("/api/admin/organizations/{}/members", f.id),
                    &json!({ "login": username }),
                )
                .await?;
            if r.status != 200 {
                bail!("adding a member: {} {}", r.status, r.text());
            }
            f.sub = uid;
        }
    } else if p.starts_with("/api/admin/outbox/{id}") {
        f.id = w.failed_mail()?;
    } else if p.starts_with("/api/admin/request-types/{id}") {
        f.id = w.topic().await?;
    } else if p.starts_with("/api/2fa/devices/{id}") {
        f.id = w.device_of_bob()?;
    }
    Ok(f)
}

/// The concrete path and a valid minimal body for one cell.
async fn call(w: &World, row: &Row, f: &Fixture, questions: &[String]) -> anyhow::Result<Call> {
    let n = w.next();
    let path = row
        .path
        .replace("{key}", &f.id)
        .replace("{user_id}", if f.sub.is_empty() { &f.id } else { &f.sub })
        .replace("{method}", "totp");
    let path = if row.path.ends_with("/comments/{id}") {
        path.replace("{id}", &f.sub)
    } else {
        path.replace("{id}", &f.id)
    };
    let op = format!("{} {}", row.method, row.path);
    let query = match op.as_str() {
        "GET /api/notifications/unsubscribe"
        | "GET /api/access-requests/approve-link"
        | "GET /api/requests/rating-link" => "?token=not-a-real-token",
        _ => "",
    };
    let body = match op.as_str() {
        "POST /api/terms/accept" => json!({ "version": "2026-01" }),
        "POST /api/admin/users" => json!({
            "email": format!("invite{n}@invite.example"),
            "full_name": "Invited Person",
            "username": format!("invite{n}"),
        }),
        "POST /api/auth/signup" => json!({
            "email": format!("signup{n}@signup.example"),
            "username": format!("signup{n}"),
            "full_name": "Signing Up",
            "password": PASSWORD,
            "accept_terms_version": "2026-01",
        }),
        "POST /api/auth/confirm" => json!({ "token": "not-a-real-token" }),
        "POST /api/auth/login" => json!({ "login": "bob", "password": PASSWORD }),
        "POST /api/auth/password/forgot" => json!({ "login": "bob" }),
        "POST /api/auth/password/reset" => {
            json!({ "token": "not-a-real-token", "new_password": "another-velvet-cactus-77" })
        }
        "POST /api/auth/username/forgot" => json!({ "email": "bob@acme.example" }),
        "PATCH /api/profile" => json!({ "full_name": "Matrix Name" }),
        "POST /api/profile/password" => json!({
            "current_password": PASSWORD,
            "new_password": "another-velvet-cactus-77",
        }),
        "PATCH /api/notifications/preferences" => json!({ "comments": true }),
        "POST /api/notifications/unsubscribe"
        | "POST /api/access-requests/approve-link"
        | "POST /api/requests/rating-link" => json!({ "token": "not-a-real-token" }),
        "POST /api/2fa/totp/confirm" | "POST /api/2fa/email/confirm" => {
            json!({ "code": "000000" })
        }
        "POST /api/2fa/questions" => json!({ "answers": [
            { "question_id": questions[0], "answer": "a blue whale" },
            { "question_id": questions[1], "answer": "the paris one" },
            { "custom_question": "Name of the first ship?", "answer": "the black pearl" },
        ] }),
        "POST /api/2fa/webauthn/register" => json!({ "credential": {} }),
        "POST /api/2fa/primary" | "POST /api/2fa/challenge" => json!({ "method": "totp" }),
        "POST /api/2fa/verify" => json!({ "method": "totp", "code": "000000" }),
        "POST /api/admin/keys/check-link" => {
            json!({ "purpose": "approve", "token": "not-a-real-token" })
        }
        "POST /api/access-requests" => json!({ "company_name": "Acme" }),
        "POST /api/access-requests/{id}/decline" => json!({ "reason": "Not known here" }),
        "POST /api/admin/organizations" => json!({ "name": format!("Hooli {n}") }),
        "PATCH /api/admin/organizations/{id}" => json!({ "name": format!("Hooli {n}") }),
        "POST /api/admin/organizations/{id}/merge" => json!({ "into": w.organization().await? }),
        "POST /api/admin/organizations/{id}/members" => json!({ "login": w.invited().await?.1 }),
        "POST /api/requests" => json!({
            "request_type": "technical-support",
            "summary": format!("Matrix raise {n}"),
            "visibility": "private",
        }),
        "POST /api/requests/{key}/comments" => json!({ "body": "Matrix comment" }),
        "POST /api/requests/{key}/visibility" => json!({ "visibility": "organization" }),
        "POST /api/requests/{key}/mute" => json!({ "muted": true }),
        "POST /api/requests/{key}/rating" => json!({ "score": 4 }),
        "POST /api/agent/requests" => json!({
            "on_behalf_of": "ann",
            "request_type": "technical-support",
            "summary": format!("On behalf {n}"),
        }),
        "POST /api/agent/requests/{key}/assign" => json!({ "assignee_id": null }),
        "POST /api/agent/requests/{key}/transition" => json!({ "to": "in_progress" }),
        "POST /api/agent/requests/{key}/comments" => json!({ "body": "Agent reply" }),
        "PATCH /api/agent/requests/{key}/comments/{id}" => json!({ "body": "Edited note" }),
        "POST /api/admin/request-types" => json!({ "name": format!("Topic x{n}") }),
        // Every topic once, in the order they have: a valid order that
        // changes nothing.
        "POST /api/admin/request-types/order" => {
            let list = w
                .boss
                .client
                .get("/api/admin/request-types")
                .await?
                .json()?;
            let ids: Vec<Value> = list["items"]
                .as_array()
                .map(|a| a.iter().map(|t| t["id"].clone()).collect())
                .unwrap_or_default();
            json!({ "ids": ids })
        }
        "PATCH /api/admin/request-types/{id}" => json!({ "description": "Edited" }),
        "POST /api/admin/users/{id}/role" => json!({ "role": "operator" }),
        "POST /api/admin/users/{id}/deactivate" => json!({ "reason": "matrix" }),
        _ => Value::Null,
    };
    Ok(Call {
        path: format!("{path}{query}"),
        body: (!body.is_null()).then_some(body),
        multipart: op == "POST /api/attachments",
    })
}

/// What a cell may change about its caller, read before and put back after.
#[derive(PartialEq)]
struct Snapshot {
    user_id: String,
    token_hash: String,
    session: Option<Vec<Sql>>,
    user: Vec<(String, Sql)>,
    methods: Vec<Vec<Sql>>,
}

fn rows(db: &rusqlite::Connection, sql: &str, key: &str) -> anyhow::Result<Vec<Vec<Sql>>> {
    let mut stmt = db.prepare(sql)?;
    let n = stmt.column_count();
    let out = stmt
        .query_map([key], |r| (0..n).map(|i| r.get::<_, Sql>(i)).collect())?
        .collect::<Result<_, _>>()?;
    Ok(out)
}

fn snapshot(w: &World, c: &Caller) -> anyhow::Result<Option<Snapshot>> {
    let (Some(user_id), Some(cookie)) = (&c.user_id, &c.cookie) else {
        return Ok(None);
    };
    snapshot_of(w, user_id, &sha256_hex(cookie))
}

fn snapshot_of(w: &World, user_id: &str, token_hash: &str) -> anyhow::Result<Option<Snapshot>> {
    let db = w.desk.db()?;
    let token_hash = token_hash.to_owned();
    let session = rows(
        &db,
        "SELECT * FROM sessions WHERE token_hash = ?1",
        &token_hash,
    )?
    .into_iter()
    .next();
    let stmt = db.prepare("SELECT * FROM users WHERE id = ?1")?;
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    drop(stmt);
    let user = rows(&db, "SELECT * FROM users WHERE id = ?1", user_id)?
        .into_iter()
        .next()
        .map(|vals| names.into_iter().zip(vals).collect())
        .unwrap_or_default();
    let methods = rows(
        &db,
        "SELECT * FROM twofactor_methods WHERE user_id = ?1",
        user_id,
    )?;
    Ok(Some(Snapshot {
        user_id: user_id.to_owned(),
        token_hash,
        session,
        user,
        methods,
    }))
}

fn restore(w: &World, s: &Snapshot) -> anyhow::Result<()> {
    if snapshot_of(w, &s.user_id, &s.token_hash)?.as_ref() == Some(s) {
        // Nothing changed: no write (each commit costs an fsync).
        return Ok(());
    }
    let mut db = w.desk.db()?;
    let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if let Some(vals) = &s.session {
        let marks = vec!["?"; vals.len()].join(", ");
        tx.execute(
            &format!("INSERT OR REPLACE INTO sessions VALUES ({marks})"),
            rusqlite::params_from_iter(vals.iter()),
        )?;
    }
    // Column by column, never a REPLACE: other rows refer to users.
    for (name, val) in &s.user {
        if name != "id" {
            tx.execute(
                &format!("UPDATE users SET \"{name}\" = ?1 WHERE id = ?2"),
                rusqlite::params![val, s.user_id],
            )?;
        }
    }
    tx.execute(
        "DELETE FROM twofactor_methods WHERE user_id = ?1",
        [&s.user_id],
    )?;
    for vals in &s.methods {
        let marks = vec!["?"; vals.len()].join(", ");
        tx.execute(
            &format!("INSERT INTO twofactor_methods VALUES ({marks})"),
            rusqlite::params_from_iter(vals.iter()),
        )?;
    }
    tx.commit()?;
    Ok(())
}

async fn send(w: &World, c: &Caller, method: &str, call: &Call) -> anyhow::Result<TestResponse> {
    let client = c.client(&w.desk);
    if call.multipart {
        return upload(&client, "matrix.txt", b"matrix upload\n").await;
    }
    match &call.body {
        Some(b) => client.send_json(method, &call.path, b).await,
        None => client.request(method, &call.path, &[], Vec::new()).await,
    }
}

/// Routes with rate limits or failure counters: their counters are cleared
/// before each cell (every cell comes from 127.0.0.1).
fn limited(path: &str) -> bool {
    path.starts_with("/api/auth/")
        || path.starts_with("/api/2fa/")
        || path == "/api/profile/password"
        || path == "/api/access-requests"
        || path.starts_with("/api/requests")
        || path == "/api/attachments"
}

fn show(e: &Expect) -> String {
    match e {
        Expect::Exact(s) => s.to_string(),
        Expect::Class(c) => format!("{c}xx"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_caller_gets_the_expected_answer_on_every_operation() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let rows = read_matrix()?;
    let w = World::build().await?;
    let built = started.elapsed();
    eprintln!("authz matrix: world built in {built:.1?}");
    // First, on the untouched world: nothing leaks through lists, search,
    // counts or files (leaks.rs).
    crate::leaks::lists_search_counts_and_files_never_show_what_a_customer_may_not_see(&w).await?;
    eprintln!(
        "authz matrix: leak checks done at {:.1?}",
        started.elapsed()
    );
    let catalog = w
        .ann
        .client
        .get("/api/2fa/questions/catalog")
        .await?
        .json()?;
    let questions: Vec<String> = catalog["questions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|q| q["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    anyhow::ensure!(questions.len() >= 2, "question catalogue: {catalog}");

    let mut wrong = Vec::new();
    let mut observed = Vec::new();
    let mut cells = 0;
    for row in &rows {
        let row_started = std::time::Instant::now();
        let mutating = row.method != "GET";
        let mut f = fixture(&w, row)
            .await
            .with_context(|| format!("fixture for line {}", row.line))?;
        let mut got = Vec::new();
        for (i, name) in CALLERS.iter().enumerate() {
            let c = &w.callers[name];
            if limited(&row.path) {
                w.clear_limits()?;
            }
            let snap = if mutating { snapshot(&w, c)? } else { None };
            let call = call(&w, row, &f, &questions).await?;
            let r = send(&w, c, &row.method, &call).await?;
            if let Some(s) = &snap {
                restore(&w, s)?;
            }
            cells += 1;
            if !row.expect[i].accepts(r.status) {
                wrong.push(format!(
                    "line {} {} {} [{}] as {name}: expected {}, got {} {}",
                    row.line,
                    row.method,
                    call.path,
                    row.target,
                    show(&row.expect[i]),
                    r.status,
                    r.text().chars().take(160).collect::<String>()
                ));
            }
            if r.status >= 500 {
                wrong.push(format!("line {}: 5xx for {name}", row.line));
            }
            got.push(r.status.to_string());
            if mutating && (200..300).contains(&r.status) {
                f = fixture(&w, row).await?;
            }
        }
        if std::env::var_os("AUTHZ_TIMING").is_some() {
            eprintln!("line {} took {:.1?}", row.line, row_started.elapsed());
        }
        observed.push(format!(
            "{:<6} {:<48} {:<8} {}",
            row.method,
            row.path,
            row.target,
            got.iter()
                .map(|s| format!("{s:<5}"))
                .collect::<String>()
                .trim_end()
        ));
    }
    eprintln!(
        "authz matrix: {} rows, {cells} cells in {:.1?} (world built in {built:.1?})",
        rows.len(),
        started.elapsed()
    );
    if std::env::var_os("AUTHZ_PRINT").is_some() || !wrong.is_empty() {
        eprintln!("observed:\n{}", observed.join("\n"));
    }
    assert!(
        wrong.is_empty(),
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    w.desk.app.stop().await;
    Ok(())
}
