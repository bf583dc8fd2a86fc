//! Full-text search over key, summary, description and comments (SQLite FTS5).
//!
//! What a person types is never passed to FTS5 as query syntax: it is split
//! into words, each becomes a quoted prefix term (`"pass"*`), and all must
//! match. Customers' searches only ever match comments that
//! `ticket_activity` marks `internal = 0`, never operators' notes.

use edgedesk_core::{ApiError, Sql, params};

/// At most this many words of a query are used.
const MAX_TERMS: usize = 8;

/// The FTS5 query for `q`, or `None` when it has no searchable word.
pub fn fts_query(q: &str) -> Option<String> {
    let terms: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_TERMS)
        .map(|w| format!("\"{}\"*", w.to_lowercase()))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// Indexes a new request's own text. Rows are found by rowid only: a
/// request's text is rowid `-number`, a comment the rowid of its activity
/// row. The index keeps no copy of the text (migration 0013). A number is
/// never given twice (`tickets::insert`), so there is nothing to replace.
pub fn index_ticket(
    sql: &dyn Sql,
    number: i64,
    key: &str,
    summary: &str,
    description: &str,
) -> Result<(), ApiError> {
    sql.execute(
        "INSERT INTO ticket_search (rowid, body) VALUES (?, ?)",
        params![-number, format!("{key}\n{summary}\n{description}")],
    )?;
    Ok(())
}

/// Indexes a new comment, or an edited one: `was` is the text it was
/// indexed with. The index stores no text, so FTS5 is told which words to
/// take out ('delete' with the old text); the comment's row in
/// `ticket_activity` holds exactly what was indexed.
pub fn index_comment(
    sql: &dyn Sql,
    activity_id: &str,
    body: &str,
    was: Option<&str>,
) -> Result<(), ApiError> {
    let rowid = sql
        .execute(
            "SELECT rowid FROM ticket_activity WHERE id = ?",
            params![activity_id],
        )?
        .first()
        .ok_or_else(|| ApiError::internal("comment row missing"))?
        .i64(0)?;
    if let Some(old) = was {
        sql.execute(
            "INSERT INTO ticket_search (ticket_search, rowid, body) VALUES ('delete', ?, ?)",
            params![rowid, old],
        )?;
    }
    sql.execute(
        "INSERT INTO ticket_search (rowid, body) VALUES (?, ?)",
        params![rowid, body],
    )?;
    Ok(())
}

/// How many of the newest matching requests, and of the newest matching
/// comments, a search considers before its filters and order apply.
///
/// Why a bound: a common word matches a large share of every desk (one in
/// eight of 100,000 requests in the benchmark), and an exact answer means
/// reading and sorting every match: 120–300 ms. Reading matches newest first
/// and stopping at the bound keeps a search near 5 ms whatever it matches;
/// a person who needs an older request adds a word or its key (`SD-42`
/// is looked up directly, never through the text index).
pub const MATCH_BOUND: i64 = 1000;

/// The SQL condition (on `t.number`) for a search; the FTS query is bound
/// twice (`?` … `?`). Operators also match internal notes.
///
/// A request's own text is indexed under rowid `-number`, so its matches
/// come straight from the index in "newest first" order without reading the
/// index's content table; a comment is indexed under its activity rowid,
/// which leads to its request through `ticket_activity`'s primary key.
pub fn condition(with_internal: bool) -> String {
    let comments = if with_internal {
        ""
    } else {
        " AND a.internal = 0"
    };
    format!(
        "t.number IN (SELECT -rowid FROM (SELECT rowid FROM ticket_search \
             WHERE ticket_search MATCH ? AND rowid < 0 ORDER BY rowid LIMIT {MATCH_BOUND}) \
         UNION ALL SELECT t2.number FROM ticket_activity a JOIN tickets t2 ON t2.id = a.ticket_id \
             WHERE a.rowid IN (SELECT rowid FROM ticket_search \
                 WHERE ticket_search MATCH ? AND rowid > 0 ORDER BY rowid DESC LIMIT {MATCH_BOUND}){comments})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_text_never_becomes_query_syntax() {
        assert_eq!(
            fts_query("Password reset"),
            Some("\"password\"* \"reset\"*".into())
        );
        assert_eq!(
            fts_query("\"a\" OR b* NEAR(c) -d ^e"),
            Some("\"a\"* \"or\"* \"b\"* \"near\"* \"c\"* \"d\"* \"e\"*".into())
        );
        assert_eq!(fts_query("  ** \"\" () "), None);
        assert_eq!(
            fts_query("Zürich façade"),
            Some("\"zürich\"* \"façade\"*".into())
        );
    }
}
