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
pub fn transaction<T, E>(sql: &dyn Sql, f: impl FnOnce() -> Result<T, E>) -> Result<T, E>
where
    E: From<DbError>,
{
    sql.execute("BEGIN IMMEDIATE", &[])?;
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

/// Builds a parameter slice: `params![a, b, c]`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => { &[$($crate::db::Value::from($v)),*] };
}
