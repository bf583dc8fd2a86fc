//! The checks. Each returns a JSON object mapping a check name to the
//! observed outcome, written as `ok:<value>` or `err:<variant>`.

use serde_json::{Map, Value, json};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::{key_value, sqlite, variables};

pub async fn dispatch(req: Request) -> Value {
    match req.path() {
        "/conformance/kv" => kv(),
        "/conformance/sqlite" => sql(),
        "/conformance/sqlite/count" => sql_count(),
        "/conformance/variables" => vars(),
        "/conformance/outbound" => outbound().await,
        "/conformance/trap" => trap(),
        "/conformance/kv/keys" => kv_keys(),
        "/conformance/sqlite/write" => sql_write(),
        "/conformance/files" => files(),
        "/conformance/bench/kv-sql" => kv_and_sql_read(),
        "/api/notifications/deliver" => record_kick(&req),
        "/api/notifications/kicks" => kicks(),
        "/conformance/env" => env(),
        path => match path.strip_prefix("/conformance/kv/value/") {
            Some(key) => kv_value(key),
            None => echo(&req),
        },
    }
}

fn echo(req: &Request) -> Value {
    let mut headers = Map::new();
    for (name, value) in req.headers() {
        if name.starts_with("spin-") {
            headers.insert(
                name.to_owned(),
                Value::String(value.as_str().unwrap_or("<non-utf8>").to_owned()),
            );
        }
    }
    let name = variables::get("name").ok();
    json!({
        "name": name,
        "method": req.method().to_string(),
        "path": req.path(),
        "query": req.query(),
        "body_len": req.body().len(),
        "headers": headers,
    })
}

fn kv_err(e: &key_value::Error) -> String {
    match e {
        key_value::Error::StoreTableFull => "err:store-table-full".into(),
        key_value::Error::NoSuchStore => "err:no-such-store".into(),
        key_value::Error::AccessDenied => "err:access-denied".into(),
        key_value::Error::Other(_) => "err:other".into(),
    }
}

fn show<T: std::fmt::Display>(r: Result<T, key_value::Error>) -> String {
    match r {
        Ok(v) => format!("ok:{v}"),
        Err(e) => kv_err(&e),
    }
}

fn kv() -> Value {
    let mut out = Map::new();
    let mut put = |k: &str, v: String| {
        out.insert(k.to_owned(), Value::String(v));
    };
    put(
        "open_undeclared",
        show(key_value::Store::open("nope").map(|_| "opened")),
    );
    put(
        "open_defined_but_undeclared",
        show(key_value::Store::open("other").map(|_| "opened")),
    );
    let store = match key_value::Store::open("default") {
        Ok(s) => s,
        Err(e) => {
            put("open_default", kv_err(&e));
            return Value::Object(out);
        }
    };
    put("open_default", "ok:opened".into());

    put(
        "set",
        show(store.set("greeting", b"hello").map(|()| "done")),
    );
    put(
        "get",
        show(store.get("greeting").map(|v| {
            v.map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|| "<none>".into())
        })),
    );
    put(
        "overwrite",
        show(store.set("greeting", b"bye").map(|()| "done")),
    );
    put(
        "get_after_overwrite",
        show(store.get("greeting").map(|v| {
            v.map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|| "<none>".into())
        })),
    );
    put(
        "get_missing",
        show(
            store
                .get("missing")
                .map(|v| if v.is_none() { "none" } else { "some" }),
        ),
    );
    put("exists", show(store.exists("greeting")));
    put("exists_missing", show(store.exists("missing")));

    put("set_empty", show(store.set("empty", &[]).map(|()| "done")));
    put(
        "get_empty",
        show(store.get("empty").map(|v| match v {
            Some(b) => format!("some:{}", b.len()),
            None => "none".into(),
        })),
    );

    let binary: Vec<u8> = vec![0, 1, 2, 0xfe, 0xff, 0, 0x80];
    put(
        "set_binary",
        show(store.set("binary", &binary).map(|()| "done")),
    );
    put(
        "get_binary",
        show(store.get("binary").map(|v| {
            if v.as_deref() == Some(&binary[..]) {
                "equal"
            } else {
                "different"
            }
        })),
    );

    let large: Vec<u8> = (0..(4 * 1024 * 1024u32)).map(|i| (i % 251) as u8).collect();
    put(
        "set_large",
        show(store.set("large", &large).map(|()| "done")),
    );
    put(
        "get_large",
        show(store.get("large").map(|v| match v {
            Some(b) if b == large => format!("equal:{}", b.len()),
            Some(b) => format!("different:{}", b.len()),
            None => "none".into(),
        })),
    );

    let key = "ключ/🔑 with spaces";
    put(
        "set_unicode_key",
        show(store.set(key, b"u").map(|()| "done")),
    );
    put("exists_unicode_key", show(store.exists(key)));

    put(
        "get_keys",
        show(store.get_keys().map(|mut keys| {
            keys.sort();
            keys.join(",")
        })),
    );
    put("delete", show(store.delete("greeting").map(|()| "done")));
    put("exists_after_delete", show(store.exists("greeting")));
    put(
        "delete_missing",
        show(store.delete("greeting").map(|()| "done")),
    );
    Value::Object(out)
}

fn sql_err(e: &sqlite::Error) -> String {
    match e {
        sqlite::Error::NoSuchDatabase => "err:no-such-database".into(),
        sqlite::Error::AccessDenied => "err:access-denied".into(),
        sqlite::Error::InvalidConnection => "err:invalid-connection".into(),
        sqlite::Error::DatabaseFull => "err:database-full".into(),
        sqlite::Error::Io(_) => "err:io".into(),
    }
}

fn value(v: &sqlite::Value) -> String {
    match v {
        sqlite::Value::Integer(i) => format!("integer:{i}"),
        sqlite::Value::Real(r) => format!("real:{r:?}"),
        sqlite::Value::Text(t) => format!("text:{t}"),
        sqlite::Value::Blob(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("blob:{hex}")
        }
        sqlite::Value::Null => "null".into(),
    }
}

fn row_values(r: &Result<sqlite::QueryResult, sqlite::Error>) -> String {
    match r {
        Ok(q) => q
            .rows
            .iter()
            .map(|row| row.values.iter().map(value).collect::<Vec<_>>().join("|"))
            .collect::<Vec<_>>()
            .join(";"),
        Err(e) => sql_err(e),
    }
}

fn status(r: &Result<sqlite::QueryResult, sqlite::Error>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => sql_err(e),
    }
}

fn sql() -> Value {
    use sqlite::{Connection, Value as V};
    let mut out = Map::new();
    let mut put = |k: &str, v: String| {
        out.insert(k.to_owned(), Value::String(v));
    };
    put(
        "open_undeclared",
        match Connection::open("nope") {
            Ok(_) => "ok:opened".into(),
            Err(e) => sql_err(&e),
        },
    );
    put(
        "open_defined_but_undeclared",
        match Connection::open("audit") {
            Ok(_) => "ok:opened".into(),
            Err(e) => sql_err(&e),
        },
    );
    let db = match Connection::open("default") {
        Ok(c) => c,
        Err(e) => {
            put("open_default", sql_err(&e));
            return Value::Object(out);
        }
    };
    put("open_default", "ok:opened".into());
    let _ = db.execute("DROP TABLE IF EXISTS conf_values", &[]);
    put(
        "create",
        status(&db.execute(
            "CREATE TABLE conf_values (id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, n ANY) STRICT",
            &[],
        )),
    );
    put(
        "insert_params",
        status(&db.execute(
            "INSERT INTO conf_values (i, r, t, b, n) VALUES (?, ?, ?, ?, ?)",
            &[
                V::Integer(i64::MIN),
                V::Real(3.25),
                V::Text("héllo ✓ 日本".into()),
                V::Blob(vec![0, 0xff, 1]),
                V::Null,
            ],
        )),
    );
    put(
        "select_params",
        row_values(&db.execute("SELECT i, r, t, b, n FROM conf_values", &[])),
    );
    put(
        "select_expressions",
        row_values(&db.execute("SELECT 1 + 1, 'a' || 'b', 1.5 * 2, x'ff00', NULL", &[])),
    );
    put(
        "columns",
        match db.execute("SELECT 1 AS one, 'x' AS \"two words\"", &[]) {
            Ok(q) => q.columns.join(","),
            Err(e) => sql_err(&e),
        },
    );
    put(
        "bind_large_integer",
        row_values(&db.execute("SELECT ?", &[V::Integer(i64::MAX)])),
    );
    put("bad_sql", status(&db.execute("SELEC 1", &[])));
    put(
        "wrong_param_count",
        status(&db.execute("SELECT ?, ?", &[V::Integer(1)])),
    );
    put(
        "constraint_violation",
        status(&db.execute("INSERT INTO conf_values (id, i) VALUES (1, 1)", &[])),
    );
    put(
        "strict_type_violation",
        status(&db.execute(
            "INSERT INTO conf_values (i) VALUES (?)",
            &[V::Text("not a number".into())],
        )),
    );

    // Transactions spread over several execute calls of one connection.
    let _ = db.execute("DROP TABLE IF EXISTS conf_tx", &[]);
    let _ = db.execute("CREATE TABLE conf_tx (v INTEGER)", &[]);
    put("tx_begin", status(&db.execute("BEGIN", &[])));
    let _ = db.execute("INSERT INTO conf_tx VALUES (1)", &[]);
    put("tx_rollback", status(&db.execute("ROLLBACK", &[])));
    put(
        "count_after_rollback",
        row_values(&db.execute("SELECT count(*) FROM conf_tx", &[])),
    );
    let _ = db.execute("BEGIN IMMEDIATE", &[]);
    let _ = db.execute("INSERT INTO conf_tx VALUES (2)", &[]);
    // A second connection does not see the uncommitted row.
    match Connection::open("default") {
        Ok(other) => {
            put(
                "other_connection_during_tx",
                row_values(&other.execute("SELECT count(*) FROM conf_tx", &[])),
            );
            put("tx_commit", status(&db.execute("COMMIT", &[])));
            put(
                "other_connection_after_commit",
                row_values(&other.execute("SELECT count(*) FROM conf_tx", &[])),
            );
        }
        Err(e) => put("other_connection_during_tx", sql_err(&e)),
    }
    put(
        "persisted_row",
        row_values(&db.execute("SELECT count(*) FROM conf_values", &[])),
    );
    Value::Object(out)
}

/// Counts rows in conf_values (used after a restart to check persistence).
fn sql_count() -> Value {
    match sqlite::Connection::open("default") {
        Ok(db) => {
            json!({ "count": row_values(&db.execute("SELECT count(*) FROM conf_values", &[])) })
        }
        Err(e) => json!({ "count": sql_err(&e) }),
    }
}

/// The benchmark's storage path: one key-value read and one SQLite query.
fn kv_and_sql_read() -> Value {
    let kv = key_value::Store::open_default()
        .map(|s| s.get("bench/key").ok().flatten().map(|v| v.len()));
    let sql = sqlite::Connection::open_default()
        .and_then(|db| db.execute("SELECT count(*) FROM sqlite_master", &[]))
        .map(|r| r.rows.len());
    json!({ "kv": kv.is_ok(), "sql": sql.is_ok() })
}

fn var_show(r: Result<String, variables::Error>) -> String {
    match r {
        Ok(v) => format!("ok:{v}"),
        Err(variables::Error::InvalidName(_)) => "err:invalid-name".into(),
        Err(variables::Error::Undefined(_)) => "err:undefined".into(),
        Err(variables::Error::Provider(_)) => "err:provider".into(),
        Err(variables::Error::Other(_)) => "err:other".into(),
    }
}

fn vars() -> Value {
    let mut out = Map::new();
    for name in [
        "greeting",
        "overridden",
        "literal",
        "token",
        "name",
        "not_declared",
        "app_only",
        "Bad-Name",
        "",
    ] {
        out.insert(
            name.to_owned(),
            Value::String(var_show(variables::get(name))),
        );
    }
    Value::Object(out)
}

async fn fetch(req: Request) -> String {
    match spin_sdk::http::send::<_, Response>(req).await {
        Ok(resp) => format!(
            "status:{} body:{}",
            resp.status(),
            String::from_utf8_lossy(resp.body())
        ),
        Err(spin_sdk::http::SendError::Http(code)) => format!("err:{code:?}"),
        Err(e) => format!("err:other:{e}"),
    }
}

async fn outbound() -> Value {
    let mut out = Map::new();
    let upstream = variables::get("upstream").unwrap_or_default();
    let denied_port = variables::get("denied_origin").unwrap_or_default();
    let allowed = fetch(
        Request::builder()
            .method(Method::Post)
            .uri(format!("{upstream}/echo?x=1"))
            .header("content-type", "text/plain")
            .body("ping")
            .build(),
    )
    .await;
    out.insert("allowed".into(), Value::String(allowed));
    out.insert(
        "denied_host".into(),
        Value::String(fetch(Request::get("http://denied.example.com/").build()).await),
    );
    out.insert(
        "denied_port".into(),
        Value::String(fetch(Request::get(format!("{denied_port}/echo")).build()).await),
    );
    out.insert(
        "chained".into(),
        Value::String(
            fetch(
                Request::builder()
                    .method(Method::Post)
                    .uri("http://echo.spin.internal/chain/path?q=1")
                    .header("spin-client-addr", "6.6.6.6:6")
                    .body("abc")
                    .build(),
            )
            .await,
        ),
    );
    out.insert(
        "chained_not_allowed".into(),
        Value::String(fetch(Request::get("http://conformance.spin.internal/").build()).await),
    );
    Value::Object(out)
}

fn trap() -> Value {
    let v: Vec<u8> = Vec::new();
    // An out-of-bounds index panics; with panic=abort the instance traps.
    let i = v.len() + 3;
    json!({ "unreachable": v[i] })
}

/// The component's environment variables (`environment`, `spin up -e`).
fn env() -> Value {
    let vars: Map<String, Value> = std::env::vars()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    json!({ "env": vars })
}

/// One value of the default store, as text (`spin up --key-value`).
fn kv_value(key: &str) -> Value {
    match key_value::Store::open("default").and_then(|s| s.get(key)) {
        Ok(Some(v)) => json!({ "value": String::from_utf8_lossy(&v) }),
        Ok(None) => json!({ "value": null }),
        Err(e) => json!({ "error": kv_err(&e) }),
    }
}

/// The default store's keys, sorted (used after a restart).
fn kv_keys() -> Value {
    match key_value::Store::open("default").and_then(|s| s.get_keys()) {
        Ok(mut keys) => {
            keys.sort();
            json!({ "keys": keys })
        }
        Err(e) => json!({ "error": kv_err(&e) }),
    }
}

/// One write transaction (`BEGIN IMMEDIATE` … `COMMIT`); many of these run
/// concurrently in the tests, so writers must wait for each other.
fn sql_write() -> Value {
    let db = match sqlite::Connection::open("default") {
        Ok(db) => db,
        Err(e) => return json!({ "result": sql_err(&e) }),
    };
    let steps = [
        "CREATE TABLE IF NOT EXISTS conf_writes (v INTEGER)",
        "BEGIN IMMEDIATE",
        "INSERT INTO conf_writes VALUES (1)",
        "COMMIT",
    ];
    for step in steps {
        if let Err(e) = db.execute(step, &[]) {
            return json!({ "result": sql_err(&e), "step": step });
        }
    }
    json!({ "result": "ok", "count": row_values(&db.execute("SELECT count(*) FROM conf_writes", &[])) })
}

/// Reads mounted files (the `files` setting) and tries to write one.
fn files() -> Value {
    let read = std::fs::read_to_string("/readme.txt").map_err(|e| e.kind().to_string());
    let write = std::fs::write("/new.txt", b"x").map_err(|e| e.kind().to_string());
    let outside = std::fs::read_to_string("/../spin.toml").map_err(|e| e.kind().to_string());
    json!({
        "read": match read { Ok(t) => format!("ok:{}", t.trim_end()), Err(e) => format!("err:{e}") },
        "write": match write { Ok(()) => "ok".to_owned(), Err(e) => format!("err:{e}") },
        "outside": match outside { Ok(_) => "ok".to_owned(), Err(e) => format!("err:{e}") },
    })
}

/// Counts delivery kicks (the host's periodic chained POST) in key-value.
fn record_kick(req: &Request) -> Value {
    let client = req
        .header("spin-client-addr")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_owned();
    let Ok(store) = key_value::Store::open("default") else {
        return echo(req);
    };
    let n = store
        .get("kicks")
        .ok()
        .flatten()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let _ = store.set("kicks", (n + 1).to_string().as_bytes());
    let _ = store.set("kick_client", client.as_bytes());
    let _ = store.set("kick_method", req.method().to_string().as_bytes());
    echo(req)
}

fn kicks() -> Value {
    let read = |key: &str| {
        key_value::Store::open("default")
            .ok()
            .and_then(|s| s.get(key).ok().flatten())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    json!({ "count": read("kicks"), "client": read("kick_client"), "method": read("kick_method") })
}
