//! The SQL seam: Spin's SQLite interface in miniature.
//!
//! Spin's `execute(statement, params) -> rows` is all a component gets, so that is
//! the whole trait; the Spin implementation lives in `edgedesk-web`, a rusqlite one
//! in `native` for tests. Row helpers turn "wrong column type" into a `DbError`
//! instead of a panic.

use std::fmt;

/// A SQLite value, as Spin's `sqlite.value` variant.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Integer(v.into())
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Integer(v.into())
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Sqlite(String),
    #[error("column {0} has an unexpected type")]
    Type(usize),
    #[error("column {0} is missing")]
    Missing(usize),
    #[error("access denied to the database")]
    AccessDenied,
}

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> Result<&Value, DbError> {
        self.0.get(i).ok_or(DbError::Missing(i))
    }
    pub fn i64(&self, i: usize) -> Result<i64, DbError> {
        match self.at(i)? {
            Value::Integer(v) => Ok(*v),
            _ => Err(DbError::Type(i)),
        }
    }
    pub fn opt_i64(&self, i: usize) -> Result<Option<i64>, DbError> {
        match self.at(i)? {
            Value::Integer(v) => Ok(Some(*v)),
            Value::Null => Ok(None),
            _ => Err(DbError::Type(i)),
        }
    }
    pub fn bool(&self, i: usize) -> Result<bool, DbError> {
        Ok(self.i64(i)? != 0)
    }
    pub fn text(&self, i: usize) -> Result<String, DbError> {
        match self.at(i)? {
            Value::Text(v) => Ok(v.clone()),
            _ => Err(DbError::Type(i)),
        }
    }
    /// Column `i`'s text, moved out of the row (a large value, such as a
    /// list row's JSON, is not copied).
    pub fn take_text(&mut self, i: usize) -> Result<String, DbError> {
        match self.0.get_mut(i).ok_or(DbError::Missing(i))? {
            Value::Text(v) => Ok(std::mem::take(v)),
            _ => Err(DbError::Type(i)),
        }
    }
    /// [`Row::take_text`] for a column that may be NULL.
    pub fn take_opt_text(&mut self, i: usize) -> Result<Option<String>, DbError> {
        match self.0.get_mut(i).ok_or(DbError::Missing(i))? {
            Value::Text(v) => Ok(Some(std::mem::take(v))),
            Value::Null => Ok(None),
            _ => Err(DbError::Type(i)),
        }
    }
    pub fn opt_text(&self, i: usize) -> Result<Option<String>, DbError> {
        match self.at(i)? {
            Value::Text(v) => Ok(Some(v.clone())),
            Value::Null => Ok(None),
            _ => Err(DbError::Type(i)),
        }
    }
    pub fn blob(&self, i: usize) -> Result<Vec<u8>, DbError> {
        match self.at(i)? {
            Value::Blob(v) => Ok(v.clone()),
            _ => Err(DbError::Type(i)),
        }
    }
}

/// Rows of one statement.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
}

impl Rows {
    pub fn first(&self) -> Option<&Row> {
        self.rows.first()
    }
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// A SQLite connection: one per request, kept for the request so `BEGIN`/`COMMIT`
/// across calls form one transaction (Spin keeps the connection per resource).
pub trait Sql {
    fn execute(&self, statement: &str, params: &[Value]) -> Result<Rows, DbError>;
}

impl fmt::Debug for dyn Sql + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn Sql")
    }
}

/// Runs `f` inside `BEGIN IMMEDIATE … COMMIT`, rolling back on any error so nothing
/// is left half-written. IMMEDIATE takes the write lock up front: two requests that
/// read-then-write cannot both read the old state.
///
/// Real Spin opens SQLite without a busy timeout, so a `BEGIN IMMEDIATE` that
/// meets another writer fails at once with "database is locked". Nothing has
/// happened yet at that point, so it is retried after a short, growing,
/// jittered pause (about 2.5 s in all) before the error is given up.
pub fn transaction<T, E>(sql: &dyn Sql, f: impl FnOnce() -> Result<T, E>) -> Result<T, E>
where
    E: From<DbError>,
{
    begin_immediate(sql)?;
    match f() {
        Ok(v) => {
            if let Err(e) = sql.execute("COMMIT", &[]) {
                let _ = sql.execute("ROLLBACK", &[]);
                return Err(e.into());
            }
            Ok(v)
        }
        Err(e) => {
            let _ = sql.execute("ROLLBACK", &[]);
            Err(e)
        }
    }
}

/// Commits on this connection stop waiting for the disk (`synchronous =
/// NORMAL`; the setting is per connection, so every writer sets it). In WAL
/// mode that is still crash-safe: a killed process loses nothing committed,
/// and the file stays consistent; only a power cut can undo the last commits
/// before the next checkpoint. With `FULL` every commit paid an fsync inside
/// the write lock (2–3 ms here), which capped all writers together at a few
/// hundred commits a second. See docs/PERFORMANCE.md ("the write path").
pub fn relax_sync(sql: &dyn Sql) {
    // A host that refuses (or a database not in WAL mode) keeps its default.
    let _ = sql.execute("PRAGMA synchronous = NORMAL", &[]);
}

/// True for SQLite's "another connection holds the lock" errors.
pub fn is_busy(e: &DbError) -> bool {
    match e {
        DbError::Sqlite(m) => {
            let m = m.to_ascii_lowercase();
            m.contains("database is locked") || m.contains("database is busy")
        }
        _ => false,
    }
}

fn begin_immediate(sql: &dyn Sql) -> Result<(), DbError> {
    relax_sync(sql);
    let mut pause_ms: u64 = 1;
    let mut waited_ms: u64 = 0;
    loop {
        match sql.execute("BEGIN IMMEDIATE", &[]) {
            Err(e) if is_busy(&e) && waited_ms < 2500 => {
                // Jitter (not security-relevant): writers that collided once
                // should not collide again in step.
                let jitter = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| u64::from(d.subsec_nanos()) % (pause_ms + 1))
                    .unwrap_or(0);
                std::thread::sleep(std::time::Duration::from_millis(pause_ms + jitter));
                waited_ms += pause_ms + jitter;
                pause_ms = (pause_ms * 2).min(50);
            }
            other => return other.map(|_| ()),
        }
    }
}

/// Builds a parameter slice: `params![a, b, c]`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => { &[$($crate::db::Value::from($v)),*] };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Answers "database is locked" to the first `busy` BEGINs, and records
    /// every statement.
    struct Contended {
        busy: RefCell<u32>,
        log: RefCell<Vec<String>>,
    }

    impl Sql for Contended {
        fn execute(&self, statement: &str, _: &[Value]) -> Result<Rows, DbError> {
            self.log.borrow_mut().push(statement.to_owned());
            if statement == "BEGIN IMMEDIATE" && *self.busy.borrow() > 0 {
                *self.busy.borrow_mut() -= 1;
                return Err(DbError::Sqlite("Io(\"database is locked\")".into()));
            }
            Ok(Rows {
                columns: vec![],
                rows: vec![],
            })
        }
    }

    #[test]
    fn a_locked_begin_is_retried_and_nothing_runs_twice() {
        let db = Contended {
            busy: RefCell::new(3),
            log: RefCell::new(vec![]),
        };
        let out: Result<u8, DbError> = transaction(&db, || {
            db.execute("INSERT", &[])?;
            Ok(7)
        });
        assert_eq!(out, Ok(7));
        assert_eq!(
            *db.log.borrow(),
            [
                "PRAGMA synchronous = NORMAL",
                "BEGIN IMMEDIATE",
                "BEGIN IMMEDIATE",
                "BEGIN IMMEDIATE",
                "BEGIN IMMEDIATE",
                "INSERT",
                "COMMIT"
            ]
        );
    }

    #[test]
    fn a_lock_that_never_frees_is_given_up() {
        let db = Contended {
            busy: RefCell::new(u32::MAX),
            log: RefCell::new(vec![]),
        };
        let out: Result<(), DbError> = transaction(&db, || Ok(()));
        assert!(out.is_err_and(|e| is_busy(&e)));
        assert!(!db.log.borrow().iter().any(|s| s == "COMMIT"));
    }
}
