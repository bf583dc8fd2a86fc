//! The second factor end to end through the real host: every method's setup and
//! sign-in, TOTP codes computed here independently (RFC 6238 with a SHA-1 of our
//! own), replay refused, email codes read from the captured mail and their
//! resend limit, each backup code once, two of three security questions,
//! lockout after three failures with its mail, trusted devices, and the session
//! stage rules.
//!
//! Sessions are made straight in the app's database (as `auth` makes them at
//! sign-in, with `core::second_factor::stage_after_password` deciding the stage),
//! so these flows do not depend on the sign-in pages.

use std::time::Duration;

use edgedesk_core::clock::SystemClock;
use edgedesk_core::native::NativeSql;
use edgedesk_core::random::OsRandom;
use edgedesk_core::second_factor::stage_after_password;
use edgedesk_core::session::{self, Stage};
use edgedesk_core::token::sha256_hex;
use edgedesk_core::{Sql, params};
use edgedesk_e2e::{Client, MailCapture, TestApp, TestOptions, TestResponse, app_manifest, json};

// ------------------------------------------------------------ RFC 6238 here

/// SHA-1 (FIPS 180-4), written out so the test does not share code with the app.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64) * 8;
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                chunk[4 * i],
                chunk[4 * i + 1],
                chunk[4 * i + 2],
                chunk[4 * i + 3],
            ]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key); // keys here are 20 bytes
    let inner: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(msg.iter().copied())
        .collect();
    let ih = sha1(&inner);
    let outer: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(ih.iter().copied())
        .collect();
    sha1(&outer)
}

fn totp(secret: &[u8], unix: i64) -> String {
    let mac = hmac_sha1(secret, &((unix / 30) as u64).to_be_bytes());
    let off = (mac[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([mac[off] & 0x7f, mac[off + 1], mac[off + 2], mac[off + 3]]);
    format!("{:06}", bin % 1_000_000)
}

fn base32_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut buf, mut bits) = (Vec::new(), 0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = A.iter().position(|x| *x == c).expect("base32 letter") as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[test]
fn our_totp_matches_the_rfc_6238_vectors() {
    assert_eq!(totp(b"12345678901234567890", 59), "287082");
    assert_eq!(totp(b"12345678901234567890", 1_111_111_109), "081804");
    assert_eq!(totp(b"12345678901234567890", 2_000_000_000), "279037");
    assert_eq!(base32_decode("GEZDGNBVGY3TQOJQ"), b"1234567890");
}

// ------------------------------------------------------------------ helpers

struct Env {
    app: TestApp,
    relay: MailCapture,
}

impl Env {
    async fn start() -> anyhow::Result<Env> {
        let relay = MailCapture::start().await?;
        let opts = TestOptions::new(app_manifest())
            .var("mail_transport", "http")
            .var("mail_relay_url", &relay.url())
            .var("mail_relay_origin", &relay.origin())
            .var("portal_name", "Acme Help")
            .var("link_secret", "e2e-link-secret");
        let app = TestApp::start_with(opts).await?;
        // Any component's first request migrates the database.
        assert_eq!(app.kick().await?, 200);
        Ok(Env { app, relay })
    }

    fn db(&self) -> anyhow::Result<NativeSql> {
        Ok(NativeSql::open(&self.app.state_dir().join("sqlite_db.db"))?)
    }

    /// A confirmed user, straight in the database.
    fn user(&self, name: &str) -> anyhow::Result<String> {
        let id = format!("user-{name}");
        self.db()?.execute(
            "INSERT INTO users (id, username, email, full_name, password_hash, email_confirmed_at, created_at, updated_at) \
             VALUES (?, ?, ?, ?, 'x', 1, 1, 1)",
            params![id.as_str(), name, format!("{name}@example.com"), format!("{name} Example")],
        )?;
        Ok(id)
    }

    /// A browser signed in with its password: the stage is what sign-in would
    /// decide (`stage_after_password`), with the browser's device cookie.
    fn sign_in(&self, client: &Client, user_id: &str) -> anyhow::Result<Stage> {
        let db = self.db()?;
        let device = client.cookie("edgedesk_device");
        let (stage, _) = stage_after_password(&db, &SystemClock, user_id, device.as_deref())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let (token, s) = session::create(&db, &SystemClock, &OsRandom, user_id, stage, false)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        client.set_cookie("edgedesk_session", &token);
        client.set_default_header("x-csrf-token", &s.csrf_token);
        Ok(stage)
    }

    /// After a stage change the session token and CSRF token are new.
    fn follow_rotation(&self, client: &Client) -> anyhow::Result<Stage> {
        let token = client.cookie("edgedesk_session").unwrap_or_default();
        let rows = self.db()?.execute(
            "SELECT csrf_token, stage FROM sessions WHERE token_hash = ?",
            params![sha256_hex(&token)],
        )?;
        let row = rows.first().ok_or_else(|| anyhow::anyhow!("no session"))?;
        client.set_default_header("x-csrf-token", &row.text(0)?);
        Stage::parse(&row.text(1)?).ok_or_else(|| anyhow::anyhow!("bad stage"))
    }

    /// The 6-digit code of the newest captured mail to `to`.
    async fn mailed_code(&self, to: &str, nth: usize) -> anyhow::Result<String> {
        self.app.kick().await?;
        let msgs = self.relay.wait_for(nth, Duration::from_secs(10)).await?;
        let m = msgs
            .iter()
            .rev()
            .find(|m| m.body["to"][0] == to)
            .ok_or_else(|| anyhow::anyhow!("no mail to {to}"))?;
        let text = m.body["text"].as_str().unwrap_or("");
        text.split_whitespace()
            .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no code in {text}"))
    }
}

fn code(r: &TestResponse) -> String {
    r.json()
        .ok()
        .and_then(|b| b["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn post(c: &Client, path: &str, body: serde_json::Value) -> anyhow::Result<TestResponse> {
    c.post_json(path, &body).await
}

// -------------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread")]
async fn totp_setup_and_sign_in_with_independent_codes_refuses_replay() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let user = env.user("tina")?;
    let c = env.app.client();
    assert_eq!(env.sign_in(&c, &user)?, Stage::Needs2faSetup);

    // Before any method: setup routes only.
    let r = c.get("/api/2fa/devices").await?;
    assert_eq!(
        (r.status, code(&r).as_str()),
        (401, "second_factor_setup_required")
    );
    let r = post(
        &c,
        "/api/2fa/verify",
        json!({"method": "totp", "code": "123456"}),
    )
    .await?;
    assert_eq!(
        (r.status, code(&r).as_str()),
        (401, "second_factor_setup_required")
    );

    let r = post(&c, "/api/2fa/totp/setup", json!({})).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let setup = r.json()?;
    let b32 = setup["secret"].as_str().unwrap_or_default().to_owned();
    let uri = setup["otpauth_uri"].as_str().unwrap_or_default();
    assert!(
        uri.starts_with("otpauth://totp/Acme%20Help:tina?secret="),
        "{uri}"
    );
    assert!(uri.contains("issuer=Acme%20Help"));
    assert!(
        setup["qr_svg"]
            .as_str()
            .unwrap_or_default()
            .contains("<svg")
    );
    let secret = base32_decode(&b32);
    assert_eq!(secret.len(), 20);

    for bad in ["12345", "abcdef", "1234567"] {
        let r = post(&c, "/api/2fa/totp/confirm", json!({"code": bad})).await?;
        assert_eq!(
            (r.status, code(&r).as_str()),
            (400, "invalid_code"),
            "{bad}"
        );
    }
    let t = now();
    let r = post(
        &c,
        "/api/2fa/totp/confirm",
        json!({"code": totp(&secret, t)}),
    )
    .await?;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("x-session-changed"), Some("1"));
    assert_eq!(env.follow_rotation(&c)?, Stage::Full);
    // The secret is never shown again.
    let overview = c.get("/api/2fa").await?.json()?;
    assert!(!overview.to_string().contains(&b32));
    assert_eq!(overview["methods"][0]["kind"], "totp");
    assert_eq!(overview["methods"][0]["primary"], true);

    // Sign in again: the second factor is owed, nothing else works.
    let c2 = env.app.client();
    assert_eq!(env.sign_in(&c2, &user)?, Stage::PasswordOk);
    for (m, p) in [
        ("GET", "/api/2fa/devices"),
        ("POST", "/api/2fa/totp/setup"),
        ("POST", "/api/2fa/backup-codes"),
    ] {
        let r = c2
            .request(m, p, &[("content-type", "application/json")], "{}")
            .await?;
        assert_eq!(
            (r.status, code(&r).as_str()),
            (401, "second_factor_required"),
            "{m} {p}"
        );
    }
    // The code used at setup cannot be replayed; the next step's code works.
    let r = post(
        &c2,
        "/api/2fa/verify",
        json!({"method": "totp", "code": totp(&secret, t)}),
    )
    .await?;
    assert_eq!((r.status, code(&r).as_str()), (401, "invalid_code"));
    assert_eq!(r.json()?["error"]["attempts_left"], 2);
    let next = totp(&secret, t + 30);
    let r = post(
        &c2,
        "/api/2fa/verify",
        json!({"method": "totp", "code": next}),
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()?["stage"], "full");
    assert_eq!(env.follow_rotation(&c2)?, Stage::Full);

    // Replaying that code in another sign-in is refused.
    let c3 = env.app.client();
    env.sign_in(&c3, &user)?;
    let r = post(
        &c3,
        "/api/2fa/verify",
        json!({"method": "totp", "code": next}),
    )
    .await?;
    assert_eq!((r.status, code(&r).as_str()), (401, "invalid_code"));

    // The last method cannot be removed.
    let r = c2.delete("/api/2fa/methods/totp").await?;
    assert_eq!((r.status, code(&r).as_str()), (409, "last_method"));
    env.app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn email_codes_and_backup_codes_work_once_with_a_resend_limit() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let user = env.user("emil")?;
    let c = env.app.client();
    env.sign_in(&c, &user)?;

    let r = post(&c, "/api/2fa/email/setup", json!({})).await?;
    assert_eq!(r.status, 202, "{}", r.text());
    let setup_code = env.mailed_code("emil@example.com", 1).await?;
    let r = post(&c, "/api/2fa/email/setup", json!({})).await?;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    let r = post(&c, "/api/2fa/email/confirm", json!({"code": setup_code})).await?;
    assert_eq!(r.status, 204, "{}", r.text());
    env.follow_rotation(&c)?;

    // Backup method: 15 codes, shown once.
    let r = post(&c, "/api/2fa/backup-codes", json!({})).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let codes: Vec<String> = r.json()?["codes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(codes.len(), 15);
    let o = c.get("/api/2fa").await?.json()?;
    assert_eq!(o["backup_codes_left"], 15);
    assert_eq!(o["backup_method"], "backup_codes");

    // Sign-in with an emailed code; the resend is limited.
    let c2 = env.app.client();
    assert_eq!(env.sign_in(&c2, &user)?, Stage::PasswordOk);
    let r = post(&c2, "/api/2fa/challenge", json!({"method": "email_otp"})).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let login_code = env.mailed_code("emil@example.com", 2).await?;
    let r = post(&c2, "/api/2fa/resend", json!({})).await?;
    assert_eq!(r.status, 429);
    let r = post(
        &c2,
        "/api/2fa/verify",
        json!({"method": "email_otp", "code": login_code}),
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    // Used once: the same code fails in another sign-in.
    let c3 = env.app.client();
    env.sign_in(&c3, &user)?;
    let r = post(
        &c3,
        "/api/2fa/verify",
        json!({"method": "email_otp", "code": login_code}),
    )
    .await?;
    assert_eq!((r.status, code(&r).as_str()), (401, "invalid_code"));

    // Each backup code works once (the failure above is forgotten after a success).
    let r = post(
        &c3,
        "/api/2fa/verify",
        json!({"method": "backup_codes", "code": codes[0].to_lowercase()}),
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let c4 = env.app.client();
    env.sign_in(&c4, &user)?;
    let r = post(
        &c4,
        "/api/2fa/verify",
        json!({"method": "backup_codes", "code": codes[0]}),
    )
    .await?;
    assert_eq!((r.status, code(&r).as_str()), (401, "invalid_code"));
    let r = post(
        &c4,
        "/api/2fa/verify",
        json!({"method": "backup_codes", "code": "not-a-code!"}),
    )
    .await?;
    assert_eq!((r.status, code(&r).as_str()), (400, "invalid_code"));
    let r = post(
        &c4,
        "/api/2fa/verify",
        json!({"method": "backup_codes", "code": codes[1]}),
    )
    .await?;
    assert_eq!(r.status, 200);
    env.follow_rotation(&c4)?;
    assert_eq!(c4.get("/api/2fa").await?.json()?["backup_codes_left"], 13);
    env.app.stop().await;
    Ok(())
}

/// Asks for the security questions and answers both wrongly.
async fn answer_questions_wrongly(c: &Client) -> anyhow::Result<TestResponse> {
    let asked = post(
        c,
        "/api/2fa/challenge",
        json!({"method": "security_questions"}),
    )
    .await?
    .json()?;
    let wrong: Vec<_> = asked["questions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|q| json!({"question_id": q["id"], "answer": "wrong"}))
        .collect();
    post(
        c,
        "/api/2fa/verify",
        json!({"method": "security_questions", "answers": wrong}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn two_of_three_questions_are_asked_and_three_failures_lock_the_account() -> anyhow::Result<()>
{
    let env = Env::start().await?;
    let user = env.user("quinn")?;
    let c = env.app.client();
    env.sign_in(&c, &user)?;
    let catalog = c.get("/api/2fa/questions/catalog").await?.json()?;
    assert!(catalog["questions"].as_array().map_or(0, Vec::len) >= 10);
    let custom = "Name of the hill behind grandma's house?";
    let r = post(
        &c,
        "/api/2fa/questions",
        json!({"answers": [
            {"question_id": "first_pet", "answer": "Rex"},
            {"question_id": "first_car", "answer": "Fiat  Panda"},
            {"custom_question": custom, "answer": "Kahlenberg"}
        ]}),
    )
    .await?;
    assert_eq!(r.status, 204, "{}", r.text());
    let right = |id: &str| match id {
        "first_pet" => " rex ",
        "first_car" => "FIAT PANDA",
        _ => "kahlenberg",
    };

    let c2 = env.app.client();
    env.sign_in(&c2, &user)?;
    let asked = post(
        &c2,
        "/api/2fa/challenge",
        json!({"method": "security_questions"}),
    )
    .await?
    .json()?;
    let qs = asked["questions"].as_array().cloned().unwrap_or_default();
    assert_eq!(qs.len(), 2);
    for q in &qs {
        if q["id"] == "custom" {
            assert_eq!(q["text"], custom);
        }
    }
    let answers: Vec<_> = qs
        .iter()
        .map(|q| json!({"question_id": q["id"], "answer": right(q["id"].as_str().unwrap_or(""))}))
        .collect();
    let r = post(
        &c2,
        "/api/2fa/verify",
        json!({"method": "security_questions", "answers": answers}),
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.text());

    // Three wrong answers in a row: 401, 401, then 423 and a mail.
    let c3 = env.app.client();
    env.sign_in(&c3, &user)?;
    for left in [2, 1] {
        let r = answer_questions_wrongly(&c3).await?;
        assert_eq!((r.status, code(&r).as_str()), (401, "invalid_code"));
        assert_eq!(r.json()?["error"]["attempts_left"], left);
    }
    let r = post(
        &c3,
        "/api/2fa/verify",
        json!({"method": "backup_codes", "code": "AAAAA-AAAAA"}),
    )
    .await?;
    assert_eq!(
        (r.status, code(&r).as_str()),
        (409, "method_not_configured")
    );
    let r = answer_questions_wrongly(&c3).await?;
    assert_eq!((r.status, code(&r).as_str()), (423, "account_locked"));
    let retry = r.json()?["error"]["retry_after_s"].as_i64().unwrap_or(0);
    // 15 minutes; whole-second clocks read in two places may add one second.
    assert!((890..=901).contains(&retry), "{retry}");
    // The half-finished sign-in is over; a new one is refused while locked.
    let r = post(
        &c3,
        "/api/2fa/challenge",
        json!({"method": "security_questions"}),
    )
    .await?;
    assert_eq!(r.status, 401);
    let c4 = env.app.client();
    env.sign_in(&c4, &user)?;
    let r = post(
        &c4,
        "/api/2fa/challenge",
        json!({"method": "security_questions"}),
    )
    .await?;
    assert_eq!((r.status, code(&r).as_str()), (423, "account_locked"));
    env.app.kick().await?;
    let msgs = env.relay.wait_for(1, Duration::from_secs(10)).await?;
    let lock_mail = msgs
        .iter()
        .find(|m| m.body["subject"].as_str().unwrap_or("").contains("locked"))
        .expect("lockout mail");
    assert_eq!(lock_mail.body["to"][0], "quinn@example.com");
    assert!(
        lock_mail.body["text"]
            .as_str()
            .unwrap_or("")
            .contains("/forgot-password")
    );
    env.app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn trusted_device_skips_the_challenge_until_removed_and_changes_need_a_fresh_check()
-> anyhow::Result<()> {
    let env = Env::start().await?;
    let user = env.user("dora")?;
    let c = env.app.client();
    env.sign_in(&c, &user)?;
    let codes = post(&c, "/api/2fa/backup-codes", json!({})).await?.json()?;
    let codes: Vec<String> = codes["codes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    env.follow_rotation(&c)?;

    let b = env.app.client();
    assert_eq!(env.sign_in(&b, &user)?, Stage::PasswordOk);
    let r = post(
        &b,
        "/api/2fa/verify",
        json!({"method": "backup_codes", "code": codes[0], "remember_device": true}),
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let device = b.cookie("edgedesk_device").expect("device cookie");
    env.follow_rotation(&b)?;
    let list = b.get("/api/2fa/devices").await?.json()?;
    assert_eq!(list["items"].as_array().map_or(0, Vec::len), 1);
    assert_eq!(list["items"][0]["current"], true);
    let device_id = list["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(device.starts_with(&format!("{device_id}.")));

    // The same browser signs in again: no challenge.
    let b2 = env.app.client();
    b2.set_cookie("edgedesk_device", &device);
    assert_eq!(env.sign_in(&b2, &user)?, Stage::Full);
    // That session never checked a second factor: changes need one first.
    let r = post(&b2, "/api/2fa/backup-codes", json!({})).await?;
    assert_eq!((r.status, code(&r).as_str()), (401, "reauth_required"));
    let r = b2.delete(&format!("/api/2fa/devices/{device_id}")).await?;
    assert_eq!((r.status, code(&r).as_str()), (401, "reauth_required"));
    let r = post(
        &b2,
        "/api/2fa/verify",
        json!({"method": "backup_codes", "code": codes[1]}),
    )
    .await?;
    assert_eq!(r.status, 200);
    env.follow_rotation(&b2)?;
    let r = b2.delete(&format!("/api/2fa/devices/{device_id}")).await?;
    assert_eq!(r.status, 204, "{}", r.text());

    // Removed: the challenge is back.
    let b3 = env.app.client();
    b3.set_cookie("edgedesk_device", &device);
    assert_eq!(env.sign_in(&b3, &user)?, Stage::PasswordOk);
    env.app.stop().await;
    Ok(())
}
