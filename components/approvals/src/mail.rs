//! The company-access mails, in the one layout of `edgedesk_core::mail`.

use edgedesk_core::mail::{Part, hello, render};
use edgedesk_core::outbox::Mail;
use edgedesk_core::users::Contact;

use crate::env::Env;
use crate::orgs::Person;

/// To the requester: the request arrived. Says who decides, nothing more.
pub fn received(env: &Env<'_>, to: &Contact, company: &str, approver: &str) -> Mail {
    let who = if approver == "organization" {
        format!("A colleague already at {company} or one of our operators will decide.")
    } else {
        "Our operators will decide.".to_owned()
    };
    render(
        "access.received",
        &to.email,
        format!("We received your request to join {company}"),
        &[
            hello(&to.full_name),
            Part::Text(format!(
                "We received your request for access to {} as a member of {company}. {who} We will let you know by email.",
                env.portal_name
            )),
            Part::Link(
                "See your access request".into(),
                format!("{}/", env.base_url),
            ),
        ],
        &env.portal_name,
        None,
    )
}

/// To each member who may decide: "<full name> asks to join <company>", with
/// the page of the request and the single-use "Approve" link.
pub fn asks_to_join(
    env: &Env<'_>,
    to: &Contact,
    requester: &str,
    company: &str,
    request_id: &str,
    token: &str,
) -> Mail {
    render(
        "access.asks_to_join",
        &to.email,
        format!("{requester} asks to join {company}"),
        &[
            hello(&to.full_name),
            Part::Text(format!(
                "{requester} asks to join {company} on {}. As a member of {company} you may approve or decline the request.",
                env.portal_name
            )),
            Part::Link(
                "View request".into(),
                format!("{}/access-request?id={request_id}", env.base_url),
            ),
            Part::Link(
                "Approve".into(),
                format!("{}/approve-access?token={token}", env.base_url),
            ),
            Part::Text(
                "The Approve link works once, for you only, for 7 days; it asks you to confirm before anything happens.".into(),
            ),
        ],
        &env.portal_name,
        None,
    )
}

pub fn approved(env: &Env<'_>, to: &Person, company: &str) -> Mail {
    render(
        "access.approved",
        &to.email,
        format!("Your access to {company} is approved"),
        &[
            hello(&to.full_name),
            Part::Text(format!(
                "Your request to join {company} was approved. You can now raise requests and see those shared with {company}."
            )),
            Part::Link(
                format!("Open {}", env.portal_name),
                format!("{}/", env.base_url),
            ),
        ],
        &env.portal_name,
        None,
    )
}

/// To every other member (one text for all, queued in one statement): who
/// joined, and who let them in.
pub fn joined(env: &Env<'_>, requester: &str, company: &str, by: &str) -> Mail {
    render(
        "access.member_joined",
        "",
        format!("{requester} joined {company}"),
        &[
            Part::Text("Hello,".into()),
            Part::Text(format!(
                "{requester} is now a member of {company} on {} (approved by {by}). Requests shared with {company} are visible to them.",
                env.portal_name
            )),
            Part::Link(
                "See your organization".into(),
                format!("{}/organization", env.base_url),
            ),
        ],
        &env.portal_name,
        None,
    )
}

pub fn declined(env: &Env<'_>, to: &Person, company: &str, reason: &str) -> Mail {
    render(
        "access.declined",
        &to.email,
        format!("Your request to join {company} was declined"),
        &[
            hello(&to.full_name),
            Part::Text(format!(
                "Your request to join {company} on {} was declined, for this reason:",
                env.portal_name
            )),
            Part::Text(reason.to_owned()),
            Part::Text(
                "If you think this is a mistake, reply to your company's administrator or ask again with the right company name.".into(),
            ),
        ],
        &env.portal_name,
        None,
    )
}
