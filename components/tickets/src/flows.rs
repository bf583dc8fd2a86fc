//! What people do with a request: raise, comment, share, mute, rate; and what
//! operators do: assign, transition, reply, add internal notes, edit their
//! comments, raise on behalf of someone. Each runs in one transaction with its
//! activity row, search index and mail, so nothing is left half-written.

use edgedesk_core::access::{self, Access, Viewer};
use edgedesk_core::clock::rfc3339;
use edgedesk_core::db::transaction;
use edgedesk_core::{ApiError, params, rate_limit, users, validate};
use serde_json::{Value as Json, json};

use crate::activity::{self, Event};
use crate::attach;
use crate::env::Env;
use crate::notify::{self, Change};
use crate::search;
use crate::tickets::{self, NewTicket, Ticket, person, person_at, summary_json};

pub const RATING_COMMENT_MAX: usize = 2000;

fn reload(env: &Env<'_>, t: &Ticket) -> Result<Ticket, ApiError> {
    tickets::by_number(env.sql, t.number)?.ok_or(ApiError::NotFound)
}

fn touch(env: &Env<'_>, t: &Ticket) -> Result<(), ApiError> {
    env.sql.execute(
        "UPDATE tickets SET updated_at = ?2, last_activity_at = ?2 WHERE id = ?1",
        params![t.id.as_str(), env.now()],
    )?;
    Ok(())
}

fn name_of(env: &Env<'_>, user_id: &str) -> Result<String, ApiError> {
    Ok(users::contact(env.sql, user_id)?
        .map(|c| c.full_name)
        .unwrap_or_default())
}

/// A customer raises a request (the shared desk gate already let them in),
/// with their uploads `attachments` (ids from `POST /api/attachments`).
/// Answers with the request and its page ([`raised_page`]), read inside the
/// write transaction: there it is read on the connection that just wrote
/// the request, whose cache holds its pages, where after `COMMIT` a pooled
/// connection would read them back from the OS.
pub fn raise(
    env: &Env<'_>,
    viewer: &Viewer,
    request_type: &str,
    summary: &str,
    description: &str,
    visibility: &str,
    attachments: &[String],
) -> Result<(Ticket, Json), ApiError> {
    let new = NewTicket {
        request_type,
        summary,
        description,
        visibility,
        customer_id: viewer.user_id(),
        organization_id: viewer.organization_id(),
        raised_by: viewer.user_id(),
    };
    // Reads first, writes under the lock: the topic and text are checked,
    // and the mail's link key loaded, before the write transaction (each
    // statement inside it holds up every other writer; docs/PERFORMANCE.md).
    let checked = new.check(env.sql)?;
    env.links()?;
    transaction(env.sql, || {
        rate_limit::limit_all(env.sql, &env.limits, env.now())?;
        let t = tickets::insert_checked(env, &new, checked)?;
        attach::link(
            env.sql,
            attachments,
            viewer.user_id(),
            &t.id,
            None,
            false,
            env.now(),
        )?;
        notify::notify(
            env,
            &t,
            viewer.user_id(),
            &Change::Created {
                raised_by_name: None,
            },
        )?;
        let page = raised_page(env, viewer, &t, !attachments.is_empty())?;
        Ok((t, page))
    })
}

/// An operator raises a request for a customer (private unless `shared`), or
/// for a whole organization (`on_behalf_of` names the organization's id:
/// shared with its members).
pub fn raise_for(
    env: &Env<'_>,
    operator: &str,
    on_behalf_of: &str,
    request_type: &str,
    summary: &str,
    description: &str,
    shared: bool,
) -> Result<Ticket, ApiError> {
    let unknown = || {
        ApiError::invalid(
            "on_behalf_of",
            "unknown_customer",
            "Choose a customer (username, email or id) or an organization.",
        )
    };
    transaction(env.sql, || {
        rate_limit::limit_all(env.sql, &env.limits, env.now())?;
        let who = on_behalf_of.trim();
        let rows = env.sql.execute(
            "SELECT id, role FROM users WHERE id = ?1 OR username = lower(?1) OR email = lower(?1)",
            params![who],
        )?;
        let (customer, org) = match rows.first() {
            Some(r) => {
                if r.text(1)? != "customer" {
                    return Err(unknown());
                }
                let id = r.text(0)?;
                let org = access::membership(env.sql, &id)?
                    .filter(|m| m.access == Access::Approved)
                    .map(|m| m.organization_id);
                (id, org)
            }
            None => {
                let org = env
                    .sql
                    .execute("SELECT id FROM organizations WHERE id = ?", params![who])?;
                let org = org.first().ok_or_else(unknown)?.text(0)?;
                // For the whole organization: the operator reports it, its
                // members see it.
                (operator.to_owned(), Some(org))
            }
        };
        let whole_org = customer == operator;
        let t = tickets::insert(
            env,
            &NewTicket {
                request_type,
                summary,
                description,
                visibility: if shared || whole_org {
                    "organization"
                } else {
                    "private"
                },
                customer_id: &customer,
                organization_id: org.as_deref(),
                raised_by: operator,
            },
        )?;
        if whole_org {
            env.sql.execute(
                "DELETE FROM ticket_participants WHERE ticket_id = ?",
                params![t.id.as_str()],
            )?;
        } else {
            let op_name = name_of(env, operator)?;
            notify::notify(
                env,
                &t,
                operator,
                &Change::Created {
                    raised_by_name: Some(&op_name),
                },
            )?;
        }
        Ok(t)
    })
}

/// The request page for this viewer.
pub fn page(env: &Env<'_>, viewer: &Viewer, t: &Ticket) -> Result<Json, ApiError> {
    build_page(env, viewer, t, None)
}

/// The page of a request this request has just raised (the answer to a
/// raise): it has no rating and no activity yet, and files only when the
/// raise linked some, so those are not read (three statements fewer;
/// `a_raised_page_is_the_page`).
pub fn raised_page(
    env: &Env<'_>,
    viewer: &Viewer,
    t: &Ticket,
    with_files: bool,
) -> Result<Json, ApiError> {
    build_page(env, viewer, t, Some(with_files))
}

/// [`page`]; `just_raised` holds whether a just-raised request has files.
fn build_page(
    env: &Env<'_>,
    viewer: &Viewer,
    t: &Ticket,
    just_raised: Option<bool>,
) -> Result<Json, ApiError> {
    let sql = env.sql;
    let mut v = summary_json(env, t)?;
    let me = viewer.user_id();
    // Participants with their names in one statement (not one per person).
    let participants = sql.execute(
        "SELECT p.user_id, p.muted, u.username, u.full_name, u.role FROM ticket_participants p \
         LEFT JOIN users u ON u.id = p.user_id WHERE p.ticket_id = ? ORDER BY p.added_at, p.user_id",
        params![t.id.as_str()],
    )?;
    let mut people = Vec::new();
    let mut muted = false;
    let mut participant = false;
    let mut raised_by = None;
    for r in &participants.rows {
        let id = r.text(0)?;
        if id == me {
            participant = true;
            muted = r.bool(1)?;
        }
        let p = person_at(r, &id, 2)?;
        if id == t.raised_by {
            raised_by = Some(p.clone());
        }
        people.push(p);
    }
    let rating = match just_raised {
        Some(_) => Json::Null,
        None => {
            let rows = sql.execute(
                "SELECT score, comment, created_at FROM ticket_ratings WHERE ticket_id = ?",
                params![t.id.as_str()],
            )?;
            match rows.first() {
                Some(r) => {
                    json!({ "score": r.i64(0)?, "comment": r.opt_text(1)?, "created_at": rfc3339(r.i64(2)?) })
                }
                None => Json::Null,
            }
        }
    };
    let answered = matches!(t.status.as_str(), "answered" | "closed");
    v["description"] = json!(t.description);
    v["activity"] = match just_raised {
        Some(_) => json!([]),
        None => json!(activity::list(sql, &t.id, viewer.is_operator())?),
    };
    v["participants"] = json!(people);
    v["muted"] = json!(muted);
    v["can_comment"] = json!(t.status != "closed");
    v["can_share"] = json!(t.customer_id == me && t.organization_id.is_some());
    v["can_mute"] = json!(participant);
    v["can_rate"] = json!(answered && rating.is_null() && t.customer_id == me);
    v["rating"] = rating;
    v["raised_by"] = match raised_by {
        Some(p) => p,
        None => person(sql, &t.raised_by)?,
    };
    match just_raised {
        Some(false) => v["attachments"] = json!([]),
        _ => attach::add_to_page(sql, viewer, &t.id, &mut v)?,
    }
    Ok(v)
}

fn closed() -> ApiError {
    ApiError::conflict(
        "request_closed",
        "This request is closed. Raise a new request, and quote this one's key if it helps.",
    )
}

/// A comment by a customer or an operator (public), or an operator's internal
/// note, with the author's uploads `attachments`. Returns the activity id.
pub fn comment(
    env: &Env<'_>,
    viewer: &Viewer,
    t: &Ticket,
    body: &str,
    internal: bool,
    attachments: &[String],
) -> Result<String, ApiError> {
    let body = activity::clean_body(body)?;
    let me = viewer.user_id();
    transaction(env.sql, || {
        rate_limit::limit_all(env.sql, &env.limits, env.now())?;
        let t = reload(env, t)?;
        if t.status == "closed" {
            return Err(closed());
        }
        let id = activity::record(
            env.sql,
            env.rng,
            &t.id,
            &Event {
                kind: "comment",
                actor_id: me,
                body: Some(&body),
                internal,
                from: None,
                to: None,
            },
            env.now(),
        )?;
        search::index_comment(env.sql, &id, &body, None)?;
        attach::link(
            env.sql,
            attachments,
            me,
            &t.id,
            Some(&id),
            internal,
            env.now(),
        )?;
        if internal {
            // Notes change nothing customers can see, not even the order of
            // their list.
            env.sql.execute(
                "UPDATE tickets SET updated_at = ?2 WHERE id = ?1",
                params![t.id.as_str(), env.now()],
            )?;
            return Ok(id);
        }
        touch(env, &t)?;
        if viewer.is_operator() {
            // The desk answered: first response, and back of the queue.
            env.sql.execute(
                "UPDATE tickets SET first_response_at = coalesce(first_response_at, ?2), \
                 waiting_since = CASE WHEN waiting_since IS NULL THEN NULL ELSE ?2 END WHERE id = ?1",
                params![t.id.as_str(), env.now()],
            )?;
        } else {
            tickets::add_participant(env.sql, &t.id, me, env.now())?;
        }
        let author = name_of(env, me)?;
        notify::notify(
            env,
            &t,
            me,
            &Change::Comment {
                author_name: &author,
                body: &body,
                edited: false,
            },
        )?;
        Ok(id)
    })
}

/// An operator edits their own comment; customers are told when it is public.
pub fn edit_comment(
    env: &Env<'_>,
    operator: &str,
    t: &Ticket,
    comment_id: &str,
    body: &str,
) -> Result<(), ApiError> {
    let body = activity::clean_body(body)?;
    transaction(env.sql, || {
        let (author, internal, was) =
            activity::comment(env.sql, &t.id, comment_id)?.ok_or(ApiError::NotFound)?;
        if author != operator {
            return Err(ApiError::forbidden(
                "not_author",
                "Only the author of a comment may edit it.",
            ));
        }
        if t.status == "closed" {
            return Err(closed());
        }
        activity::edit(env.sql, comment_id, &body, env.now())?;
        search::index_comment(env.sql, comment_id, &body, Some(&was))?;
        if !internal {
            let name = name_of(env, operator)?;
            notify::notify(
                env,
                t,
                operator,
                &Change::Comment {
                    author_name: &name,
                    body: &body,
                    edited: true,
                },
            )?;
        }
        Ok(())
    })
}

/// Only the reporter shares a request with their organization or makes it private.
pub fn set_visibility(
    env: &Env<'_>,
    viewer: &Viewer,
    t: &Ticket,
    visibility: &str,
) -> Result<Ticket, ApiError> {
    let visibility = tickets::check_visibility(visibility)?;
    if t.customer_id != viewer.user_id() {
        return Err(ApiError::forbidden(
            "not_reporter",
            "Only the person who raised this request can change who sees it.",
        ));
    }
    if visibility == "organization" && t.organization_id.is_none() {
        return Err(ApiError::invalid(
            "visibility",
            "no_organization",
            "There is no organization to share this request with.",
        ));
    }
    if t.visibility == visibility {
        return Ok(t.clone());
    }
    transaction(env.sql, || {
        env.sql.execute(
            "UPDATE tickets SET visibility = ?2, updated_at = ?3 WHERE id = ?1",
            params![t.id.as_str(), visibility, env.now()],
        )?;
        activity::record(
            env.sql,
            env.rng,
            &t.id,
            &Event {
                kind: "visibility",
                actor_id: viewer.user_id(),
                body: None,
                internal: false,
                from: Some(&t.visibility),
                to: Some(visibility),
            },
            env.now(),
        )?;
        reload(env, t)
    })
}

/// "Don't notify me": only participants (others who may see it get 403).
pub fn mute(env: &Env<'_>, viewer: &Viewer, t: &Ticket, muted: bool) -> Result<(), ApiError> {
    if !edgedesk_core::requests::set_muted(env.sql, &t.id, viewer.user_id(), muted)? {
        return Err(ApiError::forbidden(
            "not_participant",
            "Only people taking part in this request can turn its notifications off.",
        ));
    }
    Ok(())
}

/// The reporter rates an answered or closed request, once.
pub fn rate(
    env: &Env<'_>,
    user_id: &str,
    t: &Ticket,
    score: i64,
    comment: Option<&str>,
) -> Result<(), ApiError> {
    if !(1..=5).contains(&score) {
        return Err(ApiError::invalid(
            "score",
            "invalid_score",
            "Choose a rating from 1 (very poor) to 5 (very good).",
        ));
    }
    let comment = comment
        .map(|c| validate::text("comment", c, 0, RATING_COMMENT_MAX))
        .transpose()?
        .filter(|c| !c.is_empty());
    if t.customer_id != user_id {
        return Err(ApiError::forbidden(
            "not_reporter",
            "Only the person who raised this request can rate it.",
        ));
    }
    if !matches!(t.status.as_str(), "answered" | "closed") {
        return Err(ApiError::conflict(
            "not_answered",
            "You can rate a request once it is answered.",
        ));
    }
    let rows = env.sql.execute(
        "INSERT INTO ticket_ratings (ticket_id, user_id, score, comment, created_at) \
         VALUES (?, ?, ?, ?, ?) ON CONFLICT(ticket_id) DO NOTHING RETURNING 1",
        params![t.id.as_str(), user_id, score, comment, env.now()],
    )?;
    if rows.is_empty() {
        return Err(ApiError::conflict(
            "already_rated",
            "This request has already been rated.",
        ));
    }
    Ok(())
}

/// Adds the comment to a rating made through a mailed link (once, by its author).
pub fn add_rating_comment(
    env: &Env<'_>,
    user_id: &str,
    t: &Ticket,
    comment: &str,
) -> Result<(), ApiError> {
    let comment = validate::text("comment", comment, 1, RATING_COMMENT_MAX)?;
    let rows = env.sql.execute(
        "UPDATE ticket_ratings SET comment = ?3 WHERE ticket_id = ?1 AND user_id = ?2 \
         AND comment IS NULL RETURNING 1",
        params![t.id.as_str(), user_id, comment],
    )?;
    if rows.is_empty() {
        return Err(ApiError::conflict(
            "already_rated",
            "This rating already has a comment.",
        ));
    }
    Ok(())
}

/// Operators' workflow: which status may follow which.
pub fn allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("open", "in_progress" | "answered" | "closed")
            | ("in_progress", "answered" | "closed" | "open")
            | ("answered", "closed" | "open")
            | ("closed", "open")
    )
}

pub fn transition(
    env: &Env<'_>,
    operator: &str,
    t: &Ticket,
    to: &str,
    resolution: Option<&str>,
) -> Result<Ticket, ApiError> {
    if !matches!(to, "open" | "in_progress" | "answered" | "closed") {
        return Err(ApiError::invalid(
            "to",
            "invalid_status",
            "Use open, in_progress, answered or closed.",
        ));
    }
    let resolution = match (to, resolution.map(str::trim).filter(|r| !r.is_empty())) {
        ("answered", None) => {
            return Err(ApiError::invalid(
                "resolution",
                "required",
                "Say how the request was resolved.",
            ));
        }
        ("answered", Some(r)) => Some(validate::line("resolution", r, 1, 255)?),
        _ => None,
    };
    transaction(env.sql, || {
        let t = reload(env, t)?;
        if !allowed(&t.status, to) {
            return Err(ApiError::conflict(
                "invalid_transition",
                format!(
                    "A request that is {} cannot become {}.",
                    activity::status_label(&t.status).to_lowercase(),
                    activity::status_label(to).to_lowercase()
                ),
            ));
        }
        let now = env.now();
        let stmt = match to {
            "open" => {
                "UPDATE tickets SET status = 'open', resolution = NULL, waiting_since = ?2, \
                 resolved_at = NULL, closed_at = NULL WHERE id = ?1"
            }
            "in_progress" => {
                "UPDATE tickets SET status = 'in_progress', \
                 first_response_at = coalesce(first_response_at, ?2) WHERE id = ?1"
            }
            "answered" => {
                "UPDATE tickets SET status = 'answered', resolution = ?3, \
                 waiting_since = NULL, resolved_at = ?2, first_response_at = coalesce(first_response_at, ?2) \
                 WHERE id = ?1"
            }
            _ => {
                "UPDATE tickets SET status = 'closed', waiting_since = NULL, closed_at = ?2, \
                 resolved_at = coalesce(resolved_at, ?2), first_response_at = coalesce(first_response_at, ?2) \
                 WHERE id = ?1"
            }
        };
        if to == "answered" {
            env.sql
                .execute(stmt, params![t.id.as_str(), now, resolution.as_deref()])?;
        } else {
            env.sql.execute(stmt, params![t.id.as_str(), now])?;
        }
        touch(env, &t)?;
        activity::record(
            env.sql,
            env.rng,
            &t.id,
            &Event {
                kind: "status",
                actor_id: operator,
                body: resolution.as_deref(),
                internal: false,
                from: Some(&t.status),
                to: Some(to),
            },
            now,
        )?;
        let t = reload(env, &t)?;
        notify::notify(
            env,
            &t,
            operator,
            &Change::Status {
                to,
                resolution: resolution.as_deref(),
            },
        )?;
        Ok(t)
    })
}

/// Assigns to an operator (or nobody).
pub fn assign(
    env: &Env<'_>,
    operator: &str,
    t: &Ticket,
    assignee: Option<&str>,
) -> Result<Ticket, ApiError> {
    if let Some(a) = assignee
        && !users::role(env.sql, a)?.is_some_and(users::Role::is_operator)
    {
        return Err(ApiError::invalid(
            "assignee_id",
            "unknown_operator",
            "Assign to an operator.",
        ));
    }
    transaction(env.sql, || {
        let t = reload(env, t)?;
        if t.assignee_id.as_deref() == assignee {
            return Ok(t);
        }
        env.sql.execute(
            "UPDATE tickets SET assignee_id = ?2, updated_at = ?3 WHERE id = ?1",
            params![t.id.as_str(), assignee, env.now()],
        )?;
        activity::record(
            env.sql,
            env.rng,
            &t.id,
            &Event {
                kind: "assignee",
                actor_id: operator,
                body: None,
                // Who works on what is the desk's business.
                internal: true,
                from: t.assignee_id.as_deref(),
                to: assignee,
            },
            env.now(),
        )?;
        reload(env, &t)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::lists::{self, Filters, QueueFilters};
    use crate::testing::{World, keys, rows};
    use edgedesk_core::Sql;
    use edgedesk_core::access::require_desk_access;
    use edgedesk_core::paging::Paging;

    fn viewer(w: &World, id: &str) -> Viewer {
        require_desk_access(&w.db, id).unwrap()
    }

    fn raise_as(w: &World, id: &str, summary: &str, visibility: &str) -> Ticket {
        raise(
            &w.env(),
            &viewer(w, id),
            "technical-support",
            summary,
            "",
            visibility,
            &[],
        )
        .unwrap()
        .0
    }

    const P: Paging = Paging {
        page: 1,
        per_page: 25,
    };

    #[test]
    fn a_raised_page_is_the_page() {
        let w = World::new();
        let env = w.env();
        let t = raise_as(&w, "ann", "Fresh", "organization");
        for who in ["ann", "bob", "op"] {
            let v = viewer(&w, who);
            assert_eq!(
                raised_page(&env, &v, &t, false).unwrap(),
                page(&env, &v, &t).unwrap()
            );
            assert_eq!(
                raised_page(&env, &v, &t, true).unwrap(),
                page(&env, &v, &t).unwrap()
            );
        }
    }

    #[test]
    fn a_raise_answers_with_the_page_it_will_have_after_commit() {
        let w = World::new();
        let env = w.env();
        let ann = viewer(&w, "ann");
        for visibility in ["private", "organization"] {
            let (t, answered) = raise(
                &env,
                &ann,
                "technical-support",
                "Read inside",
                "line one\nline two",
                visibility,
                &[],
            )
            .unwrap();
            assert_eq!(answered, page(&env, &ann, &t).unwrap(), "{visibility}");
        }
    }

    #[test]
    fn every_page_of_a_list_counts_all_its_matches() {
        let w = World::new();
        let env = w.env();
        for s in ["Invoice one", "Invoice two", "Password", "Invoice three"] {
            raise_as(&w, "ann", s, "private");
        }
        let ann = viewer(&w, "ann");
        let invoices = Filters {
            q: Some("invoice".into()),
            ..Filters::default()
        };
        for (f, all) in [(Filters::default(), 4), (invoices.clone(), 3)] {
            for (page, shown) in [(1, 2), (2, all - 2), (3, 0), (9, 0)] {
                let paging = Paging { page, per_page: 2 };
                let mine = lists::customer_list(&env, &ann, "me", &f, &paging).unwrap();
                assert_eq!(
                    (mine.total, rows(&mine).len() as i64),
                    (all, shown),
                    "{f:?} page {page}"
                );
                let qf = QueueFilters {
                    common: Filters {
                        status: "any".into(),
                        ..f.clone()
                    },
                    ..QueueFilters::default()
                };
                let queue = lists::queue(&env, "op", &qf, &paging).unwrap();
                assert_eq!(
                    (queue.total, rows(&queue).len() as i64),
                    (all, shown),
                    "{f:?} page {page}"
                );
            }
        }
    }

    #[test]
    fn colleagues_see_shared_requests_but_not_private_ones() {
        let w = World::new();
        let env = w.env();
        let private = raise_as(&w, "ann", "Private one", "private");
        let shared = raise_as(&w, "ann", "Shared one", "organization");
        let bob = viewer(&w, "bob");
        let gil = viewer(&w, "gil");
        assert!(tickets::visible(&env, &bob, &env.key(shared.number)).is_ok());
        assert_eq!(
            tickets::visible(&env, &bob, &env.key(private.number))
                .unwrap_err()
                .status(),
            404
        );
        assert_eq!(
            tickets::visible(&env, &gil, &env.key(shared.number))
                .unwrap_err()
                .status(),
            404
        );
        let anyone = lists::customer_list(&env, &bob, "anyone", &Filters::default(), &P).unwrap();
        assert_eq!(keys(&anyone), ["SD-2"]);
        let mine = lists::customer_list(&env, &bob, "me", &Filters::default(), &P).unwrap();
        assert_eq!(mine.total, 0);
        // Only the reporter changes visibility.
        let e = set_visibility(&env, &bob, &shared, "private").unwrap_err();
        assert_eq!(e.code(), "not_reporter");
        set_visibility(&env, &viewer(&w, "ann"), &shared, "private").unwrap();
        assert!(tickets::visible(&env, &bob, "SD-2").is_err());
    }

    #[test]
    fn transitions_follow_the_workflow() {
        let w = World::new();
        let env = w.env();
        let op = viewer(&w, "op");
        let t = raise_as(&w, "ann", "Password reset", "private");
        let e = transition(&env, "op", &t, "open", None).unwrap_err();
        assert_eq!((e.status(), e.code()), (409, "invalid_transition"));
        let e = transition(&env, "op", &t, "answered", None).unwrap_err();
        assert_eq!(e.field_name(), Some("resolution"));
        let t = transition(&env, "op", &t, "in_progress", None).unwrap();
        let t = transition(&env, "op", &t, "answered", Some("Sent new password")).unwrap();
        assert_eq!(t.resolution.as_deref(), Some("Sent new password"));
        assert!(transition(&env, "op", &t, "in_progress", None).is_err());
        let t = transition(&env, "op", &t, "closed", None).unwrap();
        let e = comment(&env, &viewer(&w, "ann"), &t, "hello?", false, &[]).unwrap_err();
        assert_eq!((e.status(), e.code()), (409, "request_closed"));
        let t = transition(&env, "op", &t, "open", None).unwrap();
        assert_eq!(t.status, "open");
        assert!(t.resolution.is_none());
        let page = page(&env, &op, &t).unwrap();
        let texts: Vec<&str> = page["activity"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a["text"].as_str())
            .collect();
        assert!(texts.contains(
            &"Your request status changed to Answered with resolution Sent new password"
        ));
        for (from, to) in [
            ("open", "open"),
            ("closed", "answered"),
            ("answered", "in_progress"),
        ] {
            assert!(!allowed(from, to), "{from} -> {to}");
        }
    }

    #[test]
    fn internal_notes_stay_with_operators_in_pages_search_and_mail() {
        let w = World::new();
        let env = w.env();
        let op = viewer(&w, "op");
        let ann = viewer(&w, "ann");
        let t = raise_as(&w, "ann", "Invoice question", "private");
        let before = w.mails().len();
        comment(&env, &op, &t, "customer seems confused zebra", true, &[]).unwrap();
        assert_eq!(w.mails().len(), before, "notes are never mailed");
        let page = page(&env, &ann, &t).unwrap();
        assert!(!page.to_string().contains("zebra"));
        let f = Filters {
            q: Some("zebra".into()),
            ..Filters::default()
        };
        assert_eq!(
            lists::customer_list(&env, &ann, "me", &f, &P)
                .unwrap()
                .total,
            0
        );
        let qf = QueueFilters {
            common: f,
            ..QueueFilters::default()
        };
        assert_eq!(lists::queue(&env, "op", &qf, &P).unwrap().total, 1);
        // A public reply is mailed to the reporter, with the key in the subject.
        comment(&env, &op, &t, "Here is your invoice.", false, &[]).unwrap();
        let last = w.mails().pop().unwrap();
        assert_eq!(
            (last.0.as_str(), last.1.as_str()),
            ("request.comment", "ann@x.test")
        );
        assert_eq!(last.2, "[SD-1] Invoice question");
    }

    #[test]
    fn an_edited_comment_is_found_by_its_new_words_only() {
        let w = World::new();
        let env = w.env();
        let op = viewer(&w, "op");
        let t = raise_as(&w, "ann", "Printer", "private");
        let id = comment(&env, &op, &t, "Try the walrus driver", false, &[]).unwrap();
        comment(&env, &op, &t, "Another walrus mention", false, &[]).unwrap();
        let found = |word: &str| {
            let f = QueueFilters {
                common: Filters {
                    q: Some(word.into()),
                    status: "any".into(),
                    ..Filters::default()
                },
                ..QueueFilters::default()
            };
            lists::queue(&env, "op", &f, &P).unwrap().total
        };
        assert_eq!(
            (found("walrus"), found("driver"), found("pelican")),
            (1, 1, 0)
        );
        edit_comment(&env, "op", &t, &id, "Try the pelican firmware").unwrap();
        // The other comment still says walrus; "driver" was only in the old text.
        assert_eq!(
            (found("walrus"), found("driver"), found("pelican")),
            (1, 0, 1)
        );
        edit_comment(&env, "op", &t, &id, "Try the pelican firmware again").unwrap();
        assert_eq!(found("firmware"), 1);
        let check = w.db.execute(
            "INSERT INTO ticket_search (ticket_search) VALUES ('integrity-check')",
            &[],
        );
        assert!(check.is_ok(), "{check:?}");
    }

    #[test]
    fn muted_participants_and_authors_are_not_mailed() {
        let w = World::new();
        let env = w.env();
        let t = raise_as(&w, "ann", "Shared", "organization");
        let bob = viewer(&w, "bob");
        comment(&env, &bob, &t, "Same here", false, &[]).unwrap();
        // Ann is told of Bob's comment; Bob (the author) is not.
        let m = w.mails();
        assert!(
            m.iter()
                .any(|m| m.0 == "request.comment" && m.1 == "ann@x.test")
        );
        assert!(
            !m.iter()
                .any(|m| m.0 == "request.comment" && m.1 == "bob@x.test")
        );
        mute(&env, &viewer(&w, "ann"), &t, true).unwrap();
        let n = w.mails().len();
        transition(&env, "op", &t, "in_progress", None).unwrap();
        let after: Vec<_> = w.mails()[n..].to_vec();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].1, "bob@x.test");
        // Gil cannot see it; a colleague who is not a participant cannot mute.
        let t2 = raise_as(&w, "ann", "Another", "organization");
        assert_eq!(
            mute(&env, &bob, &t2, true).unwrap_err().code(),
            "not_participant"
        );
    }

    #[test]
    fn ratings_come_once_after_an_answer_from_the_reporter() {
        let w = World::new();
        let env = w.env();
        let t = raise_as(&w, "ann", "Rate me", "organization");
        assert_eq!(
            rate(&env, "ann", &t, 5, None).unwrap_err().code(),
            "not_answered"
        );
        let t = transition(&env, "op", &t, "answered", Some("Fixed")).unwrap();
        assert!(w.mails().iter().any(|m| m.0 == "request.answered"));
        assert_eq!(
            rate(&env, "ann", &t, 6, None).unwrap_err().field_name(),
            Some("score")
        );
        assert_eq!(
            rate(&env, "bob", &t, 4, None).unwrap_err().code(),
            "not_reporter"
        );
        rate(&env, "ann", &t, 4, Some("Quick")).unwrap();
        assert_eq!(
            rate(&env, "ann", &t, 5, None).unwrap_err().code(),
            "already_rated"
        );
    }

    #[test]
    fn the_queue_puts_the_oldest_waiting_first() {
        let w = World::new();
        let env = w.env();
        let a = raise_as(&w, "ann", "First", "private");
        w.clock.advance(60);
        raise_as(&w, "gil", "Second", "private");
        w.clock.advance(60);
        let q = lists::queue(&env, "op", &QueueFilters::default(), &P).unwrap();
        assert_eq!(keys(&q), ["SD-1", "SD-2"]);
        // A public reply sends the first to the back of the queue.
        comment(&env, &viewer(&w, "op"), &a, "On it", false, &[]).unwrap();
        let q = lists::queue(&env, "op", &QueueFilters::default(), &P).unwrap();
        assert_eq!(keys(&q), ["SD-2", "SD-1"]);
        assign(&env, "op", &a, Some("op")).unwrap();
        let mine = QueueFilters {
            assignee: Some("me".into()),
            ..QueueFilters::default()
        };
        assert_eq!(
            keys(&lists::queue(&env, "op", &mine, &P).unwrap()),
            ["SD-1"]
        );
        assert_eq!(
            assign(&env, "op", &a, Some("ann"))
                .unwrap_err()
                .field_name(),
            Some("assignee_id")
        );
    }

    #[test]
    fn list_queries_use_their_indexes() {
        let w = World::new();
        let by_activity = lists::BY_ACTIVITY;
        for (sql, index) in [
            (
                format!("SELECT * FROM tickets t WHERE t.customer_id = 'a' ORDER BY {by_activity}"),
                "tickets_customer",
            ),
            (
                format!(
                    "SELECT * FROM tickets t WHERE t.organization_id = 'o' \
                     AND t.visibility = 'organization' ORDER BY {by_activity}"
                ),
                "tickets_org",
            ),
            (
                format!("SELECT * FROM tickets t ORDER BY {by_activity}"),
                "tickets_activity",
            ),
            (
                "SELECT * FROM tickets t WHERE t.waiting_since IS NOT NULL ORDER BY t.waiting_since, t.number".into(),
                "tickets_waiting",
            ),
        ] {
            let text = w.plan(&sql, &[]);
            assert!(text.contains(index), "{sql}: {text}");
            assert!(!text.contains("TEMP B-TREE"), "{sql}: {text}");
        }
    }
}
