//! Company access end to end (issue 7): several people, captured mail, the
//! pages' API calls and the mailed "Approve" links.

use std::time::Duration;

use edgedesk_e2e::desk::{Desk, Person, error_code, link_token};
use edgedesk_e2e::{TestResponse, Value, json};

async fn ask(p: &Person, company: &str) -> anyhow::Result<TestResponse> {
    p.client
        .post_json("/api/access-requests", &json!({ "company_name": company }))
        .await
}

/// `p` asks to join `company`; returns the request id.
async fn ask_ok(p: &Person, company: &str, approver: &str) -> anyhow::Result<String> {
    let r = ask(p, company).await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json()?;
    assert_eq!(v["status"], "pending");
    assert_eq!(v["approver"], approver, "{v}");
    Ok(v["id"].as_str().unwrap_or_default().to_owned())
}

async fn decide(p: &Person, id: &str, action: &str, body: &Value) -> anyhow::Result<TestResponse> {
    p.client
        .post_json(&format!("/api/access-requests/{id}/{action}"), body)
        .await
}

async fn session_access(p: &Person) -> anyhow::Result<(String, Value)> {
    let s = p.client.get("/api/session").await?.json()?;
    Ok((
        s["user"]["access"].as_str().unwrap_or_default().to_owned(),
        s["user"]["organization"].clone(),
    ))
}

/// An operator and Ann, the approved first member of Acme Corp.
async fn acme(desk: &Desk) -> anyhow::Result<(Person, Person)> {
    let op = desk.staff("opal", "operator").await?;
    let ann = desk
        .customer("ann", "ann@acme.example", "Ann Archer")
        .await?;
    let id = ask_ok(&ann, "Acme Corp", "operators").await?;
    let r = decide(&op, &id, "approve", &json!({})).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    Ok((op, ann))
}

#[tokio::test(flavor = "multi_thread")]
async fn first_of_a_company_waits_for_operators_and_colleagues_let_the_next_ones_in()
-> anyhow::Result<()> {
    let desk = Desk::start(&[]).await?;
    let op = desk.staff("opal", "operator").await?;
    let ann = desk
        .customer("ann", "ann@acme.example", "Ann Archer")
        .await?;

    // Before asking: no access, no organization, and the desk is closed.
    assert_eq!(session_access(&ann).await?.0, "none");
    let r = ann.client.get("/api/access-requests").await?;
    assert_eq!(
        (r.status, error_code(&r)),
        (403, "access_not_approved".into())
    );

    let first = ask_ok(&ann, "Acme Corp", "operators").await?;
    let received = desk.mail(&ann.email, "We received your request").await?;
    assert!(
        received.body["text"]
            .as_str()
            .unwrap_or("")
            .contains("Acme Corp")
    );
    let (access, org) = session_access(&ann).await?;
    assert_eq!(
        (access.as_str(), org["name"].as_str()),
        ("pending", Some("Acme Corp"))
    );
    let r = ann.client.get("/api/organizations/mine").await?;
    assert_eq!(r.status, 404, "a pending requester sees no members");
    let r = ask(&ann, "Other Co").await?;
    assert_eq!((r.status, error_code(&r)), (409, "request_pending".into()));

    // The requester sees their request and its history, but cannot decide it.
    let mine = ann.client.get("/api/access-requests/mine").await?.json()?;
    assert_eq!(mine["total"], 1);
    assert_eq!(mine["items"][0]["history"][0]["status"], "pending");
    assert_eq!(mine["items"][0]["can_decide"], false);

    // Operators find it among the first-of-company requests and approve it.
    let list = op
        .client
        .get("/api/access-requests?status=pending&approver=operators")
        .await?
        .json()?;
    assert_eq!(list["items"][0]["id"], first.as_str());
    assert_eq!(list["items"][0]["can_decide"], true);
    let r = decide(&op, &first, "approve", &json!({})).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json()?;
    assert_eq!(v["status"], "approved");
    assert_eq!(v["history"][1]["by"]["id"], op.id.as_str());
    desk.mail(&ann.email, "Your access to Acme Corp is approved")
        .await?;
    assert_eq!(session_access(&ann).await?.0, "approved");

    // The second person: the name matches whatever its case and spacing, and
    // Ann (a member) decides, from the page.
    let bob = desk
        .customer("bob", "bob@elsewhere.example", "Bob Baker")
        .await?;
    let second = ask_ok(&bob, "  acme   CORP ", "organization").await?;
    let asks = desk
        .mail(&ann.email, "Bob Baker asks to join Acme Corp")
        .await?;
    let text = asks.body["text"].as_str().unwrap_or("");
    assert!(
        text.contains(&format!("/access-request?id={second}")),
        "{text}"
    );
    assert!(text.contains("/approve-access?token="), "{text}");
    let pending = ann.client.get("/api/access-requests").await?.json()?;
    assert_eq!(pending["total"], 1);
    assert_eq!(pending["items"][0]["requester"]["full_name"], "Bob Baker");
    let page = ann
        .client
        .get(&format!("/api/access-requests/{second}"))
        .await?
        .json()?;
    assert_eq!(page["can_decide"], true);
    let r = decide(&ann, &second, "approve", &json!({})).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    desk.mail(&bob.email, "Your access to Acme Corp is approved")
        .await?;
    desk.mail(&ann.email, "Bob Baker joined Acme Corp").await?;

    // The third person, approved by Bob through the mailed link: opening it
    // changes nothing; the POST approves; the link then is spent, and Ann's
    // link for the same request no longer works.
    let cat = desk
        .customer("cat", "cat@elsewhere.example", "Cat Cole")
        .await?;
    let third = ask_ok(&cat, "Acme Corp", "organization").await?;
    let bob_mail = desk.mail(&bob.email, "Cat Cole asks to join").await?;
    let ann_mail = desk.mail(&ann.email, "Cat Cole asks to join").await?;
    let bob_token = link_token(&bob_mail, "/approve-access?token=");
    let ann_token = link_token(&ann_mail, "/approve-access?token=");
    assert_ne!(bob_token, ann_token, "each approver gets their own link");
    let anon = desk.app.client();
    let r = anon
        .get(&format!(
            "/api/access-requests/approve-link?token={bob_token}"
        ))
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let shown = r.json()?;
    assert_eq!(shown["request"]["requester"]["full_name"], "Cat Cole");
    assert_eq!(shown["approver"]["full_name"], "Bob Baker");
    assert_eq!(
        session_access(&cat).await?.0,
        "pending",
        "a GET approves nothing"
    );
    let r = anon
        .post_json(
            "/api/access-requests/approve-link",
            &json!({ "token": bob_token }),
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()?["decided_by"]["id"], bob.id.as_str());
    assert_eq!(session_access(&cat).await?.0, "approved");
    for token in [&bob_token, &ann_token] {
        let r = anon
            .post_json(
                "/api/access-requests/approve-link",
                &json!({ "token": token }),
            )
            .await?;
        assert_eq!((r.status, error_code(&r)), (400, "invalid_token".into()));
    }
    let r = decide(&op, &third, "approve", &json!({})).await?;
    assert_eq!((r.status, error_code(&r)), (409, "already_decided".into()));

    // Everyone sees the same organization.
    let org = cat.client.get("/api/organizations/mine").await?.json()?;
    assert_eq!(org["name"], "Acme Corp");
    let mut names: Vec<&str> = org["members"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["full_name"].as_str()).collect())
        .unwrap_or_default();
    names.sort_unstable();
    assert_eq!(names, ["Ann Archer", "Bob Baker", "Cat Cole"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn decline_mails_the_reason_and_other_companies_see_nothing() -> anyhow::Result<()> {
    let desk = Desk::start(&[]).await?;
    let (op, ann) = acme(&desk).await?;
    let eve = desk
        .customer("eve", "eve@evil.example", "Eve Evans")
        .await?;
    let evil = ask_ok(&eve, "Evil Ltd", "operators").await?;
    decide(&op, &evil, "approve", &json!({})).await?;
    let dan = desk.customer("dan", "dan@mail.example", "Dan Dunn").await?;
    let id = ask_ok(&dan, "ACME corp", "organization").await?;

    // Another company's member: 404 on the page, the decisions and the list.
    for r in [
        eve.client
            .get(&format!("/api/access-requests/{id}"))
            .await?,
        decide(&eve, &id, "approve", &json!({})).await?,
        decide(&eve, &id, "decline", &json!({ "reason": "no" })).await?,
    ] {
        assert_eq!(r.status, 404, "{}", r.text());
    }
    let list = eve
        .client
        .get("/api/access-requests?status=any")
        .await?
        .json()?;
    assert!(
        list["items"]
            .as_array()
            .is_some_and(|a| a.iter().all(|r| r["id"] != id.as_str())),
        "{list}"
    );
    // The requester cannot decide their own request.
    let r = decide(&dan, &id, "approve", &json!({})).await?;
    assert_eq!((r.status, error_code(&r)), (403, "own_request".into()));

    // A reason is required; the requester gets it by mail.
    for body in [
        json!({}),
        json!({ "reason": "   " }),
        json!({ "reason": 5 }),
    ] {
        let r = decide(&ann, &id, "decline", &body).await?;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
    }
    let reason = "We do not know you <b>here</b>.\nAsk your manager.";
    let r = decide(&ann, &id, "decline", &json!({ "reason": reason })).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let mail = desk.mail(&dan.email, "was declined").await?;
    assert!(mail.body["text"].as_str().unwrap_or("").contains(reason));
    let html = mail.body["html"].as_str().unwrap_or("");
    assert!(html.contains("&lt;b&gt;here&lt;/b&gt;") && !html.contains("<b>here"));
    let r = decide(&op, &id, "approve", &json!({})).await?;
    assert_eq!((r.status, error_code(&r)), (409, "already_decided".into()));
    let (access, org) = session_access(&dan).await?;
    assert_eq!((access.as_str(), org.is_null()), ("none", true));
    let mine = dan.client.get("/api/access-requests/mine").await?.json()?;
    assert_eq!(mine["items"][0]["status"], "declined");
    assert_eq!(mine["items"][0]["reason"], reason);
    assert_eq!(
        mine["items"][0]["history"][1]["by"]["full_name"],
        "Ann Archer"
    );
    // Nobody but the requester was told.
    assert!(desk.mails_to(&ann.email).iter().all(|m| {
        !m.body["subject"]
            .as_str()
            .unwrap_or("")
            .contains("declined")
    }));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn approve_links_refuse_other_people_expiry_and_tampering() -> anyhow::Result<()> {
    let desk = Desk::start(&[]).await?;
    let (op, ann) = acme(&desk).await?;
    let fay = desk.customer("fay", "fay@x.example", "Fay Fox").await?;
    let id = ask_ok(&fay, "Acme Corp", "organization").await?;
    let token = link_token(
        &desk.mail(&ann.email, "Fay Fox asks to join").await?,
        "/approve-access?token=",
    );

    // Opened in someone else's signed-in browser: refused, nothing spent.
    let r = op
        .client
        .get(&format!("/api/access-requests/approve-link?token={token}"))
        .await?;
    assert_eq!((r.status, error_code(&r)), (403, "wrong_approver".into()));
    let r = op
        .client
        .post_json(
            "/api/access-requests/approve-link",
            &json!({ "token": token }),
        )
        .await?;
    assert_eq!((r.status, error_code(&r)), (403, "wrong_approver".into()));
    // Tampered tokens and wrong shapes.
    let mut tampered = token.clone();
    tampered.replace_range(0..1, if token.starts_with('A') { "B" } else { "A" });
    let anon = desk.app.client();
    for body in [
        json!({ "token": tampered }),
        json!({ "token": "" }),
        json!({ "token": 12 }),
        json!({}),
    ] {
        let r = anon
            .post_json("/api/access-requests/approve-link", &body)
            .await?;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
    }
    // Expired (7 days): moved into the past in the database.
    desk.db()?.execute(
        "UPDATE approval_links SET expires_at = 1 WHERE request_id = ?1",
        rusqlite::params![id],
    )?;
    let r = anon
        .post_json(
            "/api/access-requests/approve-link",
            &json!({ "token": token }),
        )
        .await?;
    assert_eq!((r.status, error_code(&r)), (400, "invalid_token".into()));
    assert_eq!(session_access(&fay).await?.0, "pending");
    // Ann signed in may still approve from the page.
    let r = decide(&ann, &id, "approve", &json!({})).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_members_approving_at_once_one_wins_and_mail_goes_once() -> anyhow::Result<()> {
    let desk = Desk::start(&[]).await?;
    let (_op, ann) = acme(&desk).await?;
    let bob = desk.customer("bob", "bob@x.example", "Bob Baker").await?;
    let id = ask_ok(&bob, "Acme Corp", "organization").await?;
    decide(&ann, &id, "approve", &json!({})).await?;
    let gil = desk.customer("gil", "gil@x.example", "Gil Gray").await?;
    let id = ask_ok(&gil, "Acme Corp", "organization").await?;
    let empty = json!({});
    let (a, b) = tokio::join!(
        decide(&ann, &id, "approve", &empty),
        decide(&bob, &id, "approve", &empty)
    );
    let mut codes = [a?.status, b?.status];
    codes.sort_unstable();
    assert_eq!(codes, [200, 409]);
    desk.mail(&gil.email, "is approved").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let approvals = desk
        .mails_to(&gil.email)
        .iter()
        .filter(|m| {
            m.body["subject"]
                .as_str()
                .unwrap_or("")
                .contains("is approved")
        })
        .count();
    assert_eq!(approvals, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn asking_answers_the_same_shape_whether_the_company_exists_and_checks_input()
-> anyhow::Result<()> {
    let desk = Desk::start(&[]).await?;
    let (_op, _ann) = acme(&desk).await?;
    let hal = desk.customer("hal", "hal@x.example", "Hal Hill").await?;
    let ivy = desk.customer("ivy", "ivy@y.example", "Ivy Ito").await?;
    let known = ask(&hal, "Acme Corp").await?;
    let unknown = ask(&ivy, "Brand New Company").await?;
    assert_eq!((known.status, unknown.status), (201, 201));
    let keys = |r: &TestResponse| -> Vec<String> {
        let mut k: Vec<String> = r
            .json()
            .ok()
            .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
            .unwrap_or_default();
        k.sort();
        k
    };
    assert_eq!(keys(&known), keys(&unknown));

    let jo = desk.customer("joe", "joe@z.example", "Joe Jones").await?;
    let long = "x".repeat(121);
    for (body, field) in [
        (json!({}), ""),
        (json!({ "company_name": 42 }), "company_name"),
        (json!({ "company_name": "" }), "company_name"),
        (json!({ "company_name": "A" }), "company_name"),
        (json!({ "company_name": long }), "company_name"),
        (
            json!({ "company_name": "Acme\u{202E}Corp" }),
            "company_name",
        ),
        (json!({ "company_name": "Acme", "admin": true }), ""),
    ] {
        let r = jo.client.post_json("/api/access-requests", &body).await?;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        if !field.is_empty() {
            assert_eq!(r.json()?["error"]["field"], field, "{body}");
        }
    }
    let r = jo
        .client
        .request(
            "POST",
            "/api/access-requests",
            &[("content-type", "application/json")],
            "{not json",
        )
        .await?;
    assert_eq!(r.status, 400);
    // Without the CSRF token, and signed out.
    let bare = desk.app.client();
    bare.set_cookie(
        "edgedesk_session",
        &jo.client.cookie("edgedesk_session").unwrap_or_default(),
    );
    let r = bare
        .post_json("/api/access-requests", &json!({ "company_name": "Acme" }))
        .await?;
    assert_eq!((r.status, error_code(&r)), (403, "csrf_failed".into()));
    let r = desk
        .app
        .client()
        .post_json("/api/access-requests", &json!({ "company_name": "Acme" }))
        .await?;
    assert_eq!(r.status, 401);
    // Nothing was stored by the refused attempts.
    assert_eq!(session_access(&jo).await?.0, "none");
    // Script in a company name is stored as typed and comes back as text.
    let id = ask_ok(&jo, "<script>alert(1)</script> Ltd", "operators").await?;
    let v = jo
        .client
        .get(&format!("/api/access-requests/{id}"))
        .await?
        .json()?;
    assert_eq!(v["company_name"], "<script>alert(1)</script> Ltd");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_keep_organizations_domains_and_members() -> anyhow::Result<()> {
    let desk = Desk::start(&[]).await?;
    let (op, ann) = acme(&desk).await?;
    // Customers cannot find the operators' routes.
    for r in [
        ann.client.get("/api/admin/organizations").await?,
        ann.client
            .post_json("/api/admin/organizations", &json!({ "name": "X Co" }))
            .await?,
    ] {
        assert_eq!(r.status, 404, "{}", r.text());
    }
    // Create with domains; free mail and duplicates are refused.
    let r = op
        .client
        .post_json(
            "/api/admin/organizations",
            &json!({ "name": "Globex", "domains": ["globex.example", "@GLOBEX.test"] }),
        )
        .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    let globex = r.json()?;
    assert_eq!(globex["domains"], json!(["globex.example", "globex.test"]));
    let gid = globex["id"].as_str().unwrap_or_default().to_owned();
    let r = op
        .client
        .post_json("/api/admin/organizations", &json!({ "name": "  globex " }))
        .await?;
    assert_eq!((r.status, error_code(&r)), (409, "name_taken".into()));
    let r = op
        .client
        .patch_json(
            &format!("/api/admin/organizations/{gid}"),
            &json!({ "domains": ["gmail.com"] }),
        )
        .await?;
    assert_eq!((r.status, error_code(&r)), (400, "free_mail_domain".into()));

    // A person whose address is at a registered domain joins by domain, even
    // with another name typed; an approved organization with no members yet
    // still waits for operators.
    let kim = desk
        .customer("kim", "kim@globex.example", "Kim Kahn")
        .await?;
    let id = ask_ok(&kim, "Globex Corporation International", "operators").await?;
    let v = kim
        .client
        .get(&format!("/api/access-requests/{id}"))
        .await?
        .json()?;
    assert_eq!(v["organization"]["id"], gid.as_str());
    // A free-mail address never matches by domain.
    let lee = desk.customer("lee", "lee@gmail.com", "Lee Lam").await?;
    let lid = ask_ok(&lee, "Lee's Startup", "operators").await?;
    let v = lee
        .client
        .get(&format!("/api/access-requests/{lid}"))
        .await?
        .json()?;
    assert_ne!(v["organization"]["id"], gid.as_str());

    // Add a member directly (settles their pending request), rename, remove.
    let r = op
        .client
        .post_json(
            &format!("/api/admin/organizations/{gid}/members"),
            &json!({ "login": "kim" }),
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(session_access(&kim).await?.0, "approved");
    let r = op
        .client
        .patch_json(
            &format!("/api/admin/organizations/{gid}"),
            &json!({ "name": "Globex Corp" }),
        )
        .await?;
    assert_eq!(r.json()?["name"], "Globex Corp");
    assert_eq!(session_access(&kim).await?.1["name"], "Globex Corp");

    // Merge Globex into Acme: Kim is now Ann's colleague.
    let acme_id = session_access(&ann).await?.1["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let r = op
        .client
        .post_json(
            &format!("/api/admin/organizations/{gid}/merge"),
            &json!({ "into": acme_id }),
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(session_access(&kim).await?.1["name"], "Acme Corp");
    let r = op
        .client
        .get(&format!("/api/admin/organizations/{gid}"))
        .await?;
    assert_eq!(r.status, 404);
    let r = op
        .client
        .delete(&format!(
            "/api/admin/organizations/{acme_id}/members/{}",
            kim.id
        ))
        .await?;
    assert_eq!(r.status, 204);
    assert_eq!(session_access(&kim).await?.0, "none");
    let r = op
        .client
        .delete(&format!(
            "/api/admin/organizations/{acme_id}/members/{}",
            kim.id
        ))
        .await?;
    assert_eq!(r.status, 404);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_invites_a_customer_into_an_organization() -> anyhow::Result<()> {
    // An administrator may create accounts whatever the sign-up mode (in
    // invite mode it is the only way in; accounts.rs tests that mode).
    let desk = Desk::start(&[]).await?;
    let admin = desk.staff("adele", "admin").await?;
    let op = desk.staff("otto", "operator").await?;
    let r = admin
        .client
        .post_json("/api/admin/organizations", &json!({ "name": "Initech" }))
        .await?;
    let org = r.json()?["id"].as_str().unwrap_or_default().to_owned();
    let r = admin
        .client
        .post_json(
            "/api/admin/users",
            &json!({ "email": "Milton@Initech.example", "full_name": "Milton Waddams", "organization_id": org }),
        )
        .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()?["username"], "milton");
    // Operators may not create accounts.
    let r = op
        .client
        .post_json(
            "/api/admin/users",
            &json!({ "email": "y@initech.example", "full_name": "Y" }),
        )
        .await?;
    assert_eq!((r.status, error_code(&r)), (403, "admins_only".into()));
    let mail = desk
        .mail("milton@initech.example", "account is ready")
        .await?;
    let token = link_token(&mail, "/reset-password?token=");
    let c = desk.app.client();
    let r = c
        .post_json(
            "/api/auth/password/reset",
            &json!({ "token": token, "new_password": edgedesk_e2e::desk::PASSWORD }),
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let milton = desk.sign_in(desk.app.client(), "milton").await?;
    let (access, organization) = session_access(&milton).await?;
    assert_eq!(
        (access.as_str(), organization["name"].as_str()),
        ("approved", Some("Initech"))
    );
    // The link worked once (tried from a fresh browser).
    let r = desk
        .app
        .client()
        .post_json(
            "/api/auth/password/reset",
            &json!({ "token": token, "new_password": "another-long-passphrase-9" }),
        )
        .await?;
    assert_eq!(r.status, 400);
    let r = admin
        .client
        .post_json(
            "/api/admin/users",
            &json!({ "email": "milton@initech.example", "full_name": "Again" }),
        )
        .await?;
    assert_eq!((r.status, error_code(&r)), (409, "email_taken".into()));
    let r = milton
        .client
        .post_json(
            "/api/admin/users",
            &json!({ "email": "x@initech.example", "full_name": "X" }),
        )
        .await?;
    assert_eq!(r.status, 404, "customers cannot find the route");
    Ok(())
}
