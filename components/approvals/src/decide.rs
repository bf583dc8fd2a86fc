//! Deciding an access request. The decision is one conditional UPDATE inside
//! `BEGIN IMMEDIATE`: when two members approve at once, one wins and the other
//! gets `409 already_decided`, and the mails are queued only by the winner's
//! transaction (so nothing is mailed twice).

use edgedesk_core::access::{self, Access};
use edgedesk_core::db::transaction;
use edgedesk_core::{ApiError, outbox, params, users, validate};

use crate::env::Env;
use crate::requests::{self, AccessRequest, Right};
use crate::{links, mail};

/// A decline reason: required, plain text, at most this many characters.
pub const REASON_MAX: usize = 1000;

fn already_decided() -> ApiError {
    ApiError::conflict("already_decided", "This request has already been decided.")
}

/// The request, if `decider` may decide it: 404 when they may not see it,
/// 403 `own_request` for the requester.
fn decidable(env: &Env<'_>, decider: &str, id: &str) -> Result<AccessRequest, ApiError> {
    match requests::visible(env.sql, decider, id)? {
        (r, Right::Decide) => Ok(r),
        _ => Err(ApiError::forbidden(
            "own_request",
            "Nobody can decide their own access request.",
        )),
    }
}

/// Marks the request decided if it is still pending; `409` otherwise.
fn settle(
    env: &Env<'_>,
    id: &str,
    status: &str,
    decider: &str,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    let rows = env.sql.execute(
        "UPDATE access_requests SET status = ?2, decided_by = ?3, decided_at = ?4, reason = ?5 \
         WHERE id = ?1 AND status = 'pending' RETURNING id",
        params![id, status, decider, env.now(), reason],
    )?;
    if rows.is_empty() {
        return Err(already_decided());
    }
    audit(env, id, status, decider, reason)?;
    links::retire(env.sql, id, env.now())
}

/// The decision's audit entry (`access.approved` / `access.declined`), in the
/// decision's transaction.
fn audit(
    env: &Env<'_>,
    id: &str,
    status: &str,
    decider: &str,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    let rows = env.sql.execute(
        "SELECT u.username, a.company_name FROM access_requests a \
         LEFT JOIN users u ON u.id = a.user_id WHERE a.id = ?1",
        params![id],
    )?;
    let (who, company) = match rows.first() {
        Some(r) => (r.opt_text(0)?.unwrap_or_default(), r.text(1)?),
        None => (String::new(), String::new()),
    };
    let label = edgedesk_core::audit::user_label(env.sql, decider)?;
    let detail = match reason {
        Some(r) => format!("{who} to {company}: {r}"),
        None => format!("{who} to {company}"),
    };
    edgedesk_core::audit::record(
        env.sql,
        env.now(),
        edgedesk_core::audit::Actor::user(decider, &label),
        &format!("access.{status}"),
        edgedesk_core::audit::Target {
            id: &format!("access_request:{id}"),
            label: &who,
        },
        &detail,
        &env.address,
    )
}

pub fn approve(env: &Env<'_>, decider: &str, id: &str) -> Result<AccessRequest, ApiError> {
    transaction(env.sql, || approve_in_tx(env, decider, id))
}

fn approve_in_tx(env: &Env<'_>, decider: &str, id: &str) -> Result<AccessRequest, ApiError> {
    let sql = env.sql;
    {
        let r = decidable(env, decider, id)?;
        settle(env, id, "approved", decider, None)?;
        let now = env.now();
        access::admit(sql, &r.requester.id, &r.organization_id, now)?;
        let decided = requests::by_id(sql, id)?.ok_or(ApiError::NotFound)?;
        let decider_name = users::contact(sql, decider)?
            .map(|c| c.full_name)
            .unwrap_or_default();
        outbox::enqueue(
            sql,
            env.clock,
            env.rng,
            &mail::approved(env, &r.requester, &r.organization_name),
        )?;
        // Every other member: one fan-out row now, copied per member by the
        // notifications component (an organization of 800 made this
        // transaction write 800 mails).
        outbox::enqueue_to_members(
            sql,
            env.clock,
            env.rng,
            &mail::joined(
                env,
                &r.requester.full_name,
                &r.organization_name,
                &decider_name,
            ),
            &r.organization_id,
            &r.requester.id,
        )?;
        Ok(decided)
    }
}

pub fn decline(
    env: &Env<'_>,
    decider: &str,
    id: &str,
    reason: &str,
) -> Result<AccessRequest, ApiError> {
    let reason = validate::text("reason", reason, 1, REASON_MAX)?;
    let sql = env.sql;
    transaction(sql, || {
        let r = decidable(env, decider, id)?;
        settle(env, id, "declined", decider, Some(&reason))?;
        // Their pending place in this company goes; access elsewhere stays.
        if let Some(m) = access::membership(sql, &r.requester.id)?
            && m.organization_id == r.organization_id
            && m.access == Access::Pending
        {
            access::remove_member(sql, &r.requester.id)?;
        }
        outbox::enqueue(
            sql,
            env.clock,
            env.rng,
            &mail::declined(env, &r.requester, &r.organization_name, &reason),
        )?;
        requests::by_id(sql, id)?.ok_or(ApiError::NotFound)
    })
}

/// Approves through a mailed link: the link names the approver, who must still
/// be allowed to decide. `signed_in` is the browser's session user, if any: a
/// link opened in someone else's session is refused (`403 wrong_approver`).
pub fn approve_by_link(
    env: &Env<'_>,
    token: &str,
    signed_in: Option<&str>,
) -> Result<AccessRequest, ApiError> {
    let bound = links::peek(env.sql, token, env.now())?;
    if signed_in.is_some_and(|u| u != bound.approver_id) {
        return Err(wrong_approver());
    }
    // Spent inside the decision's transaction: when the decision fails (already
    // decided, approver no longer a member) nothing changes at all.
    transaction(env.sql, || {
        let bound = links::spend(env.sql, token, env.now())?;
        approve_in_tx(env, &bound.approver_id, &bound.request_id)
    })
}

pub fn wrong_approver() -> ApiError {
    ApiError::forbidden(
        "wrong_approver",
        "This approval link was sent to someone else. Sign out, or ask them to use it.",
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::orgs;
    use crate::testing::World;
    use edgedesk_core::Sql;
    use edgedesk_core::access::{membership, require_desk_access};

    /// Acme with `first` approved by operator `op`.
    fn acme(w: &World, first: &str) -> String {
        w.user("op", "desk.test", "operator");
        w.user(first, "acme.test", "customer");
        let c = requests::create(&w.env(), first, "ACME  Corp").unwrap();
        assert_eq!(c.approver, "operators");
        approve(&w.env(), "op", &c.id).unwrap();
        c.id
    }

    #[test]
    fn first_of_a_company_waits_for_operators_and_later_ones_for_members() {
        let w = World::new();
        acme(&w, "ann");
        assert!(require_desk_access(&w.db, "ann").is_ok());
        w.user("bob", "gmail.com", "customer");
        let c = requests::create(&w.env(), "bob", "acme corp").unwrap();
        assert_eq!(c.approver, "organization");
        assert_eq!(
            membership(&w.db, "bob").unwrap().unwrap().organization_name,
            "ACME Corp"
        );
        // The member is asked, with a link; bob is told it arrived.
        let mails = w.mails();
        assert!(mails.iter().any(|m| m.0 == "access.asks_to_join"
            && m.1 == "ann@acme.test"
            && m.2 == "Name bob asks to join ACME Corp"));
        assert!(
            mails
                .iter()
                .any(|m| m.0 == "access.received" && m.1 == "bob@gmail.com")
        );
        let r = approve(&w.env(), "ann", &c.id).unwrap();
        assert_eq!(r.status, "approved");
        assert_eq!(r.history.len(), 2);
        assert!(require_desk_access(&w.db, "bob").is_ok());
    }

    #[test]
    fn a_registered_domain_matches_but_free_mail_never_does() {
        let w = World::new();
        acme(&w, "ann");
        let org = membership(&w.db, "ann").unwrap().unwrap().organization_id;
        orgs::set_domains(&w.db, &org, &["acme.test".into()]).unwrap();
        w.user("cat", "acme.test", "customer");
        let c = requests::create(&w.env(), "cat", "Acme Holdings SA").unwrap();
        assert_eq!(c.approver, "organization");
        assert!(orgs::set_domains(&w.db, &org, &["gmail.com".into()]).is_err());
    }

    #[test]
    fn nobody_decides_their_own_and_a_decision_is_final() {
        let w = World::new();
        acme(&w, "ann");
        w.user("bob", "b.test", "customer");
        let c = requests::create(&w.env(), "bob", "Acme Corp").unwrap();
        let e = approve(&w.env(), "bob", &c.id).unwrap_err();
        assert_eq!((e.status(), e.code()), (403, "own_request"));
        approve(&w.env(), "ann", &c.id).unwrap();
        let e = approve(&w.env(), "op", &c.id).unwrap_err();
        assert_eq!((e.status(), e.code()), (409, "already_decided"));
        let e = decline(&w.env(), "op", &c.id, "no").unwrap_err();
        assert_eq!(e.code(), "already_decided");
    }

    #[test]
    fn outsiders_get_404() {
        let w = World::new();
        acme(&w, "ann");
        w.user("bob", "b.test", "customer");
        let c = requests::create(&w.env(), "bob", "Acme Corp").unwrap();
        w.user("eve", "evil.test", "customer");
        requests::create(&w.env(), "eve", "Evil Ltd").unwrap();
        let e = approve(&w.env(), "eve", &c.id).unwrap_err();
        assert_eq!(e.status(), 404);
        assert_eq!(
            requests::visible(&w.db, "eve", &c.id).unwrap_err().status(),
            404
        );
    }

    #[test]
    fn decline_needs_a_reason_and_mails_it() {
        let w = World::new();
        acme(&w, "ann");
        w.user("bob", "b.test", "customer");
        let c = requests::create(&w.env(), "bob", "Acme Corp").unwrap();
        let e = decline(&w.env(), "ann", &c.id, "  ").unwrap_err();
        assert_eq!(e.code(), "required");
        let r = decline(&w.env(), "ann", &c.id, "Not one of ours").unwrap();
        assert_eq!(r.reason.as_deref(), Some("Not one of ours"));
        assert!(membership(&w.db, "bob").unwrap().is_none());
        assert!(
            w.mails()
                .iter()
                .any(|m| m.0 == "access.declined" && m.1 == "bob@b.test")
        );
        // Declined people may ask again.
        requests::create(&w.env(), "bob", "Acme Corp").unwrap();
    }

    #[test]
    fn approve_links_are_single_use_bound_and_expire() {
        let w = World::new();
        acme(&w, "ann");
        w.user("bob", "b.test", "customer");
        let c = requests::create(&w.env(), "bob", "Acme Corp").unwrap();
        let token = links::issue(&w.env(), &c.id, "ann").unwrap();
        let e = approve_by_link(&w.env(), &token, Some("op")).unwrap_err();
        assert_eq!(e.code(), "wrong_approver");
        let e = approve_by_link(&w.env(), "forged", None).unwrap_err();
        assert_eq!(e.code(), "invalid_token");
        let r = approve_by_link(&w.env(), &token, None).unwrap();
        assert_eq!(r.decided_by.unwrap().id, "ann");
        let e = approve_by_link(&w.env(), &token, None).unwrap_err();
        assert_eq!(e.code(), "invalid_token");

        w.user("cat", "c.test", "customer");
        let c = requests::create(&w.env(), "cat", "Acme Corp").unwrap();
        let token = links::issue(&w.env(), &c.id, "ann").unwrap();
        w.clock.advance(links::LINK_TTL_S);
        let e = approve_by_link(&w.env(), &token, None).unwrap_err();
        assert_eq!(e.code(), "invalid_token");
    }

    #[test]
    fn merge_moves_members_and_requests() {
        let w = World::new();
        acme(&w, "ann");
        w.user("zed", "z.test", "customer");
        let c = requests::create(&w.env(), "zed", "Acme Inc").unwrap();
        approve(&w.env(), "op", &c.id).unwrap();
        let into = membership(&w.db, "ann").unwrap().unwrap().organization_id;
        let from = membership(&w.db, "zed").unwrap().unwrap().organization_id;
        w.db.execute(
            "INSERT INTO tickets (id, number, request_type_id, summary, description, status, \
             visibility, customer_id, raised_by, organization_id, created_at, updated_at, \
             last_activity_at) VALUES ('t1', 1, 'rt-registration', 's', '', 'open', \
             'organization', 'zed', 'zed', ?1, 0, 0, 0)",
            edgedesk_core::params![from.as_str()],
        )
        .unwrap();
        orgs::merge(&w.db, &from, &into, 5).unwrap();
        let moved =
            w.db.execute("SELECT organization_id FROM tickets WHERE id = 't1'", &[])
                .unwrap();
        assert_eq!(
            moved.first().unwrap().text(0).unwrap(),
            into,
            "shared requests follow"
        );
        assert_eq!(
            membership(&w.db, "zed").unwrap().unwrap().organization_id,
            into
        );
        assert!(orgs::by_id(&w.db, &from).unwrap().is_none());
        assert_eq!(
            requests::by_id(&w.db, &c.id)
                .unwrap()
                .unwrap()
                .organization_id,
            into
        );
    }
}
