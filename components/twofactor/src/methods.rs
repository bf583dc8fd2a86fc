//! Which methods a user has configured, and which one is primary.
//!
//! A method exists (a row in `twofactor_methods`) only once it is confirmed. The
//! first one becomes primary; removing the primary promotes another, preferring
//! a sign-in method over a backup method. The last method cannot be removed.

use edgedesk_core::db::transaction;
use edgedesk_core::{ApiError, Sql, params};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Totp,
    EmailOtp,
    SecurityQuestions,
    BackupCodes,
    Webauthn,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Totp,
        Kind::EmailOtp,
        Kind::SecurityQuestions,
        Kind::BackupCodes,
        Kind::Webauthn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Totp => "totp",
            Kind::EmailOtp => "email_otp",
            Kind::SecurityQuestions => "security_questions",
            Kind::BackupCodes => "backup_codes",
            Kind::Webauthn => "webauthn",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// 400 naming `field` for an unknown method name.
    pub fn parse_field(field: &str, s: &str) -> Result<Kind, ApiError> {
        Kind::parse(s).ok_or_else(|| {
            ApiError::invalid(
                field,
                "invalid_method",
                "Choose one of totp, email_otp, security_questions, backup_codes, webauthn.",
            )
        })
    }

    /// Backup methods stand in when the primary method is out of reach.
    pub fn is_backup(self) -> bool {
        matches!(self, Kind::SecurityQuestions | Kind::BackupCodes)
    }
}

/// One configured method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    pub kind: Kind,
    pub primary: bool,
    pub created_at: i64,
}

const LIST: &str = "SELECT kind, is_primary, created_at FROM twofactor_methods \
     WHERE user_id = ?1 ORDER BY is_primary DESC, created_at, kind";

/// The configured methods, primary first.
pub fn list(sql: &dyn Sql, user_id: &str) -> Result<Vec<Method>, ApiError> {
    let rows = sql.execute(LIST, params![user_id])?;
    rows.rows
        .iter()
        .map(|r| {
            Ok(Method {
                kind: Kind::parse(&r.text(0)?)
                    .ok_or_else(|| ApiError::internal("unknown method kind"))?,
                primary: r.bool(1)?,
                created_at: r.i64(2)?,
            })
        })
        .collect()
}

pub fn is_configured(sql: &dyn Sql, user_id: &str, kind: Kind) -> Result<bool, ApiError> {
    Ok(list(sql, user_id)?.iter().any(|m| m.kind == kind))
}

const ADD: &str = "INSERT INTO twofactor_methods (user_id, kind, is_primary, created_at) \
     VALUES (?1, ?2, NOT EXISTS (SELECT 1 FROM twofactor_methods WHERE user_id = ?1 AND is_primary = 1), ?3) \
     ON CONFLICT(user_id, kind) DO NOTHING RETURNING kind";

thread_local! {
    /// The client address of the request being handled, for audit entries.
    /// Spin runs one request per instance (and wasm has one thread), so it is
    /// that request's: `crate::handle` sets it before routing. Threading it
    /// through the five setup paths would change every signature for one log
    /// column. Empty in unit tests.
    static ADDRESS: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Sets the address [`audit`] records (see `ADDRESS`).
pub fn set_request_address(address: &str) {
    ADDRESS.with(|a| *a.borrow_mut() = address.to_owned());
}

/// Appends a second-factor audit entry about the user's own account, in the
/// caller's transaction.
pub fn audit(
    sql: &dyn Sql,
    user_id: &str,
    action: &str,
    detail: &str,
    now: i64,
) -> Result<(), ApiError> {
    let label = edgedesk_core::audit::user_label(sql, user_id)?;
    let address = ADDRESS.with(|a| a.borrow().clone());
    edgedesk_core::audit::record(
        sql,
        now,
        edgedesk_core::audit::Actor::user(user_id, &label),
        action,
        edgedesk_core::audit::Target {
            id: &format!("user:{user_id}"),
            label: &label,
        },
        detail,
        &address,
    )
}

/// Records a confirmed method (the first one becomes primary). Idempotent;
/// a new method is audited (`second_factor.added`). Call inside the
/// transaction that stores the method's secret.
pub fn add(sql: &dyn Sql, user_id: &str, kind: Kind, now: i64) -> Result<(), ApiError> {
    if !sql
        .execute(ADD, params![user_id, kind.as_str(), now])?
        .is_empty()
    {
        audit(sql, user_id, "second_factor.added", kind.as_str(), now)?;
    }
    Ok(())
}

/// Makes `kind` the primary method; `409 method_not_configured` if it is not set up.
pub fn set_primary(sql: &dyn Sql, user_id: &str, kind: Kind, now: i64) -> Result<(), ApiError> {
    transaction(sql, || {
        if !is_configured(sql, user_id, kind)? {
            return Err(not_configured());
        }
        audit(sql, user_id, "second_factor.primary", kind.as_str(), now)?;
        // Two statements: the partial unique index allows one primary at a time.
        sql.execute(
            "UPDATE twofactor_methods SET is_primary = 0 WHERE user_id = ?1",
            params![user_id],
        )?;
        sql.execute(
            "UPDATE twofactor_methods SET is_primary = 1 WHERE user_id = ?1 AND kind = ?2",
            params![user_id, kind.as_str()],
        )?;
        Ok(())
    })
}

pub fn not_configured() -> ApiError {
    ApiError::conflict(
        "method_not_configured",
        "This method is not set up for your account.",
    )
}

/// Every second-factor record of a user (methods, secrets, pending setups,
/// challenges, trusted devices): an operator's "reset the second factor". The
/// user sets one up again at their next sign-in. Returns the methods removed.
/// Call inside the transaction that audits it.
pub fn reset_all(sql: &dyn Sql, user_id: &str) -> Result<Vec<String>, ApiError> {
    let removed = list(sql, user_id)?
        .into_iter()
        .map(|m| m.kind.as_str().to_owned())
        .collect();
    for stmt in [
        "DELETE FROM twofactor_methods WHERE user_id = ?1",
        "DELETE FROM twofactor_totp WHERE user_id = ?1",
        "DELETE FROM twofactor_email_codes WHERE user_id = ?1",
        "DELETE FROM twofactor_questions WHERE user_id = ?1",
        "DELETE FROM twofactor_backup_codes WHERE user_id = ?1",
        "DELETE FROM twofactor_webauthn WHERE user_id = ?1",
        "DELETE FROM twofactor_challenges WHERE user_id = ?1",
        "DELETE FROM twofactor_devices WHERE user_id = ?1",
    ] {
        sql.execute(stmt, params![user_id])?;
    }
    Ok(removed)
}

/// Per-method secrets, deleted with the method.
fn data_tables(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Totp => &["DELETE FROM twofactor_totp WHERE user_id = ?1"],
        Kind::EmailOtp => &["DELETE FROM twofactor_email_codes WHERE user_id = ?1"],
        Kind::SecurityQuestions => &[
            "DELETE FROM twofactor_questions WHERE user_id = ?1",
            "DELETE FROM twofactor_challenges WHERE user_id = ?1 AND purpose = 'questions'",
        ],
        Kind::BackupCodes => &["DELETE FROM twofactor_backup_codes WHERE user_id = ?1"],
        Kind::Webauthn => &["DELETE FROM twofactor_webauthn WHERE user_id = ?1"],
    }
}

/// Removes (resets) a method and its secrets. Refuses the last configured method
/// (`409 last_method`); removing the primary promotes the oldest sign-in method
/// (or, failing that, the oldest backup method).
pub fn remove(sql: &dyn Sql, user_id: &str, kind: Kind, now: i64) -> Result<(), ApiError> {
    transaction(sql, || {
        let all = list(sql, user_id)?;
        let Some(this) = all.iter().find(|m| m.kind == kind) else {
            // Nothing configured: still drop a half-finished setup (pending secret).
            for stmt in data_tables(kind) {
                sql.execute(stmt, params![user_id])?;
            }
            return Ok(());
        };
        if all.len() == 1 {
            return Err(ApiError::conflict(
                "last_method",
                "This is your only second factor: set up another one before removing it.",
            ));
        }
        for stmt in data_tables(kind) {
            sql.execute(stmt, params![user_id])?;
        }
        sql.execute(
            "DELETE FROM twofactor_methods WHERE user_id = ?1 AND kind = ?2",
            params![user_id, kind.as_str()],
        )?;
        audit(sql, user_id, "second_factor.removed", kind.as_str(), now)?;
        if this.primary {
            let mut rest: Vec<&Method> = all.iter().filter(|m| m.kind != kind).collect();
            rest.sort_by_key(|m| (m.kind.is_backup(), m.created_at));
            if let Some(next) = rest.first() {
                sql.execute(
                    "UPDATE twofactor_methods SET is_primary = 1 WHERE user_id = ?1 AND kind = ?2",
                    params![user_id, next.kind.as_str()],
                )?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::db;

    #[test]
    fn first_method_becomes_primary_and_add_is_idempotent() {
        let db = db();
        add(&db, "u1", Kind::BackupCodes, 10).unwrap();
        add(&db, "u1", Kind::Totp, 20).unwrap();
        add(&db, "u1", Kind::Totp, 30).unwrap();
        let l = list(&db, "u1").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!((l[0].kind, l[0].primary), (Kind::BackupCodes, true));
        assert!(!l[1].primary);
    }

    #[test]
    fn exactly_one_primary_after_switching() {
        let db = db();
        add(&db, "u1", Kind::Totp, 10).unwrap();
        add(&db, "u1", Kind::EmailOtp, 20).unwrap();
        set_primary(&db, "u1", Kind::EmailOtp, 5).unwrap();
        let l = list(&db, "u1").unwrap();
        assert_eq!(l.iter().filter(|m| m.primary).count(), 1);
        assert_eq!(l[0].kind, Kind::EmailOtp);
        let e = set_primary(&db, "u1", Kind::Webauthn, 5).unwrap_err();
        assert_eq!((e.status(), e.code()), (409, "method_not_configured"));
    }

    #[test]
    fn last_method_cannot_be_removed_and_primary_moves_to_a_sign_in_method() {
        let db = db();
        add(&db, "u1", Kind::Totp, 10).unwrap();
        add(&db, "u1", Kind::BackupCodes, 20).unwrap();
        add(&db, "u1", Kind::EmailOtp, 30).unwrap();
        remove(&db, "u1", Kind::Totp, 5).unwrap();
        let l = list(&db, "u1").unwrap();
        assert_eq!((l[0].kind, l[0].primary), (Kind::EmailOtp, true));
        remove(&db, "u1", Kind::EmailOtp, 5).unwrap();
        assert_eq!(list(&db, "u1").unwrap()[0].kind, Kind::BackupCodes);
        assert!(list(&db, "u1").unwrap()[0].primary);
        let e = remove(&db, "u1", Kind::BackupCodes, 5).unwrap_err();
        assert_eq!((e.status(), e.code()), (409, "last_method"));
        // Removing something never configured is a harmless reset.
        remove(&db, "u1", Kind::Webauthn, 5).unwrap();
    }

    #[test]
    fn method_changes_are_audited_in_their_transaction() {
        let db = crate::testutil::db();
        set_request_address("10.1.2.3");
        add(&db, "u1", Kind::Totp, 1).unwrap();
        add(&db, "u1", Kind::Totp, 1).unwrap(); // already there: nothing new
        add(&db, "u1", Kind::BackupCodes, 2).unwrap();
        set_primary(&db, "u1", Kind::BackupCodes, 3).unwrap();
        remove(&db, "u1", Kind::Totp, 4).unwrap();
        assert_eq!(
            remove(&db, "u1", Kind::BackupCodes, 5).unwrap_err().code(),
            "last_method"
        );
        let rows = db
            .execute(
                "SELECT action, detail, actor_label, address FROM audit_log ORDER BY id",
                &[],
            )
            .unwrap();
        let got: Vec<(String, String)> = rows
            .rows
            .iter()
            .map(|r| (r.text(0).unwrap(), r.text(1).unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("second_factor.added".to_owned(), "totp".to_owned()),
                ("second_factor.added".to_owned(), "backup_codes".to_owned()),
                (
                    "second_factor.primary".to_owned(),
                    "backup_codes".to_owned()
                ),
                ("second_factor.removed".to_owned(), "totp".to_owned()),
            ]
        );
        let first = rows.first().unwrap();
        assert_eq!(first.text(2).unwrap(), "alice");
        assert_eq!(first.text(3).unwrap(), "10.1.2.3");
        set_request_address("");
    }
}
