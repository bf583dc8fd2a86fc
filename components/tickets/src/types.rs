//! Request types ("topics"): the seven seeded portal topics, which admins
//! edit, reorder and hide. A type is named by its `id` or its `key`.

use edgedesk_core::db::Row;
use edgedesk_core::token::new_id;
use edgedesk_core::{ApiError, Random, Sql, params, validate};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RequestType {
    pub id: String,
    pub key: String,
    pub name: String,
    pub description: String,
    pub position: i64,
    pub hidden: bool,
}

const COLS: &str = "id, key, name, description, position, hidden";

fn from_row(r: &Row) -> Result<RequestType, ApiError> {
    Ok(RequestType {
        id: r.text(0)?,
        key: r.text(1)?,
        name: r.text(2)?,
        description: r.text(3)?,
        position: r.i64(4)?,
        hidden: r.bool(5)?,
    })
}

/// Types in display order; hidden ones only when `with_hidden`.
pub fn list(sql: &dyn Sql, with_hidden: bool) -> Result<Vec<RequestType>, ApiError> {
    let rows = sql.execute(
        &format!(
            "SELECT {COLS} FROM request_types WHERE ?1 = 1 OR hidden = 0 ORDER BY position, name"
        ),
        params![i64::from(with_hidden)],
    )?;
    rows.rows.iter().map(from_row).collect()
}

/// A type by id or key.
pub fn find(sql: &dyn Sql, id_or_key: &str) -> Result<Option<RequestType>, ApiError> {
    let rows = sql.execute(
        &format!("SELECT {COLS} FROM request_types WHERE id = ?1 OR key = ?1"),
        params![id_or_key],
    )?;
    rows.first().map(from_row).transpose()
}

/// The type a new request names: visible, else `400` on `request_type`.
pub fn for_new_request(sql: &dyn Sql, id_or_key: &str) -> Result<RequestType, ApiError> {
    match find(sql, id_or_key.trim())? {
        Some(t) if !t.hidden => Ok(t),
        _ => Err(ApiError::invalid(
            "request_type",
            "unknown_request_type",
            "Choose one of the listed topics.",
        )),
    }
}

/// The admin form: every member optional on update.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeInput {
    pub key: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub position: Option<i64>,
    pub hidden: Option<bool>,
}

fn clean_key(k: &str) -> Result<String, ApiError> {
    let k = k.trim().to_lowercase();
    let ok = (2..=40).contains(&k.len())
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !k.starts_with('-');
    if ok {
        Ok(k)
    } else {
        Err(ApiError::invalid(
            "key",
            "invalid_key",
            "Use 2 to 40 lowercase letters, digits and dashes.",
        ))
    }
}

fn key_taken(sql: &dyn Sql, key: &str, except: &str) -> Result<bool, ApiError> {
    let rows = sql.execute(
        "SELECT 1 FROM request_types WHERE (key = ?1 OR id = ?1) AND id <> ?2",
        params![key, except],
    )?;
    Ok(!rows.is_empty())
}

fn taken() -> ApiError {
    ApiError::conflict("key_taken", "Another topic already has this key.")
}

pub fn create(
    sql: &dyn Sql,
    rng: &dyn Random,
    input: &TypeInput,
    now: i64,
) -> Result<RequestType, ApiError> {
    let name = validate::line("name", input.name.as_deref().unwrap_or(""), 2, 80)?;
    let description = validate::text(
        "description",
        input.description.as_deref().unwrap_or(""),
        0,
        500,
    )?;
    let key = clean_key(input.key.as_deref().unwrap_or(&slug(&name)))?;
    if key_taken(sql, &key, "")? {
        return Err(taken());
    }
    let position = match input.position {
        Some(p) => p,
        None => sql
            .execute(
                "SELECT coalesce(max(position), 0) + 1 FROM request_types",
                &[],
            )?
            .first()
            .map(|r| r.i64(0))
            .transpose()?
            .unwrap_or(1),
    };
    let id = format!("rt-{}", new_id(rng));
    sql.execute(
        "INSERT INTO request_types (id, key, name, description, position, hidden, created_at, \
         updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![
            id.as_str(),
            key.as_str(),
            name.as_str(),
            description.as_str(),
            position,
            input.hidden.unwrap_or(false),
            now
        ],
    )?;
    find(sql, &id)?.ok_or(ApiError::NotFound)
}

pub fn update(
    sql: &dyn Sql,
    id: &str,
    input: &TypeInput,
    now: i64,
) -> Result<RequestType, ApiError> {
    let cur = find(sql, id)?.ok_or(ApiError::NotFound)?;
    let name = match &input.name {
        Some(n) => validate::line("name", n, 2, 80)?,
        None => cur.name,
    };
    let description = match &input.description {
        Some(d) => validate::text("description", d, 0, 500)?,
        None => cur.description,
    };
    let key = match &input.key {
        Some(k) => clean_key(k)?,
        None => cur.key,
    };
    if key_taken(sql, &key, &cur.id)? {
        return Err(taken());
    }
    sql.execute(
        "UPDATE request_types SET key = ?2, name = ?3, description = ?4, position = ?5, \
         hidden = ?6, updated_at = ?7 WHERE id = ?1",
        params![
            cur.id.as_str(),
            key.as_str(),
            name.as_str(),
            description.as_str(),
            input.position.unwrap_or(cur.position),
            input.hidden.unwrap_or(cur.hidden),
            now
        ],
    )?;
    find(sql, &cur.id)?.ok_or(ApiError::NotFound)
}

/// Most topics one reorder may name; a desk has a handful.
pub const REORDER_MAX: usize = 200;

fn invalid_order(message: &str) -> ApiError {
    ApiError::invalid("ids", "invalid_order", message.to_owned())
}

/// Puts every topic in the order of `ids` (ids or keys), positions 1…n.
/// All or nothing: the list must name each topic exactly once (a stale page
/// that misses a topic created since, an unknown id or a duplicate is `400
/// invalid_order`), and it is checked before anything is written. Call it
/// inside a transaction (the route does, with its audit entry), so a write
/// that fails half way changes nothing either.
pub fn reorder(sql: &dyn Sql, ids: &[String], now: i64) -> Result<Vec<RequestType>, ApiError> {
    if ids.is_empty() || ids.len() > REORDER_MAX {
        return Err(invalid_order("List every topic once, in the new order."));
    }
    let all = list(sql, true)?;
    let mut order: Vec<&RequestType> = Vec::with_capacity(ids.len());
    for id in ids {
        let id = id.trim();
        let t = all
            .iter()
            .find(|t| t.id == id || t.key == id)
            .ok_or_else(|| invalid_order("The list names a topic that does not exist."))?;
        if order.iter().any(|o| o.id == t.id) {
            return Err(invalid_order("The list names a topic twice."));
        }
        order.push(t);
    }
    if order.len() != all.len() {
        return Err(invalid_order(
            "The list misses a topic (perhaps one added since the page was loaded): reload and try again.",
        ));
    }
    for (n, t) in order.iter().enumerate() {
        let position = n as i64 + 1;
        if t.position != position {
            sql.execute(
                "UPDATE request_types SET position = ?2, updated_at = ?3 WHERE id = ?1",
                params![t.id.as_str(), position, now],
            )?;
        }
    }
    list(sql, true)
}

/// "Finance Support" → "finance-support".
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(40).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::World;
    use edgedesk_core::random::OsRandom;

    #[test]
    fn seven_topics_are_seeded_in_order() {
        let w = World::new();
        let names: Vec<String> = list(&w.db, false)
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(
            names,
            [
                "Beneficial owner structure",
                "Technical Support",
                "Finance Support",
                "Auction Support",
                "Registration",
                "Business bank account",
                "Contestation"
            ]
        );
        assert_eq!(
            find(&w.db, "finance-support").unwrap().unwrap().id,
            "rt-finance-support"
        );
    }

    fn keys(w: &World) -> Vec<String> {
        list(&w.db, true)
            .unwrap()
            .into_iter()
            .map(|t| t.key)
            .collect()
    }

    #[test]
    fn a_reorder_is_all_or_nothing() {
        let w = World::new();
        let before = keys(&w);
        let mut ids: Vec<String> = before.iter().rev().cloned().collect();
        // Each bad list is refused and leaves the order as it was, even the
        // one whose first entries were valid moves.
        let mut unknown = ids.clone();
        unknown[6] = "no-such-topic".into();
        let mut twice = ids.clone();
        twice[6] = twice[0].clone();
        let short = ids[..6].to_vec();
        for bad in [unknown, twice, short, Vec::new()] {
            let err = edgedesk_core::db::transaction(&w.db, || reorder(&w.db, &bad, 5));
            assert_eq!(err.unwrap_err().code(), "invalid_order", "{bad:?}");
            assert_eq!(keys(&w), before);
        }
        // A write that fails half way is rolled back with its transaction.
        w.db.execute(
            "CREATE TRIGGER fail_reorder BEFORE UPDATE OF position ON request_types \
             WHEN NEW.id = 'rt-beneficial-owner' BEGIN SELECT RAISE(ABORT, 'disk full'); END",
            &[],
        )
        .unwrap();
        assert!(edgedesk_core::db::transaction(&w.db, || reorder(&w.db, &ids, 5)).is_err());
        assert_eq!(keys(&w), before);
        w.db.execute("DROP TRIGGER fail_reorder", &[]).unwrap();
        // Ids or keys, once each: positions become 1…n.
        ids[0] = "rt-contestation".into();
        let done = edgedesk_core::db::transaction(&w.db, || reorder(&w.db, &ids, 5)).unwrap();
        let got: Vec<(String, i64)> = done.into_iter().map(|t| (t.key, t.position)).collect();
        let want: Vec<(String, i64)> = before.iter().rev().cloned().zip(1..).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn admins_create_edit_and_hide_topics() {
        let w = World::new();
        let input = TypeInput {
            name: Some("Data Protection".into()),
            description: Some("GDPR requests.".into()),
            ..TypeInput::default()
        };
        let t = create(&w.db, &OsRandom, &input, 1).unwrap();
        assert_eq!((t.key.as_str(), t.position), ("data-protection", 8));
        assert_eq!(
            create(&w.db, &OsRandom, &input, 1).unwrap_err().code(),
            "key_taken"
        );
        let hide = TypeInput {
            hidden: Some(true),
            ..TypeInput::default()
        };
        update(&w.db, &t.id, &hide, 2).unwrap();
        assert_eq!(list(&w.db, false).unwrap().len(), 7);
        assert_eq!(list(&w.db, true).unwrap().len(), 8);
        assert_eq!(
            for_new_request(&w.db, "data-protection")
                .unwrap_err()
                .code(),
            "unknown_request_type"
        );
    }
}
