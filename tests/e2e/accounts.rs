//! Accounts end to end through the host (issue 3): sign-up -> confirmation
//! link from the captured mail -> sign-in -> sign-out; tokens; enumeration-safe
//! answers; password change and reset ending sessions; CSRF; bad input; rate
//! limits; invite mode.
//!
//! The second factor is owed after every sign-in here (no method is set up);
//! where a test needs a fully signed-in session it promotes the session row in
//! the database, as the two-factor step would.

use std::time::{Duration, Instant};

use edgedesk_core::Sql;
use edgedesk_core::native::NativeSql;
use edgedesk_e2e::{
    CapturedMail, Client, MailCapture, TestApp, TestOptions, TestResponse, Value, app_manifest,
    json,
};

const PW: &str = "orbit-cactus-velvet-42";
const NEW_PW: &str = "marble-tundra-piano-77";

struct World {
    relay: MailCapture,
    app: TestApp,
}

async fn start(vars: &[(&str, &str)]) -> anyhow::Result<World> {
    let relay = MailCapture::start().await?;
    let mut opts = TestOptions::new(app_manifest())
        .var("mail_transport", "http")
        .var("mail_relay_url", &relay.url())
        .var("mail_relay_origin", &relay.origin());
    for (k, v) in vars {
        opts = opts.var(k, v);
    }
    let app = TestApp::start_with(opts).await?;
    Ok(World { relay, app })
}

impl World {
    fn db(&self) -> anyhow::Result<NativeSql> {
        Ok(NativeSql::open(&self.app.state_dir().join("sqlite_db.db"))?)
    }

    /// Waits for the `n`-th mail (1-based) and returns it.
    async fn mail(&self, n: usize) -> anyhow::Result<CapturedMail> {
        let all = self.relay.wait_for(n, Duration::from_secs(10)).await?;
        Ok(all[n - 1].clone())
    }

    /// Promotes every session of the user to `full`, as a passed second factor would.
    fn promote_sessions(&self, username: &str) -> anyhow::Result<()> {
        self.db()?.execute(
            "UPDATE sessions SET stage = 'full' WHERE user_id = \
             (SELECT id FROM users WHERE username = ?1)",
            &[username.into()],
        )?;
        Ok(())
    }
}

/// The token of the link `…{marker}TOKEN` in a mail's text.
fn link_token(mail: &CapturedMail, marker: &str) -> String {
    let text = mail.body["text"].as_str().unwrap_or_default();
    let start = text
        .find(marker)
        .map(|i| i + marker.len())
        .unwrap_or(text.len());
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

fn signup_body(email: &str, username: Option<&str>) -> Value {
    let mut b = json!({
        "email": email,
        "full_name": "Ada Lovelace",
        "password": PW,
        "accept_terms_version": "2026-01",
    });
    if let Some(u) = username {
        b["username"] = json!(u);
    }
    b
}

/// Signs up and confirms `username`; returns nothing, mail `n` is the confirmation.
async fn confirmed_account(w: &World, email: &str, username: &str, n: usize) -> anyhow::Result<()> {
    let c = w.app.client();
    let r = c
        .post_json("/api/auth/signup", &signup_body(email, Some(username)))
        .await?;
    assert_eq!(r.status, 202, "{}", r.text());
    let token = link_token(&w.mail(n).await?, "/confirm?token=");
    let r = c
        .post_json("/api/auth/confirm", &json!({ "token": token }))
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    Ok(())
}

async fn login(c: &Client, login: &str, pw: &str) -> anyhow::Result<TestResponse> {
    c.post_json(
        "/api/auth/login",
        &json!({ "login": login, "password": pw }),
    )
    .await
}

/// A state-changing request with the session's CSRF token.
async fn send_csrf(
    c: &Client,
    method: &str,
    path: &str,
    body: &Value,
) -> anyhow::Result<TestResponse> {
    let s = c.get("/api/session").await?.json()?;
    let token = s["csrf_token"].as_str().unwrap_or_default().to_owned();
    c.request(
        method,
        path,
        &[
            ("content-type", "application/json"),
            ("x-csrf-token", &token),
        ],
        body.to_string(),
    )
    .await
}

fn error_code(r: &TestResponse) -> String {
    r.json()
        .ok()
        .and_then(|b| b["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn error_field(r: &TestResponse) -> String {
    r.json()
        .ok()
        .and_then(|b| b["error"]["field"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_up_confirm_sign_in_and_sign_out_journey() -> anyhow::Result<()> {
    let w = start(&[]).await?;
    let c = w.app.client();

    let policy = c.get("/api/auth/password-policy").await?.json()?;
    assert_eq!(
        (policy["min_length"].as_i64(), policy["max_length"].as_i64()),
        (Some(12), Some(128))
    );
    assert!(policy["rules"].as_array().is_some_and(|r| !r.is_empty()));
    let terms = c.get("/api/terms").await?.json()?;
    assert_eq!(terms["version"], "2026-01");
    assert!(terms["text"].as_str().is_some_and(|t| t.len() > 100));

    let r = c
        .post_json(
            "/api/auth/signup",
            &signup_body("Ada@Corp.example", Some("ada")),
        )
        .await?;
    assert_eq!(r.status, 202, "{}", r.text());
    let mail = w.mail(1).await?;
    assert_eq!(mail.body["to"], json!(["ada@corp.example"]));
    assert_eq!(
        mail.body["subject"],
        "Confirm your EdgeDesk Service Desk account"
    );
    assert!(
        mail.body["html"]
            .as_str()
            .unwrap_or("")
            .contains("/confirm?token=")
    );
    let token = link_token(&mail, "http://127.0.0.1:3000/confirm?token=");
    assert_eq!(token.len(), 43, "a 256-bit token in the link");

    // Not yet confirmed: told only with the right password.
    assert_eq!(
        error_code(&login(&c, "ada", "wrong-password-1").await?),
        "invalid_credentials"
    );
    let r = login(&c, "ada", PW).await?;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (403, "email_not_confirmed")
    );

    let r = c
        .post_json("/api/auth/confirm", &json!({ "token": token }))
        .await?;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()?, json!({ "username": "ada" }));
    let again = c
        .post_json("/api/auth/confirm", &json!({ "token": token }))
        .await?;
    assert_eq!(
        (again.status, error_code(&again).as_str()),
        (400, "invalid_token")
    );

    // Sign in with the email, in any case.
    let r = login(&c, "ADA@corp.example", PW).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json()?;
    assert_eq!(body["stage"], "needs_2fa_setup");
    assert!(body["methods"].is_array());
    let cookie = r.header("set-cookie").unwrap_or_default().to_owned();
    assert!(cookie.starts_with("edgedesk_session="));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/")
    );
    assert!(
        !cookie.contains("Max-Age"),
        "a browser session without remember_me"
    );
    let session_token = c.cookie("edgedesk_session").unwrap_or_default();

    let s = c.get("/api/session").await?;
    assert_eq!(s.status, 200);
    let s = s.json()?;
    assert_eq!(s["user"]["username"], "ada");
    assert_eq!(s["user"]["email"], "ada@corp.example");
    assert_eq!(s["user"]["full_name"], "Ada Lovelace");
    assert_eq!(s["user"]["role"], "customer");
    assert_eq!(s["user"]["phone"], Value::Null);
    assert_eq!(s["user"]["organization"], Value::Null);
    assert_eq!(s["user"]["access"], "none");
    assert!(s["user"]["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(s["stage"], "needs_2fa_setup");
    assert_eq!(s["terms_version_accepted"], "2026-01");
    assert!(s["csrf_token"].as_str().is_some_and(|t| t.len() >= 32));

    // Stage rules: the profile needs the second factor; terms do not.
    let r = c.get("/api/profile").await?;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (401, "second_factor_setup_required")
    );
    let r = c
        .post_json("/api/terms/accept", &json!({ "version": "2026-01" }))
        .await?;
    assert_eq!((r.status, error_code(&r).as_str()), (403, "csrf_failed"));
    let r = send_csrf(
        &c,
        "POST",
        "/api/terms/accept",
        &json!({ "version": "2026-01" }),
    )
    .await?;
    assert_eq!(r.status, 204);

    // Sign-out needs the CSRF header too, then the session is gone server-side.
    let r = c.post_json("/api/auth/logout", &json!({})).await?;
    assert_eq!((r.status, error_code(&r).as_str()), (403, "csrf_failed"));
    let r = send_csrf(&c, "POST", "/api/auth/logout", &json!({})).await?;
    assert_eq!(r.status, 204);
    let r = c.get("/api/session").await?;
    assert_eq!((r.status, error_code(&r).as_str()), (401, "not_signed_in"));
    let replay = w.app.client();
    replay.set_cookie("edgedesk_session", &session_token);
    assert_eq!(replay.get("/api/session").await?.status, 401);

    // "Keep me logged in" gives a 30-day cookie.
    let r = c
        .post_json(
            "/api/auth/login",
            &json!({ "login": "ada", "password": PW, "remember_me": true }),
        )
        .await?;
    assert_eq!(r.status, 200);
    assert!(
        r.header("set-cookie")
            .unwrap_or("")
            .contains("Max-Age=2592000")
    );
    w.app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_used_and_expired_tokens_are_refused() -> anyhow::Result<()> {
    let w = start(&[]).await?;
    let c = w.app.client();
    for token in ["", "nope", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let r = c
            .post_json("/api/auth/confirm", &json!({ "token": token }))
            .await?;
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (400, "invalid_token"),
            "{token:?}"
        );
    }
    let r = c
        .post_json(
            "/api/auth/password/reset",
            &json!({ "token": "nope", "new_password": NEW_PW }),
        )
        .await?;
    assert_eq!((r.status, error_code(&r).as_str()), (400, "invalid_token"));

    // Expired: the confirmation link of a sign-up whose expiry has passed.
    c.post_json(
        "/api/auth/signup",
        &signup_body("ada@corp.example", Some("ada")),
    )
    .await?;
    let token = link_token(&w.mail(1).await?, "/confirm?token=");
    w.db()?
        .execute("UPDATE account_tokens SET expires_at = 1", &[])?;
    let r = c
        .post_json("/api/auth/confirm", &json!({ "token": token }))
        .await?;
    assert_eq!((r.status, error_code(&r).as_str()), (400, "invalid_token"));

    // The same for a reset link; a fresh one works once.
    w.db()?
        .execute("UPDATE users SET email_confirmed_at = 1", &[])?;
    c.post_json("/api/auth/password/forgot", &json!({ "login": "ada" }))
        .await?;
    let old = link_token(&w.mail(2).await?, "/reset-password?token=");
    w.db()?.execute(
        "UPDATE account_tokens SET expires_at = 1 WHERE purpose = 'reset'",
        &[],
    )?;
    let body = json!({ "token": old, "new_password": NEW_PW });
    let r = c.post_json("/api/auth/password/reset", &body).await?;
    assert_eq!(error_code(&r), "invalid_token");
    c.post_json("/api/auth/password/forgot", &json!({ "login": "ada" }))
        .await?;
    let fresh = link_token(&w.mail(3).await?, "/reset-password?token=");
    let body = json!({ "token": fresh, "new_password": NEW_PW });
    assert_eq!(
        c.post_json("/api/auth/password/reset", &body).await?.status,
        200
    );
    let r = w
        .app
        .client()
        .post_json("/api/auth/password/reset", &body)
        .await?;
    assert_eq!((r.status, error_code(&r).as_str()), (400, "invalid_token"));
    w.app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_do_not_tell_whether_an_account_exists() -> anyhow::Result<()> {
    let w = start(&[]).await?;
    confirmed_account(&w, "ada@corp.example", "ada", 1).await?;
    let c = w.app.client();

    // Sign-up with a registered address: same 202, a different mail.
    let new = c
        .post_json("/api/auth/signup", &signup_body("eve@corp.example", None))
        .await?;
    let taken = c
        .post_json("/api/auth/signup", &signup_body("ADA@corp.example", None))
        .await?;
    assert_eq!(
        (new.status, new.body.clone()),
        (taken.status, taken.body.clone())
    );
    let mails = w.relay.wait_for(3, Duration::from_secs(10)).await?;
    let subjects: Vec<&str> = mails
        .iter()
        .filter_map(|m| m.body["subject"].as_str())
        .collect();
    assert!(
        subjects.contains(&"You already have an account at EdgeDesk Service Desk"),
        "{subjects:?}"
    );

    // Unknown user and wrong password: the same answer, and both pay for a hash.
    let t = Instant::now();
    let unknown = login(&c, "nobody", "wrong-password-1").await?;
    let t_unknown = t.elapsed();
    let t = Instant::now();
    let wrong = login(&c, "ada", "wrong-password-1").await?;
    let t_wrong = t.elapsed();
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.body, wrong.body);
    eprintln!("sign-in: unknown user {t_unknown:?}, wrong password {t_wrong:?}");

    // Forgotten password / username: 202 either way, mail only for the real one.
    for (path, known, unknown) in [
        (
            "/api/auth/password/forgot",
            json!({"login": "ada"}),
            json!({"login": "nobody"}),
        ),
        (
            "/api/auth/username/forgot",
            json!({"email": "ada@corp.example"}),
            json!({"email": "nobody@corp.example"}),
        ),
    ] {
        let a = c.post_json(path, &known).await?;
        let b = c.post_json(path, &unknown).await?;
        assert_eq!((a.status, a.body.clone()), (202, b.body.clone()), "{path}");
        assert_eq!(b.status, 202);
    }
    let mails = w.relay.wait_for(5, Duration::from_secs(10)).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let to_nobody = w
        .relay
        .messages()
        .iter()
        .filter(|m| m.body["to"].to_string().contains("nobody"))
        .count();
    assert_eq!(to_nobody, 0);
    assert_eq!(mails.len(), 5);
    w.app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn password_change_ends_other_sessions_and_profile_edits() -> anyhow::Result<()> {
    let w = start(&[]).await?;
    confirmed_account(&w, "ada@corp.example", "ada", 1).await?;
    let (a, b) = (w.app.client(), w.app.client());
    assert_eq!(login(&a, "ada", PW).await?.status, 200);
    assert_eq!(login(&b, "ada", PW).await?.status, 200);
    w.promote_sessions("ada")?;

    let p = a.get("/api/profile").await?;
    assert_eq!(p.status, 200, "{}", p.text());
    assert_eq!(p.json()?["terms_version_accepted"], "2026-01");
    let r = send_csrf(
        &a,
        "PATCH",
        "/api/profile",
        &json!({"full_name": "Ada King", "phone": "+44 20 7946 0958"}),
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()?["phone"], "+442079460958");
    let r = send_csrf(&a, "PATCH", "/api/profile", &json!({"phone": "call me"})).await?;
    assert_eq!((r.status, error_field(&r).as_str()), (400, "phone"));
    assert_eq!(
        a.get("/api/session").await?.json()?["user"]["full_name"],
        "Ada King"
    );

    let wrong = json!({"current_password": "wrong-password-1", "new_password": NEW_PW});
    let r = send_csrf(&a, "POST", "/api/profile/password", &wrong).await?;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (401, "invalid_credentials")
    );
    let r = a
        .post_json(
            "/api/profile/password",
            &json!({"current_password": PW, "new_password": NEW_PW}),
        )
        .await?;
    assert_eq!((r.status, error_code(&r).as_str()), (403, "csrf_failed"));
    let change = json!({"current_password": PW, "new_password": NEW_PW});
    let r = send_csrf(&a, "POST", "/api/profile/password", &change).await?;
    assert_eq!(r.status, 204, "{}", r.text());

    assert_eq!(
        a.get("/api/session").await?.status,
        200,
        "this session stays"
    );
    assert_eq!(
        b.get("/api/session").await?.status,
        401,
        "the other one ended"
    );
    let c = w.app.client();
    assert_eq!(login(&c, "ada", PW).await?.status, 401);
    assert_eq!(login(&c, "ada", NEW_PW).await?.status, 200);
    w.app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn forgot_password_and_username_flows() -> anyhow::Result<()> {
    let w = start(&[]).await?;
    confirmed_account(&w, "ada@corp.example", "ada", 1).await?;
    let elsewhere = w.app.client();
    assert_eq!(login(&elsewhere, "ada", PW).await?.status, 200);

    let c = w.app.client();
    assert_eq!(
        c.post_json(
            "/api/auth/username/forgot",
            &json!({"email": "Ada@corp.example"})
        )
        .await?
        .status,
        202
    );
    let m = w.mail(2).await?;
    assert_eq!(m.body["subject"], "Your EdgeDesk Service Desk username");
    assert!(
        m.body["text"]
            .as_str()
            .unwrap_or("")
            .contains("Your username is: ada")
    );

    assert_eq!(
        c.post_json("/api/auth/password/forgot", &json!({"login": "ada"}))
            .await?
            .status,
        202
    );
    let m = w.mail(3).await?;
    assert_eq!(
        m.body["subject"],
        "Reset your EdgeDesk Service Desk password"
    );
    let token = link_token(&m, "http://127.0.0.1:3000/reset-password?token=");
    let weak = json!({"token": token, "new_password": "password1234"});
    let r = c.post_json("/api/auth/password/reset", &weak).await?;
    assert_eq!((r.status, error_field(&r).as_str()), (400, "new_password"));
    let r = c
        .post_json(
            "/api/auth/password/reset",
            &json!({"token": token, "new_password": NEW_PW}),
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()?["stage"],
        "needs_2fa_setup",
        "signed in, still owing the second factor"
    );
    assert_eq!(
        c.get("/api/session").await?.json()?["user"]["username"],
        "ada"
    );
    assert_eq!(
        elsewhere.get("/api/session").await?.status,
        401,
        "other sessions ended"
    );
    let fresh = w.app.client();
    assert_eq!(login(&fresh, "ada", PW).await?.status, 401);
    assert_eq!(login(&fresh, "ada", NEW_PW).await?.status, 200);
    w.app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_field_is_a_400_naming_it() -> anyhow::Result<()> {
    let w = start(&[]).await?;
    confirmed_account(&w, "ada@corp.example", "ada", 1).await?;
    let c = w.app.client();
    let ok = signup_body("new@corp.example", Some("newbie"));
    let with = |field: &str, value: Value| {
        let mut b = ok.clone();
        b[field] = value;
        b
    };
    let without = |field: &str| {
        let mut b = ok.clone();
        b.as_object_mut().map(|o| o.remove(field));
        b
    };
    let long = "x".repeat(300);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/api/auth/signup", without("email"), "email"),
        ("/api/auth/signup", with("email", json!(5)), "email"),
        (
            "/api/auth/signup",
            with("email", json!("not-an-email")),
            "email",
        ),
        (
            "/api/auth/signup",
            with("email", json!(format!("{long}@corp.example"))),
            "email",
        ),
        (
            "/api/auth/signup",
            with("email", json!("a\u{0}b@corp.example")),
            "email",
        ),
        ("/api/auth/signup", without("full_name"), "full_name"),
        (
            "/api/auth/signup",
            with("full_name", json!(["Ada"])),
            "full_name",
        ),
        (
            "/api/auth/signup",
            with("full_name", json!(long)),
            "full_name",
        ),
        (
            "/api/auth/signup",
            with("full_name", json!("Ada\u{1b}[31m")),
            "full_name",
        ),
        ("/api/auth/signup", without("password"), "password"),
        (
            "/api/auth/signup",
            with("password", json!(true)),
            "password",
        ),
        (
            "/api/auth/signup",
            with("password", json!("short")),
            "password",
        ),
        (
            "/api/auth/signup",
            with("password", json!(long)),
            "password",
        ),
        (
            "/api/auth/signup",
            with("password", json!("password1234")),
            "password",
        ),
        (
            "/api/auth/signup",
            with("password", json!("orbit-cactus\u{7}velvet")),
            "password",
        ),
        (
            "/api/auth/signup",
            with("username", json!("a b")),
            "username",
        ),
        ("/api/auth/signup", with("username", json!(7)), "username"),
        (
            "/api/auth/signup",
            with("username", json!(long)),
            "username",
        ),
        (
            "/api/auth/signup",
            without("accept_terms_version"),
            "accept_terms_version",
        ),
        (
            "/api/auth/signup",
            with("accept_terms_version", json!("2020-01")),
            "accept_terms_version",
        ),
        (
            "/api/auth/signup",
            with("is_admin", json!(true)),
            "is_admin",
        ),
        ("/api/auth/confirm", json!({}), "token"),
        ("/api/auth/confirm", json!({"token": 1}), "token"),
        ("/api/auth/login", json!({"password": PW}), "login"),
        ("/api/auth/login", json!({"login": "ada"}), "password"),
        (
            "/api/auth/login",
            json!({"login": long, "password": PW}),
            "login",
        ),
        (
            "/api/auth/login",
            json!({"login": "a\u{0}", "password": PW}),
            "login",
        ),
        (
            "/api/auth/login",
            json!({"login": "ada", "password": PW, "remember_me": "yes"}),
            "remember_me",
        ),
        ("/api/auth/password/forgot", json!({}), "login"),
        ("/api/auth/password/forgot", json!({"login": long}), "login"),
        (
            "/api/auth/password/reset",
            json!({"token": "x"}),
            "new_password",
        ),
        (
            "/api/auth/password/reset",
            json!({"new_password": NEW_PW}),
            "token",
        ),
        (
            "/api/auth/username/forgot",
            json!({"email": "nope"}),
            "email",
        ),
        ("/api/auth/username/forgot", json!({"email": null}), "email"),
    ];
    for (path, body, field) in cases {
        let r = c.post_json(path, &body).await?;
        assert_eq!(r.status, 400, "{path} {body}: {}", r.text());
        assert_eq!(error_field(&r), field, "{path} {body}: {}", r.text());
    }
    // Not JSON at all, and the wrong content type.
    let r = c
        .request(
            "POST",
            "/api/auth/login",
            &[("content-type", "application/json")],
            "{",
        )
        .await?;
    assert_eq!((r.status, error_code(&r).as_str()), (400, "invalid_json"));
    let r = c
        .request(
            "POST",
            "/api/auth/login",
            &[("content-type", "text/plain")],
            "{}",
        )
        .await?;
    assert_eq!(r.status, 415);
    let r = c
        .request(
            "POST",
            "/api/auth/signup",
            &[("content-type", "application/json")],
            vec![b'"', 0xff, b'"'],
        )
        .await?;
    assert_eq!(r.status, 400);

    // Profile fields, with a fully signed-in session.
    assert_eq!(login(&c, "ada", PW).await?.status, 200);
    w.promote_sessions("ada")?;
    for (body, field) in [
        (json!({"full_name": ""}), "full_name"),
        (json!({"full_name": long}), "full_name"),
        (json!({"full_name": 3}), "full_name"),
        (json!({"phone": "12"}), "phone"),
        (json!({"phone": false}), "phone"),
        (json!({"role": "admin"}), "role"),
    ] {
        let r = send_csrf(&c, "PATCH", "/api/profile", &body).await?;
        assert_eq!((r.status, error_field(&r).as_str()), (400, field), "{body}");
    }
    for (body, field) in [
        (json!({"new_password": NEW_PW}), "current_password"),
        (
            json!({"current_password": PW, "new_password": "short"}),
            "new_password",
        ),
        (
            json!({"current_password": PW, "new_password": "ada-orbit-cactus-velvet"}),
            "new_password",
        ),
    ] {
        let r = send_csrf(&c, "POST", "/api/profile/password", &body).await?;
        assert_eq!((r.status, error_field(&r).as_str()), (400, field), "{body}");
    }
    let r = send_csrf(&c, "POST", "/api/terms/accept", &json!({"version": "1999"})).await?;
    assert_eq!((r.status, error_field(&r).as_str()), (400, "version"));
    w.app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_answer_429_with_retry_after() -> anyhow::Result<()> {
    let w = start(&[]).await?;
    confirmed_account(&w, "ada@corp.example", "ada", 1).await?;
    let c = w.app.client();

    // Forgotten username: three per address per hour.
    let body = json!({"email": "someone@corp.example"});
    for _ in 0..3 {
        assert_eq!(
            c.post_json("/api/auth/username/forgot", &body)
                .await?
                .status,
            202
        );
    }
    let r = c.post_json("/api/auth/username/forgot", &body).await?;
    assert_eq!(r.status, 429);
    assert!(
        r.header("retry-after")
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|s| s > 0)
    );
    assert_eq!(error_code(&r), "too_many_requests");

    // Sign-in: from the fifth failure on, the next try must wait a moment.
    let mut failures = 0;
    let blocked = loop {
        let r = login(&c, "ada", "wrong-password-1").await?;
        if r.status == 429 {
            break r;
        }
        assert_eq!(r.status, 401, "{}", r.text());
        failures += 1;
        assert!(failures <= 8, "no delay after {failures} failures");
    };
    assert!(failures >= 5, "delayed after only {failures} failures");
    let wait: u64 = blocked
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=30).contains(&wait), "Retry-After {wait}");
    assert_eq!(blocked.json()?["error"]["retry_after_s"], wait);
    // After the delay the right password signs in.
    tokio::time::sleep(Duration::from_millis(wait * 1000 + 100)).await;
    assert_eq!(login(&c, "ada", PW).await?.status, 200);
    w.app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn invite_mode_closes_sign_up_and_admin_emails_get_admin() -> anyhow::Result<()> {
    let w = start(&[("signup_mode", "invite")]).await?;
    let c = w.app.client();
    assert_eq!(
        c.get("/api/auth/signup").await?.json()?["signup_mode"],
        "invite"
    );
    let r = c
        .post_json("/api/auth/signup", &signup_body("ada@corp.example", None))
        .await?;
    assert_eq!((r.status, error_code(&r).as_str()), (403, "signup_closed"));
    w.app.stop().await;

    let w = start(&[("admin_emails", "Boss@Corp.example, other@corp.example")]).await?;
    assert_eq!(
        w.app.client().get("/api/auth/signup").await?.json()?["signup_mode"],
        "open"
    );
    confirmed_account(&w, "boss@corp.example", "boss", 1).await?;
    let c = w.app.client();
    assert_eq!(login(&c, "boss", PW).await?.status, 200);
    assert_eq!(
        c.get("/api/session").await?.json()?["user"]["role"],
        "admin"
    );
    w.app.stop().await;
    Ok(())
}
