//! `Sql` and `Kv` on Spin's SQLite and key-value interfaces.

use edgedesk_core::db::{DbError, Row, Rows, Sql, Value};
use edgedesk_core::kv::{Kv, KvError};
use spin_sdk::key_value::Store;
use spin_sdk::sqlite::{Connection, Value as SV};

pub struct SpinSql(Connection);

impl SpinSql {
    pub fn open_default() -> Result<Self, DbError> {
        Connection::open_default()
            .map(SpinSql)
            .map_err(|e| DbError::Sqlite(format!("open: {e}")))
    }
}

fn to_spin(v: &Value) -> SV {
    match v {
        Value::Integer(i) => SV::Integer(*i),
        Value::Real(f) => SV::Real(*f),
        Value::Text(s) => SV::Text(s.clone()),
        Value::Blob(b) => SV::Blob(b.clone()),
        Value::Null => SV::Null,
    }
}

fn from_spin(v: SV) -> Value {
    match v {
        SV::Integer(i) => Value::Integer(i),
        SV::Real(f) => Value::Real(f),
        SV::Text(s) => Value::Text(s),
        SV::Blob(b) => Value::Blob(b),
        SV::Null => Value::Null,
    }
}

impl Sql for SpinSql {
    fn execute(&self, statement: &str, params: &[Value]) -> Result<Rows, DbError> {
        let params: Vec<SV> = params.iter().map(to_spin).collect();
        let res = self.0.execute(statement, &params).map_err(|e| match e {
            spin_sdk::sqlite::Error::AccessDenied => DbError::AccessDenied,
            other => DbError::Sqlite(other.to_string()),
        })?;
        Ok(Rows {
            columns: res.columns,
            rows: res
                .rows
                .into_iter()
                .map(|r| Row(r.values.into_iter().map(from_spin).collect()))
                .collect(),
        })
    }
}

pub struct SpinKv(Store);

impl SpinKv {
    pub fn open_default() -> Result<Self, KvError> {
        Store::open_default()
            .map(SpinKv)
            .map_err(|e| KvError::Store(e.to_string()))
    }
}

fn kv_err(e: spin_sdk::key_value::Error) -> KvError {
    KvError::Store(e.to_string())
}

impl Kv for SpinKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.0.get(key).map_err(kv_err)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.0.set(key, value).map_err(kv_err)
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.0.delete(key).map_err(kv_err)
    }
    fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.0.exists(key).map_err(kv_err)
    }
}
