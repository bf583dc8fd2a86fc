//! Request mail: who is told, and what they read. Every message carries the
//! key in its subject, a "View request" link, who the request is shared with,
//! and a signed one-click link that turns off this request's notifications.
//! Muted participants, people who turned the category off, and the author of
//! the change are not mailed. Internal notes are never mailed.

use edgedesk_core::keys::sign_link;
use edgedesk_core::mail::{Part, hello, render};
use edgedesk_core::outbox::{self, Mail};
use edgedesk_core::{ApiError, Sql, params};

use crate::activity::status_sentence;
use crate::env::Env;
use crate::tickets::Ticket;

/// How long the one-click links in a mail work.
pub const UNSUBSCRIBE_TTL_S: i64 = 180 * 86_400;
pub const RATING_TTL_S: i64 = 60 * 86_400;

/// The preference a mail falls under (`notification_prefs` columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Created,
    Comments,
    Status,
}

impl Category {
    fn column(self) -> &'static str {
        match self {
            Category::Created => "request_created",
            Category::Comments => "comments",
            Category::Status => "status_changes",
        }
    }
}

/// A person to mail.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub user_id: String,
    pub email: String,
    pub full_name: String,
}

/// Who is told about a change by `author` (never the author), and the
/// "This is shared with Ann Archer, Bob Baker and Acme Corp." line their mail
/// carries: one statement reads every participant (the line names them all,
/// muted or not) and the organization's name. It runs inside the change's
/// write transaction, where each statement holds up every other writer.
pub fn audience(
    sql: &dyn Sql,
    t: &Ticket,
    author: &str,
    category: Category,
) -> Result<(Vec<Recipient>, String), ApiError> {
    let org = t
        .organization_id
        .as_deref()
        .filter(|_| t.visibility == "organization");
    let rows = sql.execute(
        &format!(
            "SELECT u.id, u.email, u.full_name,              p.muted = 0 AND p.user_id <> ?2 AND coalesce(n.{}, 1) = 1,              (SELECT name FROM organizations WHERE id = ?3)              FROM ticket_participants p JOIN users u ON u.id = p.user_id              LEFT JOIN notification_prefs n ON n.user_id = p.user_id              WHERE p.ticket_id = ?1 ORDER BY p.added_at, u.id",
            category.column()
        ),
        params![t.id.as_str(), author, org],
    )?;
    let mut names = Vec::with_capacity(rows.rows.len() + 1);
    let mut told = Vec::new();
    for r in &rows.rows {
        let full_name = r.text(2)?;
        if r.bool(3)? {
            told.push(Recipient {
                user_id: r.text(0)?,
                email: r.text(1)?,
                full_name: full_name.clone(),
            });
        }
        names.push(full_name);
    }
    if let Some(org_name) = rows.first().map(|r| r.opt_text(4)).transpose()?.flatten() {
        names.push(org_name);
    }
    Ok((told, shared_line(&names)))
}

/// "This is shared with A.", "… with A, B and C.", or nothing for nobody.
fn shared_line(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => format!("This is shared with {one}."),
        [rest @ .., last] => format!("This is shared with {} and {last}.", rest.join(", ")),
    }
}

fn subject(env: &Env<'_>, t: &Ticket) -> String {
    format!("[{}] {}", env.key(t.number), t.summary)
}

fn view_link(env: &Env<'_>, t: &Ticket) -> Part {
    Part::Link(
        "View request".into(),
        format!("{}/request?key={}", env.base_url, env.key(t.number)),
    )
}

/// The signed subject of a request's one-click links: `<ticket id>:<user id>`.
pub fn link_subject(ticket_id: &str, user_id: &str) -> String {
    format!("{ticket_id}:{user_id}")
}

fn unsubscribe_url(env: &Env<'_>, t: &Ticket, to: &Recipient) -> Result<String, ApiError> {
    let token = sign_link(
        env.links()?,
        "unsubscribe",
        &link_subject(&t.id, &to.user_id),
        env.now() + UNSUBSCRIBE_TTL_S,
    );
    Ok(format!("{}/unsubscribe?token={token}", env.base_url))
}

fn send(
    env: &Env<'_>,
    t: &Ticket,
    to: &Recipient,
    kind: &'static str,
    mut parts: Vec<Part>,
    shared: &str,
) -> Result<(), ApiError> {
    parts.insert(0, hello(&to.full_name));
    parts.push(view_link(env, t));
    if !shared.is_empty() {
        parts.push(Part::Text(shared.to_owned()));
    }
    let mail: Mail = render(
        kind,
        &to.email,
        subject(env, t),
        &parts,
        &env.portal_name,
        Some(&unsubscribe_url(env, t, to)?),
    );
    outbox::enqueue(env.sql, env.clock, env.rng, &mail)?;
    Ok(())
}

/// What happened to a request.
pub enum Change<'a> {
    Created {
        raised_by_name: Option<&'a str>,
    },
    Comment {
        author_name: &'a str,
        body: &'a str,
        edited: bool,
    },
    Status {
        to: &'a str,
        resolution: Option<&'a str>,
    },
}

/// Queues the mail for `change` by `author` (inside the caller's transaction).
pub fn notify(
    env: &Env<'_>,
    t: &Ticket,
    author: &str,
    change: &Change<'_>,
) -> Result<usize, ApiError> {
    let category = match change {
        Change::Created { .. } => Category::Created,
        Change::Comment { .. } => Category::Comments,
        Change::Status { .. } => Category::Status,
    };
    // The reporter is told their request was created even when they raised it.
    let exclude = if matches!(change, Change::Created { .. }) {
        ""
    } else {
        author
    };
    let (people, shared) = audience(env.sql, t, exclude, category)?;
    if people.is_empty() {
        return Ok(0);
    }
    let key = env.key(t.number);
    for to in &people {
        let (kind, parts) = match change {
            Change::Created { raised_by_name } => (
                "request.created",
                vec![
                    Part::Text(match raised_by_name {
                        Some(op) => format!("{op} raised request {key} for you: “{}”.", t.summary),
                        None => format!("We received your request {key}: “{}”.", t.summary),
                    }),
                    Part::Text("We will answer as soon as we can; you can follow it and add comments on its page.".into()),
                ],
            ),
            Change::Comment { author_name, body, edited } => (
                if *edited { "request.comment_edited" } else { "request.comment" },
                vec![
                    Part::Text(if *edited {
                        format!("{author_name} updated a comment on {key}:")
                    } else {
                        format!("{author_name} commented on {key}:")
                    }),
                    Part::Text((*body).to_owned()),
                ],
            ),
            Change::Status { to: status, resolution } => {
                let mut parts = vec![Part::Text(format!(
                    "{} ({key}).",
                    status_sentence(status, *resolution)
                ))];
                if *status == "answered" && to.user_id == t.customer_id {
                    parts.push(Part::Text("How was our service for this request?".into()));
                    for (score, label) in RATINGS {
                        let token = sign_link(
                            env.links()?,
                            "rating",
                            &format!("{}:{score}", link_subject(&t.id, &to.user_id)),
                            env.now() + RATING_TTL_S,
                        );
                        parts.push(Part::Link(
                            (*label).into(),
                            format!("{}/rate?token={token}", env.base_url),
                        ));
                    }
                }
                if *status == "closed" {
                    parts.push(Part::Text("The request is closed and takes no more comments. If you need more help, raise a new request and quote this key.".into()));
                }
                let kind = match *status {
                    "answered" => "request.answered",
                    "closed" => "request.closed",
                    _ => "request.status",
                };
                (kind, parts)
            }
        };
        send(env, t, to, kind, parts, &shared)?;
    }
    Ok(people.len())
}

/// The five one-click ratings, worst first.
pub const RATINGS: &[(i64, &str)] = &[
    (1, "Very poor"),
    (2, "Poor"),
    (3, "Neither good nor poor"),
    (4, "Good"),
    (5, "Very good"),
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::World;
    use crate::tickets::add_participant;

    #[test]
    fn the_audience_leaves_out_the_author_the_muted_and_those_who_opted_out() {
        let w = World::new();
        let env = w.env();
        let mut t = w.site_down();
        for who in ["bob", "op", "gil"] {
            add_participant(&w.db, &t.id, who, env.now() + 1).unwrap();
        }
        w.db.execute(
            "UPDATE ticket_participants SET muted = 1 WHERE user_id = 'gil'",
            &[],
        )
        .unwrap();
        w.db.execute(
            "INSERT INTO notification_prefs (user_id, comments, updated_at) VALUES ('bob', 0, 0)",
            &[],
        )
        .unwrap();
        let ids = |people: &[Recipient]| -> Vec<String> {
            people.iter().map(|p| p.user_id.clone()).collect()
        };
        let all = "This is shared with Name ann, Name bob, Name gil and Name op.";
        let (told, line) = audience(&w.db, &t, "op", Category::Comments).unwrap();
        assert_eq!((ids(&told), line.as_str()), (vec!["ann".to_owned()], all));
        let (told, _) = audience(&w.db, &t, "ann", Category::Status).unwrap();
        assert_eq!(ids(&told), ["bob", "op"]);
        // Shared with the organization: its name ends the line.
        t.visibility = "organization".into();
        let (_, line) = audience(&w.db, &t, "", Category::Created).unwrap();
        assert_eq!(
            line,
            "This is shared with Name ann, Name bob, Name gil, Name op and Acme."
        );
    }

    #[test]
    fn the_shared_line_reads_as_a_sentence() {
        let names =
            |n: &[&str]| shared_line(&n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(names(&[]), "");
        assert_eq!(names(&["Ann"]), "This is shared with Ann.");
        assert_eq!(names(&["Ann", "Acme"]), "This is shared with Ann and Acme.");
        assert_eq!(
            names(&["Ann", "Bob", "Acme"]),
            "This is shared with Ann, Bob and Acme."
        );
    }
}
