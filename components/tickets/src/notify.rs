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

/// Participants to tell about a change by `author` (who is never told).
pub fn recipients(
    sql: &dyn Sql,
    ticket_id: &str,
    author: &str,
    category: Category,
) -> Result<Vec<Recipient>, ApiError> {
    let rows = sql.execute(
        &format!(
            "SELECT u.id, u.email, u.full_name FROM ticket_participants p \
             JOIN users u ON u.id = p.user_id \
             LEFT JOIN notification_prefs n ON n.user_id = p.user_id \
             WHERE p.ticket_id = ?1 AND p.muted = 0 AND p.user_id <> ?2 \
             AND coalesce(n.{}, 1) = 1 ORDER BY p.added_at, u.id",
            category.column()
        ),
        params![ticket_id, author],
    )?;
    rows.rows
        .iter()
        .map(|r| {
            Ok(Recipient {
                user_id: r.text(0)?,
                email: r.text(1)?,
                full_name: r.text(2)?,
            })
        })
        .collect()
}

/// "This is shared with Ann Archer, Bob Baker and Acme Corp."
pub fn shared_with(sql: &dyn Sql, t: &Ticket) -> Result<String, ApiError> {
    let mut names: Vec<String> = sql
        .execute(
            "SELECT u.full_name FROM ticket_participants p JOIN users u ON u.id = p.user_id \
             WHERE p.ticket_id = ? ORDER BY p.added_at, u.id",
            params![t.id.as_str()],
        )?
        .rows
        .iter()
        .map(|r| r.text(0))
        .collect::<Result<_, _>>()?;
    if t.visibility == "organization"
        && let Some(org) = &t.organization_id
        && let Some(r) = sql
            .execute(
                "SELECT name FROM organizations WHERE id = ?",
                params![org.as_str()],
            )?
            .first()
    {
        names.push(r.text(0)?);
    }
    Ok(match names.len() {
        0 => String::new(),
        1 => format!("This is shared with {}.", names[0]),
        n => format!(
            "This is shared with {} and {}.",
            names[..n - 1].join(", "),
            names[n - 1]
        ),
    })
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
    let people = recipients(env.sql, &t.id, exclude, category)?;
    if people.is_empty() {
        return Ok(0);
    }
    let shared = shared_with(env.sql, t)?;
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
