//! Enqueueing mail. Components insert outbox rows inside their own transaction, so
//! a mail exists exactly when the change that caused it was committed; the
//! notifications component delivers it (only it may reach the outside).

use crate::clock::Clock;
use crate::db::Sql;
use crate::error::ApiError;
use crate::params;
use crate::random::Random;
use crate::token::new_id;

/// One message to one recipient.
#[derive(Debug, Clone)]
pub struct Mail {
    /// What kind of mail, for operators and tests: `auth.confirm`, `2fa.code`, …
    pub kind: &'static str,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

const INSERT_OUTBOX: &str = "INSERT INTO outbox (id, kind, to_addr, subject, text_body, html_body, \
     state, attempts, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)";

/// Queues a mail; returns its id (stable across delivery retries).
pub fn enqueue(
    sql: &dyn Sql,
    clock: &dyn Clock,
    rng: &dyn Random,
    mail: &Mail,
) -> Result<String, ApiError> {
    let id = new_id(rng);
    let now = clock.now();
    sql.execute(
        INSERT_OUTBOX,
        params![
            id.as_str(),
            mail.kind,
            mail.to.as_str(),
            mail.subject.as_str(),
            mail.text.as_str(),
            mail.html.as_str(),
            now,
            now
        ],
    )?;
    Ok(id)
}

/// Escapes text for HTML mail bodies.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escape_neutralises_markup() {
        assert_eq!(
            html_escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
