//! The operator console end to end (issue 10): people and their account
//! actions, the audit log (JSON and CSV), topics, settings, the outbox retry
//! and reports, each with its refusals: customers get 404 for every console
//! route, operators 403 where an action is for admins.

use edgedesk_e2e::desk::{Desk, PASSWORD, Person, error_code};
use edgedesk_e2e::{TestResponse, Value, json};

async fn post(p: &Person, path: &str, body: &Value) -> anyhow::Result<TestResponse> {
    p.client.post_json(path, body).await
}

/// The audit entries for `target`, newest first, as (action, actor) pairs.
async fn audit_of(op: &Person, target: &str) -> anyhow::Result<Vec<(String, String)>> {
    let r = op
        .client
        .get(&format!("/api/admin/audit?target={target}&per_page=100"))
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    Ok(r.json()?["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["action"].as_str().unwrap_or_default().to_owned(),
                        e["actor"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

async fn sign_in_status(desk: &Desk, login: &str, password: &str) -> anyhow::Result<(u16, String)> {
    let r = desk
        .app
        .client()
        .post_json(
            "/api/auth/login",
            &json!({ "login": login, "password": password }),
        )
        .await?;
    Ok((r.status, error_code(&r)))
}

#[tokio::test(flavor = "multi_thread")]
async fn people_actions_work_for_operators_are_audited_and_refused_to_others() -> anyhow::Result<()>
{
    let desk = Desk::start(&[]).await?;
    let boss = desk.staff("boss", "admin").await?;
    let opal = desk.staff("opal", "operator").await?;
    let ann = desk
        .customer("ann", "ann@acme.example", "Ann Archer")
        .await?;
    let user = |id: &str, action: &str| format!("/api/admin/users/{id}/{action}");

    // Customers never see the console: 404 for every admin and agent route.
    for path in [
        "/api/admin/users",
        &format!("/api/admin/users/{}", opal.id),
        "/api/admin/audit",
        "/api/admin/audit?format=csv",
        "/api/admin/settings",
        "/api/admin/reports",
        "/api/admin/outbox",
        "/api/admin/keys",
        "/api/admin/request-types",
        "/api/agent/requests",
        "/api/agent/counts",
    ] {
        let r = ann.client.get(path).await?;
        assert_eq!(r.status, 404, "GET {path}: {}", r.text());
    }
    for path in [
        user(&ann.id, "unlock"),
        user(&opal.id, "end-sessions"),
        user(&ann.id, "deactivate"),
        user(&ann.id, "reactivate"),
        format!("/api/admin/second-factor/{}/reset", ann.id),
        "/api/admin/outbox/x/retry".to_owned(),
    ] {
        let r = post(&ann, &path, &json!({})).await?;
        assert_eq!(r.status, 404, "POST {path}: {}", r.text());
    }
    let r = post(&ann, &user(&ann.id, "role"), &json!({ "role": "admin" })).await?;
    assert_eq!(r.status, 404);

    // Search by organization-less name, email part and role.
    let r = opal.client.get("/api/admin/users?q=ACME.EX").await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let found = r.json()?;
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["username"], "ann");
    let staff = opal
        .client
        .get("/api/admin/users?role=staff")
        .await?
        .json()?;
    assert_eq!(staff["total"], 2);
    assert_eq!(
        error_code(&opal.client.get("/api/admin/users?role=root").await?),
        "invalid_role"
    );

    // A wrong password is audited against the account, with the address.
    assert_eq!(
        sign_in_status(&desk, "ann", "wrong-password-1").await?.0,
        401
    );
    let entries = audit_of(&opal, &format!("user:{}", ann.id)).await?;
    assert_eq!(entries[0], ("auth.login_failed".into(), "anonymous".into()));

    // The person page: methods in use and sessions, never a secret.
    desk.db()?.execute(
        "INSERT INTO twofactor_methods (user_id, kind, is_primary, created_at) VALUES (?1, 'totp', 1, 1)",
        rusqlite::params![ann.id],
    )?;
    let r = opal
        .client
        .get(&format!("/api/admin/users/{}", ann.id))
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.json()?;
    assert_eq!(page["two_factor"]["methods"], json!(["totp"]));
    assert_eq!(page["two_factor"]["primary"], "totp");
    assert_eq!(page["recent_failures"], 1);
    assert!(!page["sessions"].as_array().unwrap_or(&vec![]).is_empty());
    assert!(page["last_login_at"].is_string());
    for secret in ["password_hash", "token_hash", "csrf", "argon2"] {
        assert!(!r.text().contains(secret), "{secret} in {}", r.text());
    }

    // Locked (as 20 wrong passwords would): sign-in 423 until an operator unlocks.
    desk.db()?.execute(
        "UPDATE users SET locked_until = unixepoch() + 900 WHERE id = ?1",
        rusqlite::params![ann.id],
    )?;
    assert_eq!(sign_in_status(&desk, "ann", PASSWORD).await?.0, 423);
    let r = post(&opal, &user(&ann.id, "unlock"), &json!({})).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()?["locked"], false);
    assert_eq!(sign_in_status(&desk, "ann", PASSWORD).await?.0, 200);

    // Roles: operators cannot grant them; admins can, but not to themselves.
    let r = post(
        &opal,
        &user(&ann.id, "role"),
        &json!({ "role": "operator" }),
    )
    .await?;
    assert_eq!((r.status, error_code(&r).as_str()), (403, "admins_only"));
    let r = post(
        &boss,
        &user(&ann.id, "role"),
        &json!({ "role": "operator" }),
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(ann.client.get("/api/admin/settings").await?.status, 200);
    let r = post(
        &boss,
        &user(&ann.id, "role"),
        &json!({ "role": "customer" }),
    )
    .await?;
    assert_eq!(r.json()?["role"], "customer");
    assert_eq!(ann.client.get("/api/admin/settings").await?.status, 404);
    let r = post(
        &boss,
        &user(&boss.id, "role"),
        &json!({ "role": "operator" }),
    )
    .await?;
    assert_eq!((r.status, error_code(&r).as_str()), (409, "not_yourself"));
    let r = post(&boss, &user(&ann.id, "role"), &json!({ "role": "root" })).await?;
    assert_eq!((r.status, error_code(&r).as_str()), (400, "invalid_role"));
    // Operators cannot touch staff accounts; nobody deactivates themselves.
    let r = post(&opal, &user(&boss.id, "deactivate"), &json!({})).await?;
    assert_eq!((r.status, error_code(&r).as_str()), (403, "admins_only"));
    let r = post(&boss, &user(&boss.id, "deactivate"), &json!({})).await?;
    assert_eq!((r.status, error_code(&r).as_str()), (409, "not_yourself"));

    // End all sessions: Ann's browser is signed out at once.
    assert_eq!(ann.client.get("/api/session").await?.status, 200);
    let r = post(&opal, &user(&ann.id, "end-sessions"), &json!({})).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(ann.client.get("/api/session").await?.status, 401);

    // Deactivate: sessions end, sign-in is refused with a clear answer (only
    // after a correct password); reactivate lets her in again.
    let ann = desk.sign_in(desk.app.client(), "ann").await?;
    let r = post(
        &opal,
        &user(&ann.id, "deactivate"),
        &json!({ "reason": "left Acme" }),
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()?["deactivated"], true);
    assert_eq!(ann.client.get("/api/session").await?.status, 401);
    assert_eq!(
        sign_in_status(&desk, "ann", PASSWORD).await?,
        (403, "account_deactivated".to_owned())
    );
    assert_eq!(
        sign_in_status(&desk, "ann", "wrong-password-2").await?,
        (401, "invalid_credentials".to_owned())
    );
    let r = post(&opal, &user(&ann.id, "reactivate"), &json!({})).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(sign_in_status(&desk, "ann", PASSWORD).await?.0, 200);

    // Reset the second factor: methods gone, sessions ended, Ann is mailed and
    // sets one up at her next sign-in.
    let ann = desk.sign_in(desk.app.client(), "ann").await?;
    let r = post(
        &opal,
        &format!("/api/admin/second-factor/{}/reset", boss.id),
        &json!({}),
    )
    .await?;
    assert_eq!((r.status, error_code(&r).as_str()), (403, "admins_only"));
    let r = post(
        &opal,
        &format!("/api/admin/second-factor/{}/reset", ann.id),
        &json!({}),
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()?["removed"], json!(["totp"]));
    assert_eq!(ann.client.get("/api/session").await?.status, 401);
    desk.mail("ann@acme.example", "second factor was reset")
        .await?;
    let r = desk
        .app
        .client()
        .post_json(
            "/api/auth/login",
            &json!({ "login": "ann", "password": PASSWORD }),
        )
        .await?;
    assert_eq!(r.json()?["stage"], "needs_2fa_setup");

    // Every security action is in the log, newest first, with who did it.
    let entries = audit_of(&opal, &format!("user:{}", ann.id)).await?;
    let actions: Vec<&str> = entries.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "user.second_factor_reset",
            "user.reactivate",
            "auth.login_failed",
            "user.deactivate",
            "user.sessions_ended",
            "user.role",
            "user.role",
            "user.unlock",
            "auth.login_failed",
        ]
    );
    assert_eq!(entries[0].1, "opal");
    assert_eq!(entries[5].1, "boss");
    let r = opal
        .client
        .get("/api/admin/audit?action=user.&actor=boss&since=2000-01-01")
        .await?;
    assert_eq!(r.json()?["total"], 2);
    assert_eq!(
        error_code(&opal.client.get("/api/admin/audit?since=yesterday").await?),
        "invalid_time"
    );
    // CSV export of the same log.
    let r = opal
        .client
        .get(&format!(
            "/api/admin/audit?format=csv&target=user:{}",
            ann.id
        ))
        .await?;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/csv")
    );
    let text = r.text();
    assert!(text.starts_with("id,at,actor_id,actor,action,target,target_label,detail,address\r\n"));
    assert_eq!(text.lines().count(), 1 + actions.len());
    assert!(text.contains(",user.deactivate,") && text.contains("left Acme"));
    desk.app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn topics_settings_outbox_and_reports_for_operators() -> anyhow::Result<()> {
    let desk = Desk::start(&[]).await?;
    let boss = desk.staff("boss", "admin").await?;
    let opal = desk.staff("opal", "operator").await?;
    let ann = desk
        .customer("ann", "ann@acme.example", "Ann Archer")
        .await?;
    // Ann gets access to Acme (an operator approves), so she can raise requests.
    let r = post(
        &ann,
        "/api/access-requests",
        &json!({ "company_name": "Acme" }),
    )
    .await?;
    let id = r.json()?["id"].as_str().unwrap_or_default().to_owned();
    let r = post(
        &opal,
        &format!("/api/access-requests/{id}/approve"),
        &json!({}),
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        audit_of(&opal, &format!("access_request:{id}")).await?,
        [("access.approved".to_owned(), "opal".to_owned())]
    );
    // An organization edit is an admin edit: audited.
    let org = ann.client.get("/api/organizations/mine").await?.json()?;
    let org_id = org["id"].as_str().unwrap_or_default().to_owned();
    let r = opal
        .client
        .patch_json(
            &format!("/api/admin/organizations/{org_id}"),
            &json!({ "name": "Acme Corporation" }),
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        audit_of(&opal, &format!("organization:{org_id}")).await?,
        [("organization.update".to_owned(), "opal".to_owned())]
    );

    // Topics: admins create, edit, reorder and hide; operators 403; customers 404.
    let topic = json!({ "name": "Data Protection", "description": "GDPR requests." });
    let r = post(&ann, "/api/admin/request-types", &topic).await?;
    assert_eq!(r.status, 404);
    let r = post(&opal, "/api/admin/request-types", &topic).await?;
    assert_eq!((r.status, error_code(&r).as_str()), (403, "admins_only"));
    let r = post(&boss, "/api/admin/request-types", &topic).await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let t = r.json()?;
    let tid = t["id"].as_str().unwrap_or_default().to_owned();
    let r = boss
        .client
        .patch_json(
            &format!("/api/admin/request-types/{tid}"),
            &json!({ "name": "Privacy", "position": 0 }),
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let list = ann.client.get("/api/request-types").await?.json()?;
    assert_eq!(list["items"][0]["name"], "Privacy");
    boss.client
        .patch_json(
            &format!("/api/admin/request-types/{tid}"),
            &json!({ "hidden": true }),
        )
        .await?;
    let list = ann.client.get("/api/request-types").await?.json()?;
    assert_ne!(list["items"][0]["name"], "Privacy");
    let entries = audit_of(&opal, &format!("request_type:{tid}")).await?;
    assert_eq!(
        entries,
        [
            ("topic.update".to_owned(), "boss".to_owned()),
            ("topic.update".to_owned(), "boss".to_owned()),
            ("topic.create".to_owned(), "boss".to_owned()),
        ]
    );

    // Reorder: the whole order in one call, all or nothing.
    let keys_of = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["key"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = keys_of(&boss.client.get("/api/admin/request-types").await?.json()?);
    let mut reversed: Vec<String> = before.iter().rev().cloned().collect();
    let r = post(
        &opal,
        "/api/admin/request-types/order",
        &json!({ "ids": reversed }),
    )
    .await?;
    assert_eq!((r.status, error_code(&r).as_str()), (403, "admins_only"));
    let r = post(
        &ann,
        "/api/admin/request-types/order",
        &json!({ "ids": reversed }),
    )
    .await?;
    assert_eq!(r.status, 404);
    let mut twice = reversed.clone();
    twice[1] = twice[0].clone();
    for bad in [
        json!({ "ids": twice }),
        json!({ "ids": [reversed[0].clone(), "no-such-topic"] }),
        json!({ "ids": reversed[1..].to_vec() }),
    ] {
        let r = post(&boss, "/api/admin/request-types/order", &bad).await?;
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (400, "invalid_order"),
            "{bad}"
        );
        let now = keys_of(&boss.client.get("/api/admin/request-types").await?.json()?);
        assert_eq!(now, before, "a refused reorder changed nothing");
    }
    // Ids or keys: the new topic by its id.
    if let Some(k) = reversed.iter_mut().find(|k| *k == "data-protection") {
        *k = tid.clone();
    }
    let r = post(
        &boss,
        "/api/admin/request-types/order",
        &json!({ "ids": reversed }),
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let after = keys_of(&boss.client.get("/api/admin/request-types").await?.json()?);
    assert_eq!(after, before.iter().rev().cloned().collect::<Vec<_>>());
    let entries = audit_of(&opal, "request_types").await?;
    assert_eq!(entries, [("topic.reorder".to_owned(), "boss".to_owned())]);

    // Settings: read-only, where to change them, never a secret.
    let r = opal.client.get("/api/admin/settings").await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let s = r.json()?;
    let names: Vec<&str> = s["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["name"].as_str()).collect())
        .unwrap_or_default();
    for n in [
        "portal_name",
        "ticket_key_prefix",
        "signup_mode",
        "working_hours",
        "mail_transport",
    ] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
    assert!(s.to_string().contains("SPIN_VARIABLE_WORKING_HOURS"));
    for secret in [
        "link_key",
        "data_key",
        "mail_relay_token",
        "deliver_token",
        "link_secret",
    ] {
        assert!(!r.text().contains(secret), "{secret}");
    }

    // Outbox: a given-up message is retried and delivered; a delivered one is not.
    let mail_id: String = desk.db()?.query_row(
        "SELECT id FROM outbox WHERE to_addr = 'ann@acme.example' ORDER BY created_at LIMIT 1",
        [],
        |r| r.get(0),
    )?;
    // The relay saw it; wait until the outbox row records the answer too.
    for _ in 0..200 {
        let state: String = desk.db()?.query_row(
            "SELECT state FROM outbox WHERE id = ?1",
            rusqlite::params![mail_id],
            |r| r.get(0),
        )?;
        if state == "delivered" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let r = post(
        &opal,
        &format!("/api/admin/outbox/{mail_id}/retry"),
        &json!({}),
    )
    .await?;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (409, "already_delivered")
    );
    desk.db()?.execute(
        "INSERT INTO outbox (id, kind, to_addr, subject, text_body, html_body, state, attempts, \
         created_at, next_attempt_at, last_error) VALUES ('gave-up', 'test', 'ann@acme.example', \
         'Gave up', 'again', '<p>again</p>', 'failed', 8, unixepoch(), unixepoch(), 'relay said 500')",
        [],
    )?;
    let failed = opal
        .client
        .get("/api/admin/outbox?state=failed")
        .await?
        .json()?;
    assert_eq!(failed["items"][0]["last_error"], "relay said 500");
    assert_eq!(failed["items"][0]["attempts"], 8);
    let r = post(&opal, "/api/admin/outbox/gave-up/retry", &json!({})).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    desk.mail("ann@acme.example", "Gave up").await?;
    let r = post(&opal, "/api/admin/outbox/no-such-mail/retry", &json!({})).await?;
    assert_eq!(r.status, 404);
    assert_eq!(
        audit_of(&opal, "outbox:gave-up").await?,
        [("outbox.retry".to_owned(), "opal".to_owned())]
    );

    // Reports: a request raised, answered and rated shows up in every section.
    let r = post(
        &ann,
        "/api/requests",
        &json!({ "request_type": "finance-support", "summary": "Invoice copy", "visibility": "private" }),
    )
    .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let key = r.json()?["key"].as_str().unwrap_or_default().to_owned();
    let r = post(
        &opal,
        &format!("/api/agent/requests/{key}/comments"),
        &json!({ "body": "Looking into it." }),
    )
    .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = post(
        &opal,
        &format!("/api/agent/requests/{key}/transition"),
        &json!({ "to": "answered", "resolution": "Sent." }),
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post(
        &ann,
        &format!("/api/requests/{key}/rating"),
        &json!({ "score": 4 }),
    )
    .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(ann.client.get("/api/admin/reports").await?.status, 404);
    let r = opal.client.get("/api/admin/reports?weeks=4").await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let rep = r.json()?;
    let weeks = rep["weeks"].as_array().cloned().unwrap_or_default();
    assert_eq!(weeks.len(), 4);
    assert_eq!(weeks[3]["opened"], 1);
    assert_eq!(weeks[3]["resolved"], 1);
    assert_eq!(rep["first_response"]["count"], 1);
    assert!(rep["first_response"]["median_wall_s"].as_i64().is_some());
    assert_eq!(rep["ratings_by_topic"][0]["label"], "Finance Support");
    assert_eq!(rep["ratings_by_topic"][0]["average"], 4.0);
    assert_eq!(rep["ratings_by_month"][0]["count"], 1);
    let r = opal
        .client
        .get("/api/admin/reports?weeks=4&format=csv")
        .await?;
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/csv")
    );
    assert!(
        r.text().contains("rating_by_topic,Finance Support,1,4.00"),
        "{}",
        r.text()
    );
    let r = opal.client.get("/api/admin/reports?weeks=0").await?;
    assert_eq!((r.status, error_code(&r).as_str()), (400, "invalid_weeks"));
    desk.app.stop().await;
    Ok(())
}
