//! `fermyon:spin/sqlite@2.0.0` on rusqlite, with Spin's semantics.
//!
//! As in Spin, each `connection.open` gets its own SQLite connection, so a
//! `BEGIN` … `COMMIT` spread over several `execute` calls of one handle is one
//! transaction. Unlike Spin we set a busy timeout (5 s) so concurrent writers
//! wait for the lock instead of failing with `database is locked`.
//!
//! Connections to file databases are reused: when a guest's connection handle
//! goes away with no transaction open, the connection returns to a small idle
//! pool for the next `open`. Opening a SQLite file (and re-preparing every
//! statement) per request was the largest cost of a session lookup; a reused
//! connection behaves the same to the guest (a fresh handle, autocommit mode).
//! A handle dropped mid-transaction is closed, which rolls it back, as in Spin.
//!
//! Writers queue in the host instead of polling. SQLite's own busy handler
//! sleeps 1, 2, 5, 10 … 100 ms between tries, so under contention the lock
//! sits free while every waiter sleeps: sixteen clients raising requests
//! spent more time in `BEGIN IMMEDIATE` than in their work. Each file
//! database has a FIFO write gate: a `BEGIN IMMEDIATE`/`EXCLUSIVE`, or a
//! writing statement in autocommit mode, first waits its turn in the gate (up
//! to the busy timeout, then "database is locked", as SQLite would say), and
//! the turn passes on as soon as the connection is back in autocommit mode
//! (after `COMMIT`, `ROLLBACK`, a failed `BEGIN`, or the handle's drop).
//! SQLite's lock stays the truth (other processes, deferred transactions);
//! the gate only orders this process's writers, and changes no answer.
//! Writers serving service-chained requests (mail delivery, which copies an
//! organization's mail in chunks) are background: they let waiting
//! foreground writers go first, for up to [`BACKGROUND_YIELD`], so a person
//! deciding or raising a request does not queue behind a mail backlog.
//!
//! Values map one to one with SQLite's storage classes, by the value actually
//! stored, not the declared column type: INTEGER -> integer, REAL -> real,
//! TEXT -> text, BLOB -> blob, NULL -> null. Every SQLite error (syntax,
//! constraint, busy) is reported as `io(message)`, as Spin does.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use anyhow::Context as _;
use rusqlite::Connection;
use rusqlite::types::{Value as SqlValue, ValueRef};
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::engine::HostState;

/// How long a statement waits for another connection's lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A fresh in-memory database per opened connection (Spin's behaviour
    /// for `type = "spin"` without a path).
    Memory,
    File(PathBuf),
}

impl Location {
    fn connect(&self) -> rusqlite::Result<Connection> {
        crate::wal_gather::install();
        let conn = match self {
            Location::Memory => Connection::open_in_memory()?,
            Location::File(p) => Connection::open(p)?,
        };
        conn.busy_timeout(BUSY_TIMEOUT)?;
        if matches!(self, Location::File(_)) {
            // The checkpoint thread folds the log into the file; a writer
            // checkpoints inline only if the log reaches 64 MiB.
            conn.pragma_update(None, "wal_autocheckpoint", 16384)?;
        }
        // Each pooled connection has its own page cache (2 MiB by default);
        // pages it lacks come from the OS's file cache, a copy away. Smaller
        // caches keep the host's memory bounded (docs/PERFORMANCE.md, "Host
        // memory") at little cost for the app's indexed queries.
        conn.pragma_update(None, "cache_size", PAGE_CACHE_KIB)?;
        // An app runs a few dozen distinct statements; rusqlite keeps 16 by
        // default, and a reused connection that re-parses is a wasted reuse.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }
}

/// Most idle connections kept per database file: a few more than the guests
/// that run at once (`engine::in_flight_limit`, plus service-chained ones).
const POOL_MAX: usize = 12;

/// Each connection's page cache, as SQLite's `cache_size` (negative: KiB).
const PAGE_CACHE_KIB: i64 = -1024;

/// Longest a background transaction waits to get in line.
pub const BACKGROUND_LINE_WAIT: Duration = Duration::from_millis(250);

/// Longest a background writer steps aside for foreground ones.
pub const BACKGROUND_YIELD: Duration = Duration::from_millis(50);

/// One database file's write gate: a FIFO turn, and how many foreground
/// writers are waiting for it.
pub struct WriteGate {
    turn: Arc<Semaphore>,
    foreground_waiting: AtomicUsize,
    /// Background writers queue here first, so at most one of them is ever
    /// in `turn`'s line ahead of a foreground writer.
    background_line: Semaphore,
    /// The file's writer connection, lent to whoever holds the turn (see
    /// [`WriteGate::lend_writer`]).
    writer: Mutex<Writer>,
    /// Where the writer connects (`None` for gates made in tests).
    path: Option<PathBuf>,
}

/// Where a file's writer connection is.
enum Writer {
    /// Not opened yet (or closed with a transaction left open).
    Unopened,
    /// At the gate, for the next holder of the turn.
    Home(Connection),
    /// Standing in for a guest's connection.
    Lent,
}

/// Counts a waiting foreground writer for as long as it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl WriteGate {
    fn new(path: Option<PathBuf>) -> Self {
        Self {
            turn: Arc::new(Semaphore::new(1)),
            foreground_waiting: AtomicUsize::new(0),
            background_line: Semaphore::new(1),
            writer: Mutex::new(Writer::Unopened),
            path,
        }
    }

    /// Puts the file's writer connection in `conn`'s place for the holder
    /// of the turn, and returns the connection it replaced (to be put back
    /// with [`WriteGate::take_back_writer`] before the turn is let go).
    ///
    /// Why: in WAL mode a connection throws its page cache away whenever
    /// another connection has committed since it last read. Pooled
    /// connections take turns writing, so every write transaction began with
    /// a cold cache: `BEGIN IMMEDIATE` cleared it (165 µs) and the inserts
    /// read their index pages back from the OS, all under the write lock.
    /// One connection that does all the gated writing is never behind the
    /// last commit: its cache stays warm.
    ///
    /// The guest's per-connection settings that change what a write does
    /// (`synchronous`, `foreign_keys`) go with it; a connection that holds
    /// other state of its own (temporary tables, attached files, other
    /// pragmas: [`keeps_state`]) keeps writing itself. `None` if the writer
    /// is already lent (never while the turn is held) or cannot be opened.
    fn lend_writer(&self, conn: &mut Connection) -> Option<Connection> {
        let own = self.lend_writer_as_is(conn)?;
        if let Err(e) = carry_settings(&own, conn) {
            // Not lent: the guest writes on its own connection as before.
            eprintln!("sqlite writer: {e}");
            self.take_back_writer(conn, own);
            return None;
        }
        Some(own)
    }

    /// [`WriteGate::lend_writer`] without the guest's settings (for reads,
    /// which they do not change).
    fn lend_writer_as_is(&self, conn: &mut Connection) -> Option<Connection> {
        // A guest already inside a transaction of its own keeps it (and
        // SQLite's answer to a second BEGIN).
        if !conn.is_autocommit() {
            return None;
        }
        let mut slot = self.writer.lock().ok()?;
        let writer = match std::mem::replace(&mut *slot, Writer::Lent) {
            Writer::Home(w) => w,
            Writer::Unopened => match Location::File(self.path.clone()?).connect() {
                Ok(w) => w,
                Err(e) => {
                    eprintln!("sqlite writer: {e}");
                    *slot = Writer::Unopened;
                    return None;
                }
            },
            Writer::Lent => return None,
        };
        Some(std::mem::replace(conn, writer))
    }

    /// Puts `own` back in `conn`'s place and keeps the writer for the next
    /// turn, unless a transaction is still open on it (a guest that went
    /// away mid-transaction): dropping it rolls that back, and the next turn
    /// opens a new writer.
    fn take_back_writer(&self, conn: &mut Connection, own: Connection) {
        let writer = std::mem::replace(conn, own);
        if let Ok(mut slot) = self.writer.lock() {
            *slot = if writer.is_autocommit() {
                Writer::Home(writer)
            } else {
                Writer::Unopened
            };
        }
    }

    /// [`WriteGate::take_back_writer`] at the end of a write turn. A row the
    /// guest inserted on the writer is the guest's own connection's
    /// `last_insert_rowid()` afterwards, as if it had written itself (Spin
    /// gives each guest connection its own SQLite connection).
    fn take_back_writer_after_write(
        &self,
        conn: &mut Connection,
        own: Connection,
        rowid_at_lend: i64,
    ) {
        let rowid = conn.last_insert_rowid();
        self.take_back_writer(conn, own);
        if rowid != rowid_at_lend {
            set_last_insert_rowid(conn, rowid);
        }
    }

    /// The writer connection in `conn`'s place for one short read, with the
    /// turn that keeps writers off it meanwhile; `None` when someone holds
    /// the turn (the read runs on its own connection, as before).
    ///
    /// Why: while others write, every commit makes each pooled connection
    /// throw its page cache away, so reads started cold. The writer's cache
    /// is never behind the last commit.
    fn lend_for_read(&self, conn: &mut Connection) -> Option<(OwnedSemaphorePermit, Connection)> {
        let turn = self.turn.clone().try_acquire_owned().ok()?;
        let own = self.lend_writer_as_is(conn)?;
        Some((turn, own))
    }

    /// This writer's turn, or "database is locked" after the busy timeout.
    async fn take_turn(&self, background: bool) -> Result<OwnedSemaphorePermit, Error> {
        let started = tokio::time::Instant::now();
        let deadline = started + BUSY_TIMEOUT;
        let locked = |_| io("database is locked");
        if !background {
            self.foreground_waiting.fetch_add(1, Ordering::SeqCst);
            let _waiting = Waiting(&self.foreground_waiting);
            return tokio::time::timeout_at(deadline, self.turn.clone().acquire_owned())
                .await
                .map_err(locked)?
                .map_err(io);
        }
        // A background transaction that cannot even get in line soon gives
        // up ("database is locked"); it has done nothing yet, and waiting
        // instances would pile up behind a busy foreground.
        let line_deadline = started + BACKGROUND_LINE_WAIT;
        let _line = tokio::time::timeout_at(line_deadline, self.background_line.acquire())
            .await
            .map_err(locked)?
            .map_err(io)?;
        let yield_until = tokio::time::Instant::now() + BACKGROUND_YIELD;
        while self.foreground_waiting.load(Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < yield_until
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::timeout_at(deadline, self.turn.clone().acquire_owned())
            .await
            .map_err(locked)?
            .map_err(io)
    }
}

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;

/// A statement text as the host last saw it run.
#[derive(Debug, Clone, Copy)]
struct Known {
    /// How long it took (µs).
    us: u32,
    /// [`plain_select`], read once per text: it scans the whole statement,
    /// 2 KB for some lists, which was ~1% of the host's CPU on "my requests".
    plain: bool,
}

impl Known {
    /// Took less than [`INLINE_UNDER_US`] the last time.
    fn short(&self) -> bool {
        self.us < INLINE_UNDER_US
    }
}

/// Databases defined for the app: label -> location, idle connections, and
/// each file's write gate.
#[derive(Default)]
pub struct SqliteDbs {
    pub databases: HashMap<String, Location>,
    idle: Mutex<HashMap<PathBuf, Vec<Connection>>>,
    /// What each statement text is known by, from the last time it ran.
    costs: Mutex<HashMap<String, Known>>,
    gates: HashMap<PathBuf, Arc<WriteGate>>,
    /// Stops the checkpoint threads when the app goes.
    stop_checkpoints: Arc<AtomicBool>,
}

impl Drop for SqliteDbs {
    fn drop(&mut self) {
        self.stop_checkpoints.store(true, Ordering::Relaxed);
    }
}

/// A statement that took less than this the last time runs on the async
/// worker that asked for it, not on a blocking-pool thread: the hand-off to
/// another thread and back (two wake-ups, two context switches) cost more
/// CPU than the app's typical 20–100 µs statement, and at 16 connections
/// that was a fifth of a request's CPU. Long statements (searches, reports)
/// still leave the worker free. Only statements that cannot wait for a lock
/// run inline (see `execute`).
const INLINE_UNDER_US: u32 = 1000;
/// Statement texts whose cost is remembered (the app has a few hundred).
const COSTS_MAX: usize = 4096;

/// How often a file database's write-ahead log is folded into the file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Checkpoints `path` off the write path: SQLite's automatic checkpoint runs
/// inside the `COMMIT` that crosses 4 MiB of log, and took that commit (and
/// every writer queued behind it) 40 ms with organizations' mail being
/// queued. PASSIVE never blocks readers or the writer. A database the app did
/// not put in WAL mode makes this a no-op.
fn spawn_checkpoints(path: PathBuf, stop: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let mut conn: Option<Connection> = None;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(CHECKPOINT_EVERY);
                if conn.is_none() && path.exists() {
                    conn = checkpointer(&path).ok();
                }
                if let Some(c) = &conn
                    && let Err(e) = checkpoint(c)
                {
                    eprintln!("sqlite checkpoint {}: {e}", path.display());
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("sqlite checkpoint thread: {e}");
    }
}

/// A log this long (in pages) is made to start over (see [`checkpoint`]).
const RESTART_AT_FRAMES: i64 = 2048;

/// Longest a restarting checkpoint waits for the writer and the readers.
const RESTART_WAIT: Duration = Duration::from_millis(50);

/// The checkpoint thread's own connection to `path`.
fn checkpointer(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open(path)?;
    c.busy_timeout(RESTART_WAIT)?;
    Ok(c)
}

/// Copies the log into the file without blocking anyone (PASSIVE); then,
/// if the log has grown long, makes it start over (RESTART).
///
/// SQLite reuses the log from its start only when a writer finds it fully
/// copied and no reader inside it. Under steady writes that never happens:
/// there is always a newer commit than the last copy. The log then grew
/// until SQLite's automatic checkpoint (at 16,384 pages) ran inside every
/// `COMMIT`, with two `fsync`s under the write lock: 70 MB of log after 12 s
/// of raising requests. RESTART takes the write lock for as long as it
/// copies what PASSIVE just left (a few commits' pages) and waits for
/// readers to leave the log, at most [`RESTART_WAIT`]; if it cannot, it
/// gives up and the next round tries again.
fn checkpoint(c: &Connection) -> rusqlite::Result<()> {
    let frames: i64 = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
    if frames >= RESTART_AT_FRAMES {
        c.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
    }
    Ok(())
}

impl SqliteDbs {
    pub fn new(databases: HashMap<String, Location>) -> Self {
        let gates: HashMap<PathBuf, Arc<WriteGate>> = databases
            .values()
            .filter_map(|loc| match loc {
                Location::File(p) => Some((p.clone(), Arc::new(WriteGate::new(Some(p.clone()))))),
                Location::Memory => None,
            })
            .collect();
        let stop_checkpoints = Arc::new(AtomicBool::new(false));
        for path in gates.keys() {
            spawn_checkpoints(path.clone(), stop_checkpoints.clone());
        }
        Self {
            databases,
            idle: Mutex::default(),
            gates,
            stop_checkpoints,
            costs: Mutex::default(),
        }
    }

    /// What is known of `statement` from its last run (`None` for one not
    /// seen yet, which is not short).
    fn known(&self, statement: &str) -> Option<Known> {
        self.costs.lock().ok()?.get(statement).copied()
    }

    fn note_cost(&self, statement: String, took: Duration) {
        let us = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        if let Ok(mut c) = self.costs.lock() {
            if let Some(known) = c.get_mut(&statement) {
                known.us = us;
                return;
            }
            // The app's statements are a fixed set of texts; a guest that
            // builds texts without end would grow this map, so it is reset
            // past a bound instead.
            if c.len() >= COSTS_MAX {
                c.clear();
            }
            let plain = plain_select(&statement);
            c.insert(statement, Known { us, plain });
        }
    }

    /// An idle connection to `path`, if one is waiting.
    fn take_idle(&self, path: &PathBuf) -> Option<Connection> {
        self.idle.lock().ok()?.get_mut(path)?.pop()
    }

    /// Keeps a finished connection for reuse if it is clean (autocommit).
    fn give_back(&self, path: PathBuf, conn: Connection) {
        if !conn.is_autocommit() {
            return; // dropping it rolls the open transaction back
        }
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(path).or_default();
            if list.len() < POOL_MAX {
                list.push(conn);
            }
        }
    }
}

impl SqliteDbs {
    /// Creates parent directories and checks each file database opens.
    pub fn check(&self) -> anyhow::Result<()> {
        for (label, loc) in &self.databases {
            if let Location::File(path) = loc {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                loc.connect().with_context(|| {
                    format!(
                        "cannot open SQLite database {label:?} at {}",
                        path.display()
                    )
                })?;
            }
        }
        Ok(())
    }
}

/// An open connection (the `connection` resource). Returns its SQLite
/// connection to the pool when the guest drops the handle or the instance ends.
pub struct SqliteConnection {
    conn: Option<Arc<Mutex<Connection>>>,
    /// The pool and file this connection returns to (file databases only).
    home: Option<(Arc<SqliteDbs>, PathBuf)>,
    /// The file's write gate (file databases only).
    gate: Option<Arc<WriteGate>>,
    /// This connection's turn in the gate while it writes, and when it took
    /// it (`EDGEDESK_SQL_TRACE` reports how long it was held).
    turn: Option<(OwnedSemaphorePermit, std::time::Instant)>,
    /// The guest's own SQLite connection while the writer stands in for it.
    /// With the writer's `last_insert_rowid` when it was lent.
    parked: Option<(Connection, i64)>,
    /// The guest set state on this connection that the writer lacks
    /// ([`keeps_state`]): it writes on its own connection.
    keeps_state: bool,
}

/// Does this statement, run on a connection in autocommit mode (`idle`),
/// need the write gate? `BEGIN IMMEDIATE`/`EXCLUSIVE` always; a plain data
/// change only outside a transaction (inside one, its `BEGIN` decided).
/// A plain `BEGIN` is deferred: it takes no lock until it writes, and then
/// SQLite's busy handler applies, as before.
/// Which writes go through the write gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GatedWrite {
    /// `BEGIN IMMEDIATE`/`EXCLUSIVE`: holds the turn until back in autocommit.
    Transaction,
    /// A data change outside a transaction: holds the turn for one statement.
    Statement,
}

/// A statement's words, for telling its kind by the first ones.
fn words(statement: &str) -> impl Iterator<Item = &str> {
    statement
        .split(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .filter(|w| !w.is_empty())
}

/// Does this statement, run on a connection in autocommit mode (`idle`),
/// need the write gate, and as what? `BEGIN IMMEDIATE`/`EXCLUSIVE` always; a
/// plain data change only outside a transaction (inside one, its `BEGIN`
/// decided). A plain `BEGIN` is deferred: it takes no lock until it writes,
/// and then SQLite's busy handler applies, as before.
fn gated_write(statement: &str, idle: bool) -> Option<GatedWrite> {
    let mut words = words(statement);
    let first = words.next().unwrap_or_default().to_ascii_uppercase();
    match first.as_str() {
        "BEGIN" => matches!(
            words.next().map(str::to_ascii_uppercase).as_deref(),
            Some("IMMEDIATE" | "EXCLUSIVE")
        )
        .then_some(GatedWrite::Transaction),
        "INSERT" | "UPDATE" | "DELETE" | "REPLACE" if idle => Some(GatedWrite::Statement),
        _ => None,
    }
}

/// Whether a statement may change data (and so wait for the write lock).
/// Conservative: anything not plainly a read counts as a write.
fn writes(statement: &str) -> bool {
    let first = statement
        .trim_start()
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or_default();
    if first.eq_ignore_ascii_case("SELECT") {
        return false;
    }
    if first.eq_ignore_ascii_case("WITH") {
        return statement_changes(statement);
    }
    if first.eq_ignore_ascii_case("PRAGMA") {
        // Reading a pragma, or setting this connection's sync mode, takes no
        // lock; setting anything else (user_version) or a checkpoint may.
        let lower = statement.to_ascii_lowercase();
        return lower.contains("checkpoint")
            || lower.contains('=') && !lower.contains("synchronous");
    }
    true
}

/// A `WITH` statement that ends in a data change.
fn statement_changes(statement: &str) -> bool {
    let upper = statement.to_ascii_uppercase();
    [" INSERT ", " UPDATE ", " DELETE ", " REPLACE "]
        .iter()
        .any(|w| upper.contains(w))
}

/// A statement that only reads and leaves nothing on its connection (runs
/// on whichever connection is warmest, [`WriteGate::lend_for_read`]). Not
/// one that asks about the connection's own last writes
/// (`last_insert_rowid()`, `changes()`, `total_changes()`).
fn plain_select(statement: &str) -> bool {
    let select = words(statement)
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("SELECT"));
    // Runs on every short read: searched in place, not in a lower-cased copy
    // of the (2 KB for a list) statement.
    let mentions = |word: &str| {
        statement
            .as_bytes()
            .windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
    };
    select && !mentions("last_insert_rowid") && !mentions("changes")
}

/// Sets what `last_insert_rowid()` answers on `conn` (rusqlite has no safe
/// setter for SQLite's `sqlite3_set_last_insert_rowid`).
#[allow(unsafe_code)]
fn set_last_insert_rowid(conn: &Connection, rowid: i64) {
    // SAFETY: the handle is `conn`'s open database, used on this thread
    // for the duration of the call; the function only stores the value.
    unsafe { rusqlite::ffi::sqlite3_set_last_insert_rowid(conn.handle(), rowid) }
}

/// Gives `to` the settings of `from` that change what a write does.
fn carry_settings(from: &Connection, to: &Connection) -> rusqlite::Result<()> {
    for pragma in ["synchronous", "foreign_keys"] {
        let want: i64 = from.pragma_query_value(None, pragma, |r| r.get(0))?;
        let has: i64 = to.pragma_query_value(None, pragma, |r| r.get(0))?;
        if want != has {
            to.pragma_update(None, pragma, want)?;
        }
    }
    Ok(())
}

/// Whether `statement` leaves state on its connection that another
/// connection would not have: temporary objects, attached databases, or a
/// pragma setting other than those [`carry_settings`] carries. Such a
/// connection is not swapped for the writer ([`WriteGate::lend_writer`]).
fn keeps_state(statement: &str) -> bool {
    // Runs on every statement: only a pragma is read past its first words.
    let mut words = words(statement);
    let first = words.next().unwrap_or_default();
    let is = |w: &str, word: &str| w.eq_ignore_ascii_case(word);
    if is(first, "ATTACH") || is(first, "DETACH") {
        return true;
    }
    if is(first, "CREATE") {
        return words
            .next()
            .is_some_and(|w| is(w, "TEMP") || is(w, "TEMPORARY"));
    }
    if is(first, "PRAGMA") {
        let upper = statement.to_ascii_uppercase();
        let sets = upper.contains('=') || upper.contains('(');
        let carried = upper.contains("SYNCHRONOUS") || upper.contains("FOREIGN_KEYS");
        return sets && !carried;
    }
    false
}

impl SqliteConnection {
    /// If the gate's writer stands in for this connection, puts the guest's
    /// own connection back and the writer back at the gate.
    fn return_writer(&mut self) {
        if let (Some((own, rowid_at_lend)), Some(gate), Some(conn)) =
            (self.parked.take(), &self.gate, &self.conn)
            && let Ok(mut c) = conn.lock()
        {
            gate.take_back_writer_after_write(&mut c, own, rowid_at_lend);
        }
    }
}

impl Drop for SqliteConnection {
    fn drop(&mut self) {
        // Dropped while holding the turn with the writer lent: the writer
        // goes back to the gate (rolled back if mid-transaction) before the
        // turn is let go with the other fields.
        self.return_writer();
        if let (Some((dbs, path)), Some(conn)) = (self.home.take(), self.conn.take())
            && let Ok(m) = Arc::try_unwrap(conn)
            && let Ok(c) = m.into_inner()
        {
            dbs.give_back(path, c);
        }
    }
}

/// Per-instance state.
pub struct SqliteState {
    pub dbs: Arc<SqliteDbs>,
    pub allowed: Arc<HashSet<String>>,
    /// Serving a service-chained request: its writes give way to others'.
    pub background: bool,
}

fn io(e: impl std::fmt::Display) -> Error {
    Error::Io(e.to_string())
}

fn to_sql(v: Value) -> SqlValue {
    match v {
        Value::Integer(i) => SqlValue::Integer(i),
        Value::Real(r) => SqlValue::Real(r),
        Value::Text(t) => SqlValue::Text(t),
        Value::Blob(b) => SqlValue::Blob(b),
        Value::Null => SqlValue::Null,
    }
}

fn from_sql(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        // SQLite can hold invalid UTF-8 in TEXT; Spin would panic, we replace.
        // `from_utf8` checks ASCII a word at a time; the lossy scan goes byte
        // by byte (1% of the host's CPU on a 13 KB list page).
        ValueRef::Text(t) => Value::Text(match std::str::from_utf8(t) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(t).into_owned(),
        }),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// `EDGEDESK_SQL_TRACE=1`: every statement's time inside SQLite goes to the
/// log (`sql <µs> <statement>`), for finding the slow one. Statement text only:
/// parameters, which may hold secrets, are never written.
fn trace_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("EDGEDESK_SQL_TRACE").is_some())
}

fn trace(statement: &str, took: Duration) {
    let text: String = statement
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(160)
        .collect();
    crate::log_line!("sql {:>8} {text}", took.as_micros());
}

/// Runs one statement and collects its rows.
pub fn execute(conn: &Connection, sql: &str, params: Vec<Value>) -> Result<QueryResult, Error> {
    let mut stmt = conn.prepare_cached(sql).map_err(io)?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let n = columns.len();
    let params = rusqlite::params_from_iter(params.into_iter().map(to_sql));
    let mut rows = stmt.query(params).map_err(io)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(io)? {
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            values.push(from_sql(row.get_ref(i).map_err(io)?));
        }
        out.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows: out })
}

impl sqlite::Host for HostState {}

impl sqlite::HostConnection for HostState {
    async fn open(&mut self, database: String) -> Result<Resource<SqliteConnection>, Error> {
        if !self.sqlite.allowed.contains(&database) {
            return Err(Error::AccessDenied);
        }
        let location = self
            .sqlite
            .dbs
            .databases
            .get(&database)
            .cloned()
            .ok_or(Error::NoSuchDatabase)?;
        let dbs = self.sqlite.dbs.clone();
        let home = match &location {
            Location::File(path) => Some((dbs.clone(), path.clone())),
            Location::Memory => None,
        };
        let idle = home.as_ref().and_then(|(dbs, path)| dbs.take_idle(path));
        let conn = match idle {
            Some(c) => c,
            None => tokio::task::spawn_blocking(move || location.connect())
                .await
                .map_err(io)?
                .map_err(io)?,
        };
        let gate = home
            .as_ref()
            .and_then(|(dbs, path)| dbs.gates.get(path).cloned());
        self.table
            .push(SqliteConnection {
                conn: Some(Arc::new(Mutex::new(conn))),
                home,
                gate,
                turn: None,
                parked: None,
                keeps_state: false,
            })
            .map_err(|_| Error::Io("too many connections opened".to_owned()))
    }

    async fn execute(
        &mut self,
        connection: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> Result<QueryResult, Error> {
        let handle = self
            .table
            .get(&connection)
            .map_err(|_| Error::InvalidConnection)?;
        let conn = handle.conn.clone().ok_or(Error::InvalidConnection)?;
        let stateful = !handle.keeps_state && keeps_state(&statement);
        let wait_for = match (&handle.gate, &handle.turn) {
            (Some(gate), None) => {
                let idle = conn.lock().map(|c| c.is_autocommit()).unwrap_or(true);
                gated_write(&statement, idle).map(|kind| (gate.clone(), kind))
            }
            _ => None,
        };
        if let Some((gate, kind)) = wait_for {
            let waited = std::time::Instant::now();
            // Only a background *transaction* steps aside: a single-statement
            // write (a mail claim, or marking a sent mail delivered) is short,
            // and a delivered mail must be marked, not timed out.
            let step_aside = self.sqlite.background && kind == GatedWrite::Transaction;
            let turn = gate.take_turn(step_aside).await?;
            if trace_enabled() {
                let bg = if self.sqlite.background {
                    "background"
                } else {
                    "foreground"
                };
                trace(&format!("(write gate, {bg}) {statement}"), waited.elapsed());
            }
            if let Ok(handle) = self.table.get_mut(&connection) {
                handle.turn = Some((turn, std::time::Instant::now()));
                if !handle.keeps_state && !stateful {
                    let lent = conn.lock().ok().and_then(|mut c| {
                        let own = gate.lend_writer(&mut c)?;
                        Some((own, c.last_insert_rowid()))
                    });
                    handle.parked = lent;
                }
            }
        }
        if stateful && let Ok(handle) = self.table.get_mut(&connection) {
            handle.keeps_state = true;
        }
        // Inline only what cannot wait on SQLite's busy handler: reads (WAL
        // readers never wait for the writer) and writes while this
        // connection holds the file's write turn. A write inside a deferred
        // transaction may wait for the lock, so it goes to the pool.
        let holds_turn = self
            .table
            .get(&connection)
            .is_ok_and(|h| h.turn.is_some() || h.gate.is_none());
        let may_wait = !holds_turn && writes(&statement);
        let known = self.sqlite.dbs.known(&statement);
        let inline = !may_wait && known.is_some_and(|k| k.short());
        // A short plain read by a connection without state of its own runs
        // on the file's writer when nobody holds the write turn (its cache is
        // the warm one); the writer goes back before anything is awaited.
        let read_gate = self
            .table
            .get(&connection)
            .ok()
            .filter(|h| inline && h.turn.is_none() && !h.keeps_state && !stateful)
            .and_then(|h| h.gate.clone())
            .filter(|_| known.is_some_and(|k| k.plain));
        let borrowed = read_gate.as_ref().and_then(|gate| {
            let mut c = conn.lock().ok()?;
            gate.lend_for_read(&mut c)
        });
        let dbs = self.sqlite.dbs.clone();
        let conn_after = conn.clone();
        let run = move || {
            let conn = conn.lock().map_err(|_| io("connection lock poisoned"))?;
            let started = std::time::Instant::now();
            let result = execute(&conn, &statement, parameters);
            let took = started.elapsed();
            if trace_enabled() {
                trace(&statement, took);
            }
            let idle = conn.is_autocommit();
            drop(conn);
            dbs.note_cost(statement, took);
            Ok::<_, Error>((result, idle))
        };
        let (result, idle) = if inline {
            let ran = run();
            if let (Some((turn, own)), Some(gate)) = (borrowed, &read_gate)
                && let Ok(mut c) = conn_after.lock()
            {
                gate.take_back_writer(&mut c, own);
                drop(turn);
            }
            ran?
        } else {
            tokio::task::spawn_blocking(run).await.map_err(io)??
        };
        if idle
            && let Ok(handle) = self.table.get_mut(&connection)
            && let Some((turn, since)) = handle.turn.take()
        {
            // Back in autocommit: the writer goes back to the gate, then
            // dropping the turn lets the next writer in.
            handle.return_writer();
            drop(turn);
            if trace_enabled() {
                trace("(write turn held)", since.elapsed());
            }
        }
        result
    }

    async fn drop(&mut self, connection: Resource<SqliteConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_reads_count_as_statements_that_cannot_wait_for_the_write_lock() {
        for read in [
            "SELECT 1",
            "  select * from t",
            "SELECT(1)",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "PRAGMA user_version",
            "PRAGMA synchronous = NORMAL",
        ] {
            assert!(!writes(read), "{read}");
        }
        for write in [
            "INSERT INTO t VALUES (1)",
            "UPDATE t SET a = 1",
            "DELETE FROM t",
            "BEGIN",
            "BEGIN IMMEDIATE",
            "COMMIT",
            "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
            "PRAGMA user_version = 3",
            "PRAGMA wal_checkpoint(TRUNCATE)",
            "CREATE TABLE t (a)",
            "",
        ] {
            assert!(writes(write), "{write}");
        }
    }

    #[test]
    fn clean_connections_are_reused_and_open_transactions_never_are() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("db.sqlite");
        let dbs = SqliteDbs::new(HashMap::from([(
            "default".to_owned(),
            Location::File(path.clone()),
        )]));
        let loc = Location::File(path.clone());

        let c = loc.connect()?;
        c.execute_batch("CREATE TABLE t (x INTEGER); CREATE TEMP TABLE marker (y);")?;
        dbs.give_back(path.clone(), c);
        let reused = dbs.take_idle(&path).expect("a pooled connection");
        // The same connection came back (its temp table is still there).
        reused.execute_batch("SELECT * FROM marker")?;
        assert!(dbs.take_idle(&path).is_none());

        // A handle dropped mid-transaction is closed, rolling the write back.
        reused.execute_batch("BEGIN; INSERT INTO t VALUES (1);")?;
        dbs.give_back(path.clone(), reused);
        assert!(dbs.take_idle(&path).is_none());
        let fresh = loc.connect()?;
        let n: i64 = fresh.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
        assert_eq!(n, 0);
        Ok(())
    }

    #[test]
    fn a_long_log_starts_over_though_a_reader_was_inside_it() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("db.sqlite");
        let writer = Connection::open(&path)?;
        writer.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        writer.execute_batch("CREATE TABLE t (x BLOB)")?;
        for _ in 0..RESTART_AT_FRAMES {
            writer.execute("INSERT INTO t VALUES (zeroblob(3000))", [])?;
        }
        // A reader inside the log, as in-flight requests always are under
        // load; it leaves 30 ms from now.
        let reader = Connection::open(&path)?;
        reader.execute_batch("BEGIN")?;
        let _: i64 = reader.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
        let checkpointer = Connection::open(&path)?;
        checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        // One more commit: the log is all copied but for it, and is not
        // started over while the reader is inside.
        writer.execute("INSERT INTO t VALUES (1)", [])?;
        let leaves = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            reader.execute_batch("COMMIT")
        });
        // (A generous wait: the thread under test may be slow to leave.)
        checkpointer.busy_timeout(Duration::from_secs(2))?;
        checkpoint(&checkpointer)?;
        // The next commit starts the log over: it holds that commit alone.
        writer.execute("INSERT INTO t VALUES (2)", [])?;
        let frames: i64 = writer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
        assert!(frames < 10, "the log kept {frames} pages");
        leaves.join().expect("the reader's thread")?;
        Ok(())
    }

    /// A WAL database file with a table `t`, its write gate, its location
    /// for more connections, and a first connection (the directory goes
    /// when the first element is dropped).
    fn gated_file() -> anyhow::Result<(tempfile::TempDir, WriteGate, Location, Connection)> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("db.sqlite");
        let gate = WriteGate::new(Some(path.clone()));
        let loc = Location::File(path);
        let setup = loc.connect()?;
        setup.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER)")?;
        Ok((dir, gate, loc, setup))
    }

    #[test]
    fn the_writer_stands_in_with_the_guests_settings_and_goes_back_clean() -> anyhow::Result<()> {
        let (_dir, gate, loc, setup) = gated_file()?;

        let settings = |c: &Connection| -> rusqlite::Result<(i64, i64)> {
            Ok((
                c.pragma_query_value(None, "synchronous", |r| r.get(0))?,
                c.pragma_query_value(None, "foreign_keys", |r| r.get(0))?,
            ))
        };
        let mut conn = loc.connect()?;
        // Each setting away from this build's default.
        let (sync, fk) = settings(&conn)?;
        conn.pragma_update(None, "synchronous", if sync == 1 { 2 } else { 1 })?;
        conn.pragma_update(None, "foreign_keys", 1 - fk)?;
        let guests = settings(&conn)?;
        assert_ne!(guests, (sync, fk));
        let own = gate.lend_writer(&mut conn).expect("the writer");
        assert_eq!(
            settings(&conn)?,
            guests,
            "the writer took the guest's settings"
        );
        // Only one writer: a second holder (there never is one while the
        // turn is held) writes on its own connection.
        let mut other = loc.connect()?;
        assert!(gate.lend_writer(&mut other).is_none());
        // A connection inside a transaction of its own keeps it.
        let mut inside = loc.connect()?;
        inside.execute_batch("BEGIN; SELECT * FROM t")?;
        assert!(gate.lend_writer(&mut inside).is_none());
        assert!(!inside.is_autocommit());
        conn.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (1); COMMIT")?;
        gate.take_back_writer(&mut conn, own);
        // The guest has its own connection back, settings and all.
        assert_eq!(settings(&conn)?, guests);

        // Lent again to a guest with the defaults, the writer drops the last
        // guest's settings; a writer given back mid-transaction is closed
        // (rolled back) and the next turn gets a new one.
        let mut plain = loc.connect()?;
        let own = gate.lend_writer(&mut plain).expect("the writer");
        assert_eq!(settings(&plain)?, (sync, fk));
        plain.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (2)")?;
        gate.take_back_writer(&mut plain, own);
        assert!(plain.is_autocommit());
        let own = gate.lend_writer(&mut plain).expect("a new writer");
        assert!(plain.is_autocommit());
        gate.take_back_writer(&mut plain, own);
        let rows: Vec<i64> = setup
            .prepare("SELECT x FROM t")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        assert_eq!(rows, [1]);
        Ok(())
    }

    #[test]
    fn a_short_read_borrows_the_writer_only_while_nobody_holds_the_turn() -> anyhow::Result<()> {
        let (_dir, gate, loc, setup) = gated_file()?;
        let count = |c: &Connection| -> rusqlite::Result<i64> {
            c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        };

        // A write through the gate, then a read that borrows the writer: it
        // sees the commit, and holds the turn while it has the writer.
        let mut writer_side = loc.connect()?;
        let own = gate.lend_writer(&mut writer_side).expect("the writer");
        writer_side.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (1); COMMIT")?;
        gate.take_back_writer(&mut writer_side, own);
        let mut reader = loc.connect()?;
        let (turn, own) = gate
            .lend_for_read(&mut reader)
            .expect("the writer, for a read");
        assert_eq!(count(&reader)?, 1);
        assert!(
            gate.turn.clone().try_acquire_owned().is_err(),
            "writers wait"
        );
        let mut other = loc.connect()?;
        assert!(
            gate.lend_for_read(&mut other).is_none(),
            "one borrower at a time"
        );
        gate.take_back_writer(&mut reader, own);
        drop(turn);
        assert_eq!(gate.turn.available_permits(), 1);

        // While a writer holds the turn, reads run on their own connection.
        let held = gate.turn.clone().try_acquire_owned().expect("the turn");
        assert!(gate.lend_for_read(&mut reader).is_none());
        drop(held);
        // A guest inside a transaction of its own keeps its snapshot, and
        // the turn is not kept for it.
        reader.execute_batch("BEGIN; SELECT * FROM t")?;
        setup.execute("INSERT INTO t VALUES (2)", [])?;
        assert!(gate.lend_for_read(&mut reader).is_none());
        assert_eq!(gate.turn.available_permits(), 1);
        assert_eq!(count(&reader)?, 1, "the guest's own snapshot");
        reader.execute_batch("COMMIT")?;
        let (turn, own) = gate.lend_for_read(&mut reader).expect("the writer again");
        assert_eq!(count(&reader)?, 2);
        gate.take_back_writer(&mut reader, own);
        drop(turn);
        Ok(())
    }

    #[test]
    fn only_plain_selects_run_on_the_borrowed_writer() {
        for read in ["SELECT 1", "  select x FROM t", "SELECT(1)"] {
            assert!(plain_select(read), "{read}");
        }
        for not in [
            "PRAGMA synchronous = NORMAL",
            "PRAGMA user_version",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "INSERT INTO t SELECT 1",
            "BEGIN",
            "",
            "SELECT last_insert_rowid()",
            "select changes()",
            "SELECT total_changes()",
        ] {
            assert!(!plain_select(not), "{not}");
        }
    }

    #[test]
    fn a_row_inserted_on_the_writer_is_the_guests_last_insert_rowid() -> anyhow::Result<()> {
        let (_dir, gate, loc, _setup) = gated_file()?;
        let last = |c: &Connection| -> rusqlite::Result<i64> {
            c.query_row("SELECT last_insert_rowid()", [], |r| r.get(0))
        };

        let mut ann = loc.connect()?;
        let own = gate.lend_writer(&mut ann).expect("the writer");
        let at_lend = ann.last_insert_rowid();
        ann.execute_batch("INSERT INTO t VALUES (7); INSERT INTO t VALUES (8)")?;
        gate.take_back_writer_after_write(&mut ann, own, at_lend);
        assert_eq!(last(&ann)?, 2, "Ann's own connection knows her row");

        // Bob only updates: his connection is not given Ann's row.
        let mut bob = loc.connect()?;
        let own = gate.lend_writer(&mut bob).expect("the writer");
        let at_lend = bob.last_insert_rowid();
        bob.execute_batch("UPDATE t SET x = x + 1")?;
        gate.take_back_writer_after_write(&mut bob, own, at_lend);
        assert_eq!(last(&bob)?, 0);
        Ok(())
    }

    #[test]
    fn connections_with_state_of_their_own_keep_writing_themselves() {
        for own in [
            "CREATE TEMP TABLE x (a)",
            "create temporary view v AS SELECT 1",
            "ATTACH DATABASE 'other.db' AS o",
            "PRAGMA cache_size = 10",
            "PRAGMA recursive_triggers(1)",
        ] {
            assert!(keeps_state(own), "{own}");
        }
        for shared in [
            "CREATE TABLE x (a)",
            "INSERT INTO t VALUES (1)",
            "PRAGMA synchronous = NORMAL",
            "PRAGMA foreign_keys = ON",
            "PRAGMA user_version",
            "SELECT 'CREATE TEMP TABLE'",
        ] {
            assert!(!keeps_state(shared), "{shared}");
        }
    }

    #[test]
    fn values_round_trip_by_storage_class() -> anyhow::Result<()> {
        let conn = Location::Memory.connect()?;
        execute(&conn, "CREATE TABLE t (a, b INTEGER, c TEXT)", vec![])
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        execute(
            &conn,
            "INSERT INTO t VALUES (?, ?, ?), (?, ?, ?)",
            vec![
                Value::Integer(-7),
                Value::Real(1.5),
                Value::Text("héllo ✓".into()),
                Value::Blob(vec![0, 1, 255]),
                Value::Null,
                Value::Integer(3),
            ],
        )
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let r = execute(&conn, "SELECT a, b, c FROM t", vec![])
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        assert_eq!(r.columns, ["a", "b", "c"]);
        assert!(matches!(r.rows[0].values[0], Value::Integer(-7)));
        assert!(matches!(r.rows[0].values[1], Value::Real(x) if x == 1.5));
        assert!(matches!(&r.rows[0].values[2], Value::Text(t) if t == "héllo ✓"));
        assert!(matches!(&r.rows[1].values[0], Value::Blob(b) if b == &[0, 1, 255]));
        assert!(matches!(r.rows[1].values[1], Value::Null));
        // TEXT affinity converts the integer on insert.
        assert!(matches!(&r.rows[1].values[2], Value::Text(t) if t == "3"));
        Ok(())
    }

    #[test]
    fn writers_take_the_gate_and_readers_never_do() {
        use GatedWrite::{Statement, Transaction};
        assert_eq!(gated_write("BEGIN IMMEDIATE", true), Some(Transaction));
        assert_eq!(
            gated_write("  begin exclusive transaction;", true),
            Some(Transaction)
        );
        assert_eq!(gated_write("BEGIN", true), None);
        assert_eq!(gated_write("BEGIN DEFERRED", true), None);
        assert_eq!(
            gated_write("INSERT INTO t VALUES (1)", true),
            Some(Statement)
        );
        assert_eq!(gated_write("update t set x = 1", true), Some(Statement));
        assert_eq!(gated_write("DELETE FROM t", true), Some(Statement));
        // Inside a transaction its BEGIN decided.
        assert_eq!(gated_write("INSERT INTO t VALUES (1)", false), None);
        assert_eq!(gated_write("SELECT * FROM t", true), None);
        assert_eq!(gated_write("COMMIT", false), None);
        assert_eq!(gated_write("", true), None);
    }

    /// A background writer that arrives while a foreground one waits lets
    /// it go first; without foreground writers it goes at once.
    #[tokio::test(flavor = "current_thread")]
    async fn background_writers_let_waiting_foreground_writers_go_first() {
        let gate = Arc::new(WriteGate::new(None));
        let first = gate.take_turn(true).await.expect("free gate");
        let order = Arc::new(Mutex::new(Vec::new()));
        let fg = tokio::spawn({
            let (gate, order) = (gate.clone(), order.clone());
            async move {
                let _t = gate.take_turn(false).await;
                order.lock().unwrap().push("foreground");
            }
        });
        tokio::task::yield_now().await; // the foreground writer is waiting now
        let bg = tokio::spawn({
            let (gate, order) = (gate.clone(), order.clone());
            async move {
                let _t = gate.take_turn(true).await;
                order.lock().unwrap().push("background");
            }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(first);
        fg.await.unwrap();
        bg.await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["foreground", "background"]);
        assert_eq!(gate.foreground_waiting.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn errors_are_io() {
        let conn = Location::Memory.connect().expect("connect");
        assert!(matches!(
            execute(&conn, "SELEC 1", vec![]),
            Err(Error::Io(_))
        ));
    }
}
