//! Requests end to end (issue 8): two companies and several people, captured
//! mail, the operators' workflow, sharing, ratings and the refusals.

use std::collections::BTreeSet;

use edgedesk_e2e::desk::{Desk, Person, error_code};
use edgedesk_e2e::{TestResponse, Value, json};

/// A customer with approved access to `company` (an operator approves).
async fn member(desk: &Desk, op: &Person, username: &str, company: &str) -> anyhow::Result<Person> {
    let p = desk
        .customer(
            username,
            &format!("{username}@{}.example", company.to_lowercase()),
            &format!("{}{} Person", username[..1].to_uppercase(), &username[1..]),
        )
        .await?;
    let r = p
        .client
        .post_json("/api/access-requests", &json!({ "company_name": company }))
        .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()?["id"].as_str().unwrap_or_default().to_owned();
    let r = op
        .client
        .post_json(&format!("/api/access-requests/{id}/approve"), &json!({}))
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    Ok(p)
}

/// An operator; Ann and Bob at Acme; Gil at Globex.
async fn world(desk: &Desk) -> anyhow::Result<(Person, Person, Person, Person)> {
    let op = desk.staff("opal", "operator").await?;
    let ann = member(desk, &op, "ann", "Acme").await?;
    let bob = member(desk, &op, "bob", "Acme").await?;
    let gil = member(desk, &op, "gil", "Globex").await?;
    Ok((op, ann, bob, gil))
}

async fn raise(
    p: &Person,
    topic: &str,
    summary: &str,
    visibility: &str,
) -> anyhow::Result<TestResponse> {
    p.client
        .post_json(
            "/api/requests",
            &json!({ "request_type": topic, "summary": summary, "visibility": visibility }),
        )
        .await
}

async fn raise_ok(p: &Person, summary: &str, visibility: &str) -> anyhow::Result<String> {
    let r = raise(p, "technical-support", summary, visibility).await?;
    assert_eq!(r.status, 201, "{}", r.text());
    Ok(r.json()?["key"].as_str().unwrap_or_default().to_owned())
}

async fn agent(op: &Person, key: &str, action: &str, body: &Value) -> anyhow::Result<TestResponse> {
    op.client
        .post_json(&format!("/api/agent/requests/{key}/{action}"), body)
        .await
}

fn keys(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["key"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_is_raised_answered_rated_closed_and_reopened() -> anyhow::Result<()> {
    let desk = Desk::start(&[]).await?;
    let (op, ann, _bob, _gil) = world(&desk).await?;

    // Topics: the seven seeded ones.
    let types = ann.client.get("/api/request-types").await?.json()?;
    assert_eq!(types["items"].as_array().map(Vec::len), Some(7));
    assert_eq!(types["items"][1]["name"], "Technical Support");

    let r = ann
        .client
        .post_json(
            "/api/requests",
            &json!({
                "request_type": "rt-finance-support",
                "summary": "Password reset",
                "description": "I cannot sign in.\nSince Monday.",
                "visibility": "private",
            }),
        )
        .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let t = r.json()?;
    assert_eq!(
        (t["key"].as_str(), t["status"].as_str()),
        (Some("SD-1"), Some("open"))
    );
    assert_eq!(t["description"], "I cannot sign in.\nSince Monday.");
    assert_eq!(t["request_type"]["key"], "finance-support");
    let created = desk.mail(&ann.email, "[SD-1] Password reset").await?;
    let text = created.body["text"].as_str().unwrap_or("");
    assert!(text.contains("/request?key=SD-1"), "{text}");
    assert!(text.contains("/unsubscribe?token="), "{text}");
    assert!(text.contains("This is shared with Ann Person."), "{text}");

    // The operator works it: in progress, a public reply and an internal note.
    assert_eq!(
        agent(&op, "SD-1", "transition", &json!({ "to": "in_progress" }))
            .await?
            .status,
        200
    );
    let r = agent(&op, "SD-1", "comments", &json!({ "body": "We are on it." })).await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = agent(
        &op,
        "SD-1",
        "comments",
        &json!({ "body": "Customer uses an old browser pelican", "internal": true }),
    )
    .await?;
    assert_eq!(r.status, 201);
    let reply = desk.mail(&ann.email, "We are on it.").await?;
    assert_eq!(reply.body["subject"], "[SD-1] Password reset");
    assert!(
        desk.mails_to(&ann.email)
            .iter()
            .all(|m| !m.raw.windows(7).any(|w| w == b"pelican"))
    );
    let page = ann.client.get("/api/requests/SD-1").await?.json()?;
    assert!(
        !page.to_string().contains("pelican"),
        "notes never reach customers"
    );
    let found = ann
        .client
        .get("/api/requests?q=pelican&status=any")
        .await?
        .json()?;
    assert_eq!(found["total"], 0);
    let found = op
        .client
        .get("/api/agent/requests?q=pelican")
        .await?
        .json()?;
    assert_eq!(keys(&found), ["SD-1"]);
    let texts: Vec<&str> = page["activity"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["text"].as_str().or(x["body"].as_str()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        texts,
        [
            "Your request status changed to In progress",
            "We are on it."
        ]
    );

    // Answering needs a resolution; the answer mail carries the rating links.
    let r = agent(&op, "SD-1", "transition", &json!({ "to": "answered" })).await?;
    assert_eq!(
        (r.status, r.json()?["error"]["field"].as_str()),
        (400, Some("resolution"))
    );
    let r = agent(
        &op,
        "SD-1",
        "transition",
        &json!({ "to": "answered", "resolution": "Sent new password" }),
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = desk.mail(&ann.email, "How was our service").await?;
    let text = answer.body["text"].as_str().unwrap_or("");
    assert!(
        text.contains("Your request status changed to Answered with resolution Sent new password")
    );
    for label in [
        "Very poor",
        "Poor",
        "Neither good nor poor",
        "Good",
        "Very good",
    ] {
        assert!(text.contains(&format!("{label}:\n")), "{label} in {text}");
    }
    // The fourth rating link ("Good"), used signed out; tampered ones fail.
    let good = text.split("Good:\n").nth(1).unwrap_or("");
    let token = good
        .split("/rate?token=")
        .nth(1)
        .unwrap_or("")
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    let anon = desk.app.client();
    let mut bad = token.clone();
    bad.push('x');
    let r = anon
        .post_json("/api/requests/rating-link", &json!({ "token": bad }))
        .await?;
    assert_eq!((r.status, error_code(&r)), (400, "invalid_token".into()));
    let shown = anon
        .get(&format!("/api/requests/rating-link?token={token}"))
        .await?
        .json()?;
    assert_eq!(
        shown["rated_score"],
        Value::Null,
        "opening the page rates nothing by GET"
    );
    let r = anon
        .post_json("/api/requests/rating-link", &json!({ "token": token }))
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()?["rated_score"], 4);
    let r = anon
        .post_json(
            "/api/requests/rating-link",
            &json!({ "token": token, "comment": "Quick, thanks" }),
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = ann
        .client
        .post_json("/api/requests/SD-1/rating", &json!({ "score": 5 }))
        .await?;
    assert_eq!((r.status, error_code(&r)), (409, "already_rated".into()));
    let page = ann.client.get("/api/requests/SD-1").await?.json()?;
    assert_eq!(page["rating"]["score"], 4);
    assert_eq!(page["rating"]["comment"], "Quick, thanks");

    // Closed: no comments; reopen works.
    assert_eq!(
        agent(&op, "SD-1", "transition", &json!({ "to": "closed" }))
            .await?
            .status,
        200
    );
    desk.mail(&ann.email, "changed to Closed").await?;
    let r = ann
        .client
        .post_json(
            "/api/requests/SD-1/comments",
            &json!({ "body": "One more thing" }),
        )
        .await?;
    assert_eq!((r.status, error_code(&r)), (409, "request_closed".into()));
    let r = agent(&op, "SD-1", "transition", &json!({ "to": "open" })).await?;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()?["status"], "open");
    let r = ann
        .client
        .post_json(
            "/api/requests/SD-1/comments",
            &json!({ "body": "One more thing" }),
        )
        .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_invalid_transition_is_409() -> anyhow::Result<()> {
    let desk = Desk::start(&[]).await?;
    let (op, ann, _, _) = world(&desk).await?;
    let allowed: BTreeSet<(&str, &str)> = [
        ("open", "in_progress"),
        ("open", "answered"),
        ("open", "closed"),
        ("in_progress", "answered"),
        ("in_progress", "closed"),
        ("in_progress", "open"),
        ("answered", "closed"),
        ("answered", "open"),
        ("closed", "open"),
    ]
    .into_iter()
    .collect();
    let statuses = ["open", "in_progress", "answered", "closed"];
    // One request per starting status, reached through allowed steps.
    let path: &[(&str, &[&str])] = &[
        ("open", &[]),
        ("in_progress", &["in_progress"]),
        ("answered", &["answered"]),
        ("closed", &["closed"]),
    ];
    for (from, steps) in path {
        for to in statuses {
            let key = raise_ok(&ann, &format!("{from} to {to}"), "private").await?;
            for s in *steps {
                let r = agent(
                    &op,
                    &key,
                    "transition",
                    &json!({ "to": s, "resolution": "Done" }),
                )
                .await?;
                assert_eq!(r.status, 200, "{}", r.text());
            }
            let r = agent(
                &op,
                &key,
                "transition",
                &json!({ "to": to, "resolution": "Done" }),
            )
            .await?;
            if allowed.contains(&(*from, to)) {
                assert_eq!(r.status, 200, "{from} -> {to}: {}", r.text());
            } else {
                assert_eq!(
                    (r.status, error_code(&r)),
                    (409, "invalid_transition".into()),
                    "{from} -> {to}"
                );
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn colleagues_share_and_other_companies_see_nothing() -> anyhow::Result<()> {
    let desk = Desk::start(&[]).await?;
    let (op, ann, bob, gil) = world(&desk).await?;
    let private = raise_ok(&ann, "Private matter", "private").await?;
    let shared = raise_ok(&ann, "Shared matter", "organization").await?;
    let globex = raise_ok(&gil, "Globex matter", "organization").await?;

    let anyone = bob
        .client
        .get("/api/requests?created_by=anyone&status=any")
        .await?
        .json()?;
    assert_eq!(keys(&anyone), [shared.as_str()]);
    let mine = bob
        .client
        .get("/api/requests?created_by=me")
        .await?
        .json()?;
    assert_eq!(mine["total"], 0);
    let ann_all = ann
        .client
        .get("/api/requests?created_by=anyone&status=any")
        .await?
        .json()?;
    assert_eq!(keys(&ann_all), [shared.clone(), private.clone()]);

    // Everything about a request one may not see is 404.
    for (who, key) in [
        (&bob, &private),
        (&gil, &private),
        (&gil, &shared),
        (&ann, &globex),
    ] {
        for r in [
            who.client.get(&format!("/api/requests/{key}")).await?,
            who.client
                .post_json(
                    &format!("/api/requests/{key}/comments"),
                    &json!({ "body": "hi" }),
                )
                .await?,
            who.client
                .post_json(
                    &format!("/api/requests/{key}/visibility"),
                    &json!({ "visibility": "private" }),
                )
                .await?,
            who.client
                .post_json(
                    &format!("/api/requests/{key}/mute"),
                    &json!({ "muted": true }),
                )
                .await?,
            who.client
                .post_json(
                    &format!("/api/requests/{key}/rating"),
                    &json!({ "score": 5 }),
                )
                .await?,
        ] {
            assert_eq!(r.status, 404, "{} on {key}: {}", who.username, r.text());
        }
    }
    for key in ["SD-999", "XX-1", "SD-0", "..%2F..%2Fetc", "SD-1%00"] {
        let r = gil.client.get(&format!("/api/requests/{key}")).await?;
        assert_eq!(r.status, 404, "{key}");
    }
    // Customers cannot find the operators' routes.
    for r in [
        ann.client.get("/api/agent/requests").await?,
        agent(&ann, &shared, "transition", &json!({ "to": "closed" })).await?,
        agent(
            &ann,
            &shared,
            "comments",
            &json!({ "body": "x", "internal": true }),
        )
        .await?,
    ] {
        assert_eq!(r.status, 404, "{}", r.text());
    }

    // A colleague comments (and becomes a participant), mutes; only the
    // reporter shares or unshares.
    let r = bob
        .client
        .post_json(
            &format!("/api/requests/{shared}/comments"),
            &json!({ "body": "Same for me" }),
        )
        .await?;
    assert_eq!(r.status, 201);
    desk.mail(&ann.email, "Same for me").await?;
    let page = ann
        .client
        .get(&format!("/api/requests/{shared}"))
        .await?
        .json()?;
    assert_eq!(page["participants"].as_array().map(Vec::len), Some(2));
    let r = bob
        .client
        .post_json(
            &format!("/api/requests/{shared}/visibility"),
            &json!({ "visibility": "private" }),
        )
        .await?;
    assert_eq!((r.status, error_code(&r)), (403, "not_reporter".into()));
    let r = bob
        .client
        .post_json(
            &format!("/api/requests/{shared}/mute"),
            &json!({ "muted": true }),
        )
        .await?;
    assert_eq!(r.status, 200);
    let before = desk.mails_to(&bob.email).len();
    agent(
        &op,
        &shared,
        "comments",
        &json!({ "body": "Fixed for everyone." }),
    )
    .await?;
    desk.mail(&ann.email, "Fixed for everyone.").await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        desk.mails_to(&bob.email).len(),
        before,
        "muted participants are not mailed"
    );
    let r = ann
        .client
        .post_json(
            &format!("/api/requests/{private}/visibility"),
            &json!({ "visibility": "organization" }),
        )
        .await?;
    assert_eq!(r.status, 200);
    assert_eq!(
        bob.client
            .get(&format!("/api/requests/{private}"))
            .await?
            .status,
        200
    );

    // Without approved access: the desk is closed.
    let pat = desk.customer("pat", "pat@x.example", "Pat Pending").await?;
    let r = raise(&pat, "technical-support", "Hello", "private").await?;
    assert_eq!(
        (r.status, error_code(&r)),
        (403, "access_not_approved".into())
    );
    let r = pat.client.get("/api/requests").await?;
    assert_eq!(r.status, 403);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_filter_by_status_topic_and_text() -> anyhow::Result<()> {
    let desk = Desk::start(&[]).await?;
    let (op, ann, bob, _) = world(&desk).await?;
    let a = raise_ok(&ann, "Printer on fire", "organization").await?; // SD-1
    let r = raise(
        &ann,
        "finance-support",
        "Invoice 2026-03 missing",
        "private",
    )
    .await?;
    let b = r.json()?["key"].as_str().unwrap_or_default().to_owned(); // SD-2
    let c = raise_ok(&bob, "Login loop", "organization").await?; // SD-3
    agent(
        &op,
        &b,
        "transition",
        &json!({ "to": "answered", "resolution": "Sent" }),
    )
    .await?;
    ann.client
        .post_json(
            &format!("/api/requests/{c}/comments"),
            &json!({ "body": "The kraken ate it" }),
        )
        .await?;
    let cases: &[(&str, &[&String])] = &[
        ("created_by=me&status=open", &[&a]),
        ("created_by=me&status=closed", &[&b]),
        ("created_by=me&status=any", &[&b, &a]),
        ("created_by=anyone&status=open", &[&c, &a]),
        (
            "created_by=anyone&status=any&request_type=finance-support",
            &[&b],
        ),
        (
            "created_by=anyone&status=any&request_type=rt-technical-support",
            &[&c, &a],
        ),
        ("created_by=anyone&status=any&q=printer", &[&a]),
        ("created_by=anyone&status=any&q=kraken", &[&c]),
        ("created_by=anyone&status=any&q=invo", &[&b]),
        ("created_by=anyone&status=any&q=SD-3", &[&c]),
        ("created_by=anyone&status=any&q=%22%29%20OR%20*", &[]),
        ("created_by=me&status=open&q=kraken", &[]),
    ];
    for (query, want) in cases {
        let got = ann
            .client
            .get(&format!("/api/requests?{query}"))
            .await?
            .json()?;
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(keys(&got), want, "{query}");
        assert_eq!(got["total"], want.len(), "{query}");
    }
    let paged = ann
        .client
        .get("/api/requests?created_by=anyone&status=any&per_page=2&page=2")
        .await?
        .json()?;
    assert_eq!((paged["total"].as_i64(), keys(&paged).len()), (Some(3), 1));
    for bad in ["status=maybe", "created_by=him", "per_page=101", "page=0"] {
        let r = ann.client.get(&format!("/api/requests?{bad}")).await?;
        assert_eq!(r.status, 400, "{bad}");
    }
    // The operators' queue: oldest waiting first, filters.
    let q = op.client.get("/api/agent/requests").await?.json()?;
    assert_eq!(keys(&q), [a.clone(), c.clone()]);
    let counts = op.client.get("/api/agent/counts").await?.json()?;
    assert_eq!(
        (counts["open"].as_i64(), counts["answered"].as_i64()),
        (Some(2), Some(1))
    );
    let me = op.client.get("/api/session").await?.json()?["user"]["id"].clone();
    agent(&op, &c, "assign", &json!({ "assignee_id": me })).await?;
    let mine = op
        .client
        .get("/api/agent/requests?assignee=me")
        .await?
        .json()?;
    assert_eq!(keys(&mine), [c.as_str()]);
    let none = op
        .client
        .get("/api/agent/requests?assignee=none")
        .await?
        .json()?;
    assert_eq!(keys(&none), [a.as_str()]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn my_requests_read_from_kept_pages_are_the_walked_list_under_any_key_prefix()
-> anyhow::Result<()> {
    let desk = Desk::start(&[("ticket_key_prefix", "HELP")]).await?;
    let (op, ann, _, _) = world(&desk).await?;
    let a = raise_ok(&ann, "Printer on fire", "private").await?;
    let b = raise_ok(&ann, "Invoice missing", "organization").await?;
    let c = raise_ok(&ann, "Login loop", "private").await?;
    assert_eq!([&a, &b, &c], ["HELP-1", "HELP-2", "HELP-3"]);
    agent(
        &op,
        &b,
        "transition",
        &json!({ "to": "answered", "resolution": "Sent" }),
    )
    .await?;
    ann.client
        .post_json(
            &format!("/api/requests/{a}/comments"),
            &json!({ "body": "Still burning" }),
        )
        .await?;
    // The raises wrote this prefix's head, so the pages kept for Ann's two
    // default views (any status, open) are read; 24 rows a page is walked.
    let kept: Vec<(String, String)> = desk
        .db()?
        .prepare("SELECT view, head FROM ticket_first_pages WHERE customer_id = ?1 ORDER BY view")?
        .query_map([&ann.id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let head = r#"{"key":"HELP-"#.to_owned();
    assert_eq!(
        kept,
        [("any".to_owned(), head.clone()), ("open".to_owned(), head)]
    );
    for (status, want) in [("any", vec![&a, &b, &c]), ("open", vec![&a, &c])] {
        let want: Vec<String> = want.into_iter().cloned().collect();
        let kept = ann
            .client
            .get(&format!("/api/requests?created_by=me&status={status}"))
            .await?
            .json()?;
        let walked = ann
            .client
            .get(&format!(
                "/api/requests?created_by=me&status={status}&per_page=24"
            ))
            .await?
            .json()?;
        assert_eq!(kept["items"], walked["items"], "{status}");
        let mut got = keys(&kept);
        got.sort();
        assert_eq!(got, want, "{status}");
        assert_eq!(kept["total"].as_u64(), Some(want.len() as u64), "{status}");
        assert_eq!(kept["per_page"], 25);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_creations_get_consecutive_keys() -> anyhow::Result<()> {
    // 100 raises each, far past a person's limit (30 per 10 minutes).
    let desk = Desk::start(&[("limit_raise_per_account", "1000/600")]).await?;
    let (_op, ann, bob, _) = world(&desk).await?;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let client = if i % 2 == 0 {
            ann.client.clone()
        } else {
            bob.client.clone()
        };
        tasks.push(tokio::spawn(async move {
            client
                .post_json(
                    "/api/requests",
                    &json!({ "request_type": "registration", "summary": format!("Burst {i}"), "visibility": "private" }),
                )
                .await
        }));
    }
    let mut numbers = Vec::new();
    for t in tasks {
        let r = t.await??;
        assert_eq!(r.status, 201, "{}", r.text());
        let key = r.json()?["key"].as_str().unwrap_or_default().to_owned();
        numbers.push(key.trim_start_matches("SD-").parse::<i64>()?);
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=200).collect::<Vec<_>>());
    let rows: i64 = desk
        .db()?
        .query_row("SELECT count(*) FROM tickets", [], |r| r.get(0))?;
    assert_eq!(rows, 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_input_is_refused_and_stores_nothing() -> anyhow::Result<()> {
    let desk = Desk::start(&[]).await?;
    let (op, ann, _, _) = world(&desk).await?;
    let long = "x".repeat(256);
    let huge = "y".repeat(32_001);
    for (body, field) in [
        (json!({ "request_type": "registration" }), ""),
        (
            json!({ "request_type": "registration", "summary": "" }),
            "summary",
        ),
        (
            json!({ "request_type": "registration", "summary": "   " }),
            "summary",
        ),
        (
            json!({ "request_type": "registration", "summary": long }),
            "summary",
        ),
        (
            json!({ "request_type": "registration", "summary": "a\u{0007}b" }),
            "summary",
        ),
        (
            json!({ "request_type": "registration", "summary": "ok", "description": huge }),
            "description",
        ),
        (
            json!({ "request_type": "nope", "summary": "ok" }),
            "request_type",
        ),
        (
            json!({ "request_type": 7, "summary": "ok" }),
            "request_type",
        ),
        (
            json!({ "request_type": "registration", "summary": "ok", "visibility": "public" }),
            "visibility",
        ),
        (
            json!({ "request_type": "registration", "summary": "ok", "attachment_ids": ["nope"] }),
            "attachment_ids",
        ),
        (
            json!({ "request_type": "registration", "summary": "ok", "status": "closed" }),
            "",
        ),
    ] {
        let r = ann.client.post_json("/api/requests", &body).await?;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        if !field.is_empty() {
            assert_eq!(r.json()?["error"]["field"], field, "{body}");
        }
    }
    let count: i64 = desk
        .db()?
        .query_row("SELECT count(*) FROM tickets", [], |r| r.get(0))?;
    assert_eq!(count, 0);
    // Script is stored as typed and returned as text (pages render text only).
    let key = raise_ok(&ann, "<img src=x onerror=alert(1)>", "private").await?;
    assert_eq!(key, "SD-1", "refused attempts used no number");
    let t = ann
        .client
        .get(&format!("/api/requests/{key}"))
        .await?
        .json()?;
    assert_eq!(t["summary"], "<img src=x onerror=alert(1)>");
    let mail = desk
        .mail(&ann.email, "We received your request SD-1")
        .await?;
    let html = mail.body["html"].as_str().unwrap_or("");
    assert!(!html.contains("<img src=x"), "{html}");
    for (body, status) in [(json!({ "score": 5 }), 409), (json!({ "score": "5" }), 400)] {
        let r = ann
            .client
            .post_json(&format!("/api/requests/{key}/rating"), &body)
            .await?;
        assert_eq!(r.status, status, "{body}: {}", r.text());
    }
    agent(
        &op,
        &key,
        "transition",
        &json!({ "to": "answered", "resolution": "ok" }),
    )
    .await?;
    for score in [0, 6, -1] {
        let r = ann
            .client
            .post_json(
                &format!("/api/requests/{key}/rating"),
                &json!({ "score": score }),
            )
            .await?;
        assert_eq!(
            (r.status, r.json()?["error"]["field"].as_str()),
            (400, Some("score"))
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mailed_turn_off_link_and_preferences_stop_request_mail() -> anyhow::Result<()> {
    let desk = Desk::start(&[]).await?;
    let (op, ann, bob, _) = world(&desk).await?;
    let key = raise_ok(&ann, "Noisy request", "organization").await?;
    let created = desk
        .mail(&ann.email, &format!("We received your request {key}"))
        .await?;
    let text = created.body["text"].as_str().unwrap_or("");
    let token = text
        .split("/unsubscribe?token=")
        .nth(1)
        .and_then(|t| t.lines().next())
        .unwrap_or("")
        .to_owned();
    let anon = desk.app.client();
    // Opening the link changes nothing; the POST turns mail off; tampering fails.
    let r = anon
        .get(&format!("/api/notifications/unsubscribe?token={token}"))
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (r.json()?["key"].as_str(), r.json()?["muted"].as_bool()),
        (Some(key.as_str()), Some(false))
    );
    let mut bad = token.clone();
    bad.insert(3, 'x');
    let r = anon
        .post_json("/api/notifications/unsubscribe", &json!({ "token": bad }))
        .await?;
    assert_eq!((r.status, error_code(&r)), (400, "invalid_token".into()));
    let r = anon
        .post_json("/api/notifications/unsubscribe", &json!({ "token": token }))
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let page = ann
        .client
        .get(&format!("/api/requests/{key}"))
        .await?
        .json()?;
    assert_eq!(page["muted"], true);
    // Bob turns comment mail off in his preferences, then comments himself
    // (he becomes a participant): the operator's reply reaches nobody.
    let r = bob
        .client
        .patch_json(
            "/api/notifications/preferences",
            &json!({ "comments": false }),
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let prefs = bob
        .client
        .get("/api/notifications/preferences")
        .await?
        .json()?;
    assert_eq!(
        prefs,
        json!({ "request_created": true, "comments": false, "status_changes": true })
    );
    let r = bob
        .client
        .patch_json(
            "/api/notifications/preferences",
            &json!({ "comments": "no" }),
        )
        .await?;
    assert_eq!(r.status, 400);
    bob.client
        .post_json(
            &format!("/api/requests/{key}/comments"),
            &json!({ "body": "Me too" }),
        )
        .await?;
    let before = desk.relay.messages().len();
    agent(&op, &key, "comments", &json!({ "body": "Quiet reply" })).await?;
    // A status change still reaches Bob (that category is on).
    agent(&op, &key, "transition", &json!({ "to": "in_progress" })).await?;
    desk.mail(&bob.email, "changed to In progress").await?;
    let after = desk.relay.messages();
    assert!(
        after[before..].iter().all(|m| !m.body["text"]
            .as_str()
            .unwrap_or("")
            .contains("Quiet reply")),
        "nobody was mailed the reply"
    );
    Ok(())
}
