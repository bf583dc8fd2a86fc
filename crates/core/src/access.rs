//! Company access: who belongs to which organization, and the one check every
//! desk component (tickets, attachments) calls before showing requests.
//!
//! Tables `organizations` and `memberships` are owned by the `approvals`
//! component; every write to `memberships` goes through the functions here
//! (approvals decides, auth's invite adds a person straight into a company),
//! so the rules live in one place.

use crate::db::{Row, Sql};
use crate::error::ApiError;
use crate::params;
use crate::users::Role;

/// A person's access to the desk's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    None,
    Pending,
    Approved,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::None => "none",
            Access::Pending => "pending",
            Access::Approved => "approved",
        }
    }
}

/// A person's organization and their access to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub organization_id: String,
    pub organization_name: String,
    pub access: Access,
}

const MEMBERSHIP: &str = "SELECT m.organization_id, o.name, m.access FROM memberships m \
     JOIN organizations o ON o.id = m.organization_id WHERE m.user_id = ?";

/// The user's organization, pending or approved; `None` without one.
pub fn membership(sql: &dyn Sql, user_id: &str) -> Result<Option<Membership>, ApiError> {
    let rows = sql.execute(MEMBERSHIP, params![user_id])?;
    rows.first()
        .map(|r| {
            Ok(Membership {
                organization_id: r.text(0)?,
                organization_name: r.text(1)?,
                access: if r.text(2)? == "approved" {
                    Access::Approved
                } else {
                    Access::Pending
                },
            })
        })
        .transpose()
}

/// What the desk gate needs to know of a person: their role and their company
/// access. `session::open` reads it in the session's own statement, since
/// nearly every request with a session asks the gate next (a statement costs
/// ~30 µs of host CPU however small; docs/PERFORMANCE.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    /// `None` when the person does not exist (any more).
    pub role: Option<Role>,
    /// Their organization and access to it, as [`membership`] reads it.
    pub membership: Option<(String, Access)>,
}

/// [`Standing`]'s columns, read by [`Standing::from_row`].
pub const STANDING_COLS: &str = "u.role, m.organization_id, m.access";

/// The joins behind [`STANDING_COLS`] for the person whose id is `user`
/// (a column or parameter of the outer statement).
pub fn standing_joins(user: &str) -> String {
    format!(
        "LEFT JOIN users u ON u.id = {user} LEFT JOIN memberships m ON m.user_id = {user} \
         AND m.organization_id IN (SELECT id FROM organizations)"
    )
}

impl Standing {
    /// From [`STANDING_COLS`] starting at column `at`.
    pub fn from_row(r: &Row, at: usize) -> Result<Standing, ApiError> {
        let membership = match r.opt_text(at + 1)? {
            Some(org) => {
                let access = if r.text(at + 2)? == "approved" {
                    Access::Approved
                } else {
                    Access::Pending
                };
                Some((org, access))
            }
            None => None,
        };
        Ok(Standing {
            role: r.opt_text(at)?.as_deref().and_then(Role::parse),
            membership,
        })
    }
}

/// A person's [`Standing`], read on its own (without a session).
pub fn standing(sql: &dyn Sql, user_id: &str) -> Result<Standing, ApiError> {
    let rows = sql.execute(
        &format!(
            "SELECT {STANDING_COLS} FROM (SELECT ?1 AS id) p {}",
            standing_joins("p.id")
        ),
        params![user_id],
    )?;
    match rows.first() {
        Some(r) => Standing::from_row(r, 0),
        None => Ok(Standing::default()),
    }
}

/// Who is looking at the desk, once [`require_desk_access`] let them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// Operators and admins see every request.
    Operator { user_id: String, admin: bool },
    /// An approved member of an organization.
    Customer {
        user_id: String,
        organization_id: String,
    },
}

impl Viewer {
    pub fn user_id(&self) -> &str {
        match self {
            Viewer::Operator { user_id, .. } | Viewer::Customer { user_id, .. } => user_id,
        }
    }
    pub fn is_operator(&self) -> bool {
        matches!(self, Viewer::Operator { .. })
    }
    /// The customer's organization (operators have none).
    pub fn organization_id(&self) -> Option<&str> {
        match self {
            Viewer::Customer {
                organization_id, ..
            } => Some(organization_id),
            Viewer::Operator { .. } => None,
        }
    }
}

/// The shared gate for raising and seeing requests: operators pass; customers
/// pass only with approved company access, otherwise `403 access_not_approved`
/// (the page then shows the access request instead).
pub fn require_desk_access(sql: &dyn Sql, user_id: &str) -> Result<Viewer, ApiError> {
    desk_viewer(user_id, &standing(sql, user_id)?)
}

/// [`require_desk_access`] for a [`Standing`] already read.
pub fn desk_viewer(user_id: &str, standing: &Standing) -> Result<Viewer, ApiError> {
    match standing.role {
        Some(r @ (Role::Operator | Role::Admin)) => Ok(Viewer::Operator {
            user_id: user_id.to_owned(),
            admin: r == Role::Admin,
        }),
        Some(Role::Customer) => match &standing.membership {
            Some((org, Access::Approved)) => Ok(Viewer::Customer {
                user_id: user_id.to_owned(),
                organization_id: org.clone(),
            }),
            Some(_) => Err(ApiError::forbidden(
                "access_pending",
                "Your company access is waiting for approval.",
            )),
            None => Err(ApiError::forbidden(
                "access_not_approved",
                "Request access to your company before raising requests.",
            )),
        },
        None => Err(ApiError::unauthorized("not_signed_in", "Please sign in.")),
    }
}

const UPSERT_MEMBER: &str = "INSERT INTO memberships (user_id, organization_id, access, created_at, \
     updated_at) VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT(user_id) DO UPDATE SET \
     organization_id = excluded.organization_id, access = excluded.access, updated_at = excluded.updated_at";
const DELETE_MEMBER: &str = "DELETE FROM memberships WHERE user_id = ? RETURNING organization_id";
const APPROVED_MEMBERS: &str = "SELECT user_id FROM memberships \
     WHERE organization_id = ? AND access = 'approved' ORDER BY created_at, user_id";

/// Puts the user in `organization_id` with `access` (moving them if they were
/// elsewhere). Call inside the caller's transaction.
pub fn set_member(
    sql: &dyn Sql,
    user_id: &str,
    organization_id: &str,
    access: Access,
    now: i64,
) -> Result<(), ApiError> {
    let access = match access {
        Access::Pending => "pending",
        Access::Approved => "approved",
        Access::None => return remove_member(sql, user_id).map(|_| ()),
    };
    sql.execute(
        UPSERT_MEMBER,
        params![user_id, organization_id, access, now],
    )?;
    Ok(())
}

/// Lets the user into the organization straight away (an operator's or an
/// administrator's decision): approved membership, and the organization is
/// approved with its first member.
pub fn admit(
    sql: &dyn Sql,
    user_id: &str,
    organization_id: &str,
    now: i64,
) -> Result<(), ApiError> {
    set_member(sql, user_id, organization_id, Access::Approved, now)?;
    sql.execute(
        "UPDATE organizations SET state = 'approved', updated_at = ?2 WHERE id = ?1 AND state = 'pending'",
        params![organization_id, now],
    )?;
    Ok(())
}

/// Removes the user's company access; returns the organization they were in.
pub fn remove_member(sql: &dyn Sql, user_id: &str) -> Result<Option<String>, ApiError> {
    let rows = sql.execute(DELETE_MEMBER, params![user_id])?;
    rows.first()
        .map(|r| r.text(0))
        .transpose()
        .map_err(Into::into)
}

/// Ids of the organization's approved members, oldest first.
pub fn approved_members(sql: &dyn Sql, organization_id: &str) -> Result<Vec<String>, ApiError> {
    let rows = sql.execute(APPROVED_MEMBERS, params![organization_id])?;
    rows.rows
        .iter()
        .map(|r| r.text(0).map_err(Into::into))
        .collect()
}

/// The matching key of a company name: lowercase, every whitespace removed, so
/// "ACME  Corp" and "acme corp" are the same company.
pub fn name_key(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Free-mail providers: an address there says nothing about the company, so
/// these domains never match (and cannot be registered) by domain.
pub const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "hotmail.fr",
    "live.com",
    "live.fr",
    "msn.com",
    "yahoo.com",
    "yahoo.fr",
    "ymail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "mail.com",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "sfr.fr",
    "wanadoo.fr",
    "yandex.com",
    "yandex.ru",
    "zoho.com",
    "fastmail.com",
    "tutanota.com",
    "qq.com",
    "163.com",
];

/// True for a free-mail domain (already lowercased).
pub fn is_free_mail(domain: &str) -> bool {
    FREE_MAIL.contains(&domain)
}

/// The lowercased domain of an email address.
pub fn email_domain(email: &str) -> Option<String> {
    email
        .rsplit_once('@')
        .map(|(_, d)| d.trim().to_lowercase())
        .filter(|d| !d.is_empty())
}

#[cfg(all(test, feature = "native"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::migrate::ensure_schema;
    use crate::native::NativeSql;

    fn db() -> NativeSql {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        for (id, role) in [("u1", "customer"), ("u2", "customer"), ("op", "operator")] {
            db.execute(
                "INSERT INTO users (id, username, email, full_name, password_hash, role, \
                 created_at, updated_at) VALUES (?1, ?1, ?1 || '@x.test', ?1, 'h', ?2, 0, 0)",
                params![id, role],
            )
            .unwrap();
        }
        db.execute(
            "INSERT INTO organizations (id, name, name_key, state, created_at, updated_at) \
             VALUES ('o1', 'Acme', 'acme', 'approved', 0, 0)",
            &[],
        )
        .unwrap();
        db
    }

    #[test]
    fn desk_access_needs_an_approved_membership() {
        let db = db();
        let e = require_desk_access(&db, "u1").unwrap_err();
        assert_eq!((e.status(), e.code()), (403, "access_not_approved"));
        set_member(&db, "u1", "o1", Access::Pending, 1).unwrap();
        let e = require_desk_access(&db, "u1").unwrap_err();
        assert_eq!((e.status(), e.code()), (403, "access_pending"));
        set_member(&db, "u1", "o1", Access::Approved, 2).unwrap();
        assert_eq!(
            require_desk_access(&db, "u1").unwrap(),
            Viewer::Customer {
                user_id: "u1".into(),
                organization_id: "o1".into()
            }
        );
        assert_eq!(remove_member(&db, "u1").unwrap().as_deref(), Some("o1"));
        assert!(require_desk_access(&db, "u1").is_err());
    }

    #[test]
    fn the_session_reads_the_standing_the_gate_reads_on_its_own() {
        use crate::clock::FixedClock;
        use crate::random::OsRandom;
        use crate::session::{Stage, create, open};
        let db = db();
        let clock = FixedClock::at(1_000);
        let seen = |user: &str| {
            let (token, _) = create(&db, &clock, &OsRandom, user, Stage::Full, false).unwrap();
            let (s, with_session) = open(&db, &clock, &token).unwrap().session.unwrap();
            assert_eq!(s.user_id, user);
            let alone = standing(&db, user).unwrap();
            assert_eq!(with_session, alone, "{user}");
            desk_viewer(user, &with_session).map_err(|e| e.code().to_owned())
        };
        assert_eq!(seen("u1").unwrap_err(), "access_not_approved");
        set_member(&db, "u1", "o1", Access::Pending, 1).unwrap();
        assert_eq!(seen("u1").unwrap_err(), "access_pending");
        set_member(&db, "u1", "o1", Access::Approved, 2).unwrap();
        assert_eq!(
            seen("u1").unwrap(),
            Viewer::Customer {
                user_id: "u1".into(),
                organization_id: "o1".into()
            }
        );
        // A membership whose organization is gone counts as none, as in
        // `membership`.
        db.execute("DELETE FROM organizations WHERE id = 'o1'", &[])
            .unwrap();
        assert_eq!(membership(&db, "u1").unwrap(), None);
        assert_eq!(seen("u1").unwrap_err(), "access_not_approved");
        assert!(seen("op").unwrap().is_operator());
        // A session that outlived its person: no role, signed out.
        assert_eq!(seen("ghost").unwrap_err(), "not_signed_in");
    }

    #[test]
    fn operators_pass_without_an_organization() {
        let db = db();
        assert!(require_desk_access(&db, "op").unwrap().is_operator());
        let e = require_desk_access(&db, "ghost").unwrap_err();
        assert_eq!(e.status(), 401);
    }

    #[test]
    fn approved_members_excludes_pending_ones() {
        let db = db();
        set_member(&db, "u1", "o1", Access::Approved, 1).unwrap();
        set_member(&db, "u2", "o1", Access::Pending, 2).unwrap();
        assert_eq!(approved_members(&db, "o1").unwrap(), vec!["u1".to_owned()]);
        let m = membership(&db, "u2").unwrap().unwrap();
        assert_eq!(
            (m.organization_name.as_str(), m.access),
            ("Acme", Access::Pending)
        );
    }

    #[test]
    fn names_match_ignoring_case_and_spaces() {
        assert_eq!(name_key("  ACME  Corp "), name_key("acme corp"));
        assert_eq!(name_key("Société Générale"), "sociétégénérale");
        assert_ne!(name_key("Acme"), name_key("Acme Inc"));
    }

    #[test]
    fn free_mail_domains_are_known() {
        assert!(is_free_mail("gmail.com"));
        assert!(!is_free_mail("acme.example"));
        assert_eq!(
            email_domain("A@Acme.Example").as_deref(),
            Some("acme.example")
        );
        assert_eq!(email_domain("nodomain"), None);
    }
}
