//! Native implementations of the storage seams, for unit tests and tools:
//! rusqlite for `Sql` (same SQLite engine Spin embeds) and a map for `Kv`.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::db::{DbError, Row, Rows, Sql, Value};
use crate::kv::{Kv, KvError};

pub struct NativeSql(rusqlite::Connection);

impl NativeSql {
    /// A fresh private in-memory database.
    pub fn memory() -> Self {
        #[allow(clippy::expect_used)]
        let c = rusqlite::Connection::open_in_memory().expect("in-memory sqlite");
        Self(c)
    }

    pub fn open(path: &std::path::Path) -> Result<Self, DbError> {
        let c = rusqlite::Connection::open(path).map_err(|e| DbError::Sqlite(e.to_string()))?;
        c.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| DbError::Sqlite(e.to_string()))?;
        Ok(Self(c))
    }
}

fn to_sql(v: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as R;
    match v {
        Value::Integer(i) => R::Integer(*i),
        Value::Real(f) => R::Real(*f),
        Value::Text(s) => R::Text(s.clone()),
        Value::Blob(b) => R::Blob(b.clone()),
        Value::Null => R::Null,
    }
}

fn from_sql(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef as R;
    match v {
        R::Integer(i) => Value::Integer(i),
        R::Real(f) => Value::Real(f),
        R::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        R::Blob(b) => Value::Blob(b.to_vec()),
        R::Null => Value::Null,
    }
}

impl Sql for NativeSql {
    fn execute(&self, statement: &str, params: &[Value]) -> Result<Rows, DbError> {
        let err = |e: rusqlite::Error| DbError::Sqlite(e.to_string());
        let mut stmt = self.0.prepare_cached(statement).map_err(err)?;
        let columns: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let n = columns.len();
        let params: Vec<rusqlite::types::Value> = params.iter().map(to_sql).collect();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(err)? {
            let mut vals = Vec::with_capacity(n);
            for i in 0..n {
                vals.push(from_sql(r.get_ref(i).map_err(err)?));
            }
            out.push(Row(vals));
        }
        Ok(Rows { columns, rows: out })
    }
}

/// An in-memory key-value store.
#[derive(Default)]
pub struct MemoryKv(RefCell<HashMap<String, Vec<u8>>>);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::transaction;
    use crate::params;

    #[test]
    fn values_roundtrip_through_sqlite() {
        let db = NativeSql::memory();
        db.execute("CREATE TABLE t (a, b, c, d, e)", &[]).unwrap();
        db.execute(
            "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
            &[
                Value::Integer(-7),
                Value::Real(1.5),
                Value::Text("héllo ✓".into()),
                Value::Blob(vec![0, 255]),
                Value::Null,
            ],
        )
        .unwrap();
        let rows = db.execute("SELECT * FROM t", &[]).unwrap();
        assert_eq!(rows.columns, vec!["a", "b", "c", "d", "e"]);
        let r = rows.first().unwrap();
        assert_eq!(r.i64(0).unwrap(), -7);
        assert_eq!(r.text(2).unwrap(), "héllo ✓");
        assert_eq!(r.blob(3).unwrap(), vec![0, 255]);
        assert_eq!(r.opt_text(4).unwrap(), None);
        assert!(r.text(0).is_err());
    }

    #[test]
    fn failed_transaction_leaves_nothing_behind() {
        let db = NativeSql::memory();
        db.execute("CREATE TABLE t (a INTEGER PRIMARY KEY)", &[])
            .unwrap();
        let r: Result<(), DbError> = transaction(&db, || {
            db.execute("INSERT INTO t VALUES (1)", &[])?;
            db.execute("INSERT INTO t VALUES (1)", &[])?; // conflict
            Ok(())
        });
        assert!(r.is_err());
        let n = db.execute("SELECT count(*) FROM t", &[]).unwrap();
        assert_eq!(n.first().unwrap().i64(0).unwrap(), 0);
        let _ = params![1i64];
    }
}
