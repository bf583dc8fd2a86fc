//! Key rotation end to end through the real host, restarted with new key
//! variables on the same data dir (as an operator would redeploy):
//!
//! - data key: users with TOTP, backup codes and pending email codes keep
//!   every method working when `data_key` rotates (old one as
//!   `data_key_previous`); the admin re-seal moves what nobody used and says
//!   when the previous key is no longer needed; with it removed, every method
//!   still works;
//! - link key: a link signed before the rotation is valid while the old key is
//!   `link_key_previous` and refused once it is removed;
//! - upgrade: a TOTP secret stored in the pre-key-id format with `link_secret`
//!   (written here byte for byte as earlier versions did) still signs in, is
//!   re-sealed, and then needs no `link_secret`.
//!
//! (TOTP codes themselves are tested independently in twofactor.rs; here they
//! come from `edgedesk_twofactor::totp::code_at`.)

use std::net::SocketAddr;
use std::time::Duration;

use edgedesk_core::clock::SystemClock;
use edgedesk_core::keys::{LinkKeys, sign_link};
use edgedesk_core::native::NativeSql;
use edgedesk_core::random::OsRandom;
use edgedesk_core::second_factor::stage_after_password;
use edgedesk_core::session::{self, Stage};
use edgedesk_core::token::{keyed_hash_hex, sha256_hex};
use edgedesk_core::{Sql, params};
use edgedesk_e2e::{Client, MailCapture, TestResponse, app_manifest, ensure_built, json};
use edgedesk_host::{RunningApp, UpOptions};

/// The app on one data dir, booted again with other variables at will.
struct Desk {
    state: tempfile::TempDir,
    relay: MailCapture,
    app: Option<RunningApp>,
}

impl Desk {
    async fn new() -> anyhow::Result<Desk> {
        ensure_built(&app_manifest())?;
        Ok(Desk {
            state: tempfile::Builder::new()
                .prefix("edgedesk-keys-")
                .tempdir()?,
            relay: MailCapture::start().await?,
            app: None,
        })
    }

    /// (Re)starts the host with the mail relay and these key variables.
    async fn boot(&mut self, keys: &[(&str, &str)]) -> anyhow::Result<()> {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
        let mut env = vec![
            ("SPIN_VARIABLE_MAIL_TRANSPORT".to_owned(), "http".to_owned()),
            ("SPIN_VARIABLE_MAIL_RELAY_URL".to_owned(), self.relay.url()),
            (
                "SPIN_VARIABLE_MAIL_RELAY_ORIGIN".to_owned(),
                self.relay.origin(),
            ),
        ];
        for (k, v) in keys {
            env.push((
                format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()),
                (*v).to_owned(),
            ));
        }
        let mut up = UpOptions::new(app_manifest());
        up.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        up.state_dir = Some(self.state.path().to_path_buf());
        up.kick_interval = None;
        up.log_requests = false;
        up.env = Some(env.into_iter().collect());
        let app = edgedesk_host::start(up).await?;
        // Any component's first request migrates the database.
        edgedesk_host::server::kick(app.runtime()).await?;
        self.app = Some(app);
        Ok(())
    }

    fn client(&self) -> anyhow::Result<Client> {
        let app = self
            .app
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("stopped"))?;
        Ok(Client::new(app.addr()))
    }

    fn db(&self) -> anyhow::Result<NativeSql> {
        Ok(NativeSql::open(&self.state.path().join("sqlite_db.db"))?)
    }

    fn user(&self, name: &str, role: &str) -> anyhow::Result<String> {
        let id = format!("user-{name}");
        self.db()?.execute(
            "INSERT INTO users (id, username, email, full_name, password_hash, role, \
             email_confirmed_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'x', ?, 1, 1, 1)",
            params![
                id.as_str(),
                name,
                format!("{name}@example.com"),
                format!("{name} Example"),
                role
            ],
        )?;
        Ok(id)
    }

    /// A new browser signed in with its password (the stage sign-in would
    /// decide), or straight at `full` for the admin's console.
    fn sign_in(&self, user_id: &str, full: bool) -> anyhow::Result<Client> {
        let c = self.client()?;
        let db = self.db()?;
        let stage = if full {
            Stage::Full
        } else {
            stage_after_password(&db, &SystemClock, user_id, None)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .0
        };
        let (token, s) = session::create(&db, &SystemClock, &OsRandom, user_id, stage, false)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        c.set_cookie("edgedesk_session", &token);
        c.set_default_header("x-csrf-token", &s.csrf_token);
        Ok(c)
    }

    /// After a stage change the session's CSRF token is new.
    fn follow_rotation(&self, c: &Client) -> anyhow::Result<()> {
        let token = c.cookie("edgedesk_session").unwrap_or_default();
        let rows = self.db()?.execute(
            "SELECT csrf_token FROM sessions WHERE token_hash = ?",
            params![sha256_hex(&token)],
        )?;
        let row = rows.first().ok_or_else(|| anyhow::anyhow!("no session"))?;
        c.set_default_header("x-csrf-token", &row.text(0)?);
        Ok(())
    }

    /// The 6-digit code of the newest mail to `to` (at least `n` mails in all).
    async fn mailed_code(&self, to: &str, n: usize) -> anyhow::Result<String> {
        let app = self
            .app
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("stopped"))?;
        edgedesk_host::server::kick(app.runtime()).await?;
        let msgs = self.relay.wait_for(n, Duration::from_secs(10)).await?;
        let m = msgs
            .iter()
            .rev()
            .find(|m| m.body["to"][0] == to)
            .ok_or_else(|| anyhow::anyhow!("no mail to {to}"))?;
        let text = m.body["text"].as_str().unwrap_or("");
        text.split_whitespace()
            .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no code in the mail"))
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn totp_at(secret: &[u8], step: i64) -> String {
    edgedesk_twofactor::totp::code_at(secret, step)
}

fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut buf, mut bits) = (Vec::new(), 0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=') {
        let Some(v) = ALPHABET.iter().position(|x| *x == c) else {
            continue;
        };
        buf = (buf << 5) | v as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

/// A TOTP user: the secret and the last step the app accepted.
struct TotpUser {
    id: String,
    secret: Vec<u8>,
    last_step: i64,
}

impl TotpUser {
    /// A code the app must accept now: a step after the last one used, within
    /// one step of the clock (waits for the clock when needed).
    async fn next_code(&mut self) -> String {
        let step = (now() / 30).max(self.last_step + 1);
        while step > now() / 30 + 1 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        self.last_step = step;
        totp_at(&self.secret, step)
    }
}

fn error_code(r: &TestResponse) -> String {
    r.json()
        .ok()
        .and_then(|b| b["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Sets up TOTP for a fresh user (first method).
async fn with_totp(desk: &Desk, name: &str) -> anyhow::Result<(TotpUser, Client)> {
    let id = desk.user(name, "customer")?;
    let c = desk.sign_in(&id, false)?;
    let r = c.post_json("/api/2fa/totp/setup", &json!({})).await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let b32 = r.json()?["secret"].as_str().unwrap_or("").to_owned();
    let secret = base32_decode(&b32);
    assert_eq!(secret.len(), 20);
    let mut u = TotpUser {
        id,
        secret,
        last_step: 0,
    };
    let step = now() / 30;
    u.last_step = step;
    let r = c
        .post_json(
            "/api/2fa/totp/confirm",
            &json!({"code": totp_at(&u.secret, step)}),
        )
        .await?;
    assert_eq!(r.status, 204, "{}", r.text());
    desk.follow_rotation(&c)?;
    Ok((u, c))
}

async fn verify(c: &Client, method: &str, code: &str) -> anyhow::Result<TestResponse> {
    c.post_json("/api/2fa/verify", &json!({"method": method, "code": code}))
        .await
}

async fn assert_totp_signs_in(desk: &Desk, u: &mut TotpUser, when: &str) -> anyhow::Result<()> {
    let c = desk.sign_in(&u.id, false)?;
    let code = u.next_code().await;
    let r = verify(&c, "totp", &code).await?;
    assert_eq!(r.status, 200, "TOTP {when}: {}", r.text());
    Ok(())
}

/// A user with email codes configured and a sign-in code mailed but not used.
async fn with_pending_email_code(
    desk: &Desk,
    name: &str,
    mails: &mut usize,
) -> anyhow::Result<(String, String)> {
    let id = desk.user(name, "customer")?;
    let addr = format!("{name}@example.com");
    let c = desk.sign_in(&id, false)?;
    let r = c.post_json("/api/2fa/email/setup", &json!({})).await?;
    assert_eq!(r.status, 202, "{}", r.text());
    *mails += 1;
    let setup = desk.mailed_code(&addr, *mails).await?;
    let r = c
        .post_json("/api/2fa/email/confirm", &json!({"code": setup}))
        .await?;
    assert_eq!(r.status, 204, "{}", r.text());
    let login = desk.sign_in(&id, false)?;
    let r = login
        .post_json("/api/2fa/challenge", &json!({"method": "email_otp"}))
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    *mails += 1;
    let code = desk.mailed_code(&addr, *mails).await?;
    Ok((id, code))
}

async fn assert_email_code_signs_in(
    desk: &Desk,
    user: &str,
    code: &str,
    when: &str,
) -> anyhow::Result<()> {
    let c = desk.sign_in(user, false)?;
    let r = verify(&c, "email_otp", code).await?;
    assert_eq!(r.status, 200, "email code {when}: {}", r.text());
    Ok(())
}

async fn reseal_all(admin: &Client) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut answers = Vec::new();
    for _ in 0..50 {
        let r = admin
            .request("POST", "/api/admin/keys/reseal?batch=4", &[], Vec::new())
            .await?;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json()?;
        let done = v["remaining"] == 0;
        answers.push(v);
        if done {
            return Ok(answers);
        }
    }
    anyhow::bail!("re-seal did not finish: {answers:?}")
}

const A: &str = "data-key-A-0123456789abcdefghijklmnop";
const B: &str = "data-key-B-0123456789abcdefghijklmnop";
const L1: &str = "link-key-1-0123456789abcdefghijklmnop";
const L2: &str = "link-key-2-0123456789abcdefghijklmnop";

#[tokio::test(flavor = "multi_thread")]
async fn rotating_the_data_key_keeps_every_method_and_reseal_frees_the_previous_key()
-> anyhow::Result<()> {
    let mut desk = Desk::new().await?;
    desk.boot(&[("data_key", A), ("link_key", L1)]).await?;
    let admin_id = desk.user("ada", "admin")?;
    let mut mails = 0;

    // Before the rotation, all under A: TOTP (tara checks in at each phase,
    // theo only at the end, so the batch re-seals his), backup codes, and two
    // pending email codes (eve's used after the rotation, eli's at the end).
    let (mut tara, tara_c) = with_totp(&desk, "tara").await?;
    let r = tara_c
        .post_json("/api/2fa/backup-codes", &json!({}))
        .await?;
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
    let (mut theo, _) = with_totp(&desk, "theo").await?;
    let (eve, eve_code) = with_pending_email_code(&desk, "eve", &mut mails).await?;
    let (eli, eli_code) = with_pending_email_code(&desk, "eli", &mut mails).await?;
    let link = sign_link(
        &LinkKeys::new(L1.as_bytes(), None),
        "approve",
        "access-request-42",
        now() + 3600,
    );
    let admin = desk.sign_in(&admin_id, true)?;
    let r = admin
        .post_json(
            "/api/admin/keys/check-link",
            &json!({"purpose": "approve", "token": link}),
        )
        .await?;
    assert_eq!(r.json()?["valid"], true, "{}", r.text());
    let before = admin.get("/api/admin/keys").await?.json()?;
    assert_eq!(before["remaining"], 0, "{before}");
    let a_id = before["current_key_id"].clone();

    // Rotate both keys, the old ones kept as previous.
    desk.boot(&[
        ("data_key", B),
        ("data_key_previous", A),
        ("link_key", L2),
        ("link_key_previous", L1),
    ])
    .await?;
    assert_totp_signs_in(&desk, &mut tara, "after the rotation").await?;
    let c = desk.sign_in(&tara.id, false)?;
    let r = verify(&c, "backup_codes", &codes[0]).await?;
    assert_eq!(
        r.status,
        200,
        "backup code after the rotation: {}",
        r.text()
    );
    assert_email_code_signs_in(&desk, &eve, &eve_code, "after the rotation").await?;
    let admin = desk.sign_in(&admin_id, true)?;
    let r = admin
        .post_json(
            "/api/admin/keys/check-link",
            &json!({"purpose": "approve", "token": link}),
        )
        .await?;
    let v = r.json()?;
    assert_eq!(v["valid"], true, "old link with the previous key kept: {v}");
    assert_eq!(v["subject"], "access-request-42");

    // Only admins manage keys; a customer is told nothing exists (404, like
    // every /api/admin route).
    let tara_full = desk.sign_in(&tara.id, true)?;
    let r = tara_full.get("/api/admin/keys").await?;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = tara_full
        .request("POST", "/api/admin/keys/reseal", &[], Vec::new())
        .await?;
    assert_eq!(r.status, 404);

    // What sign-in did not re-seal, the batch does: theo's secret, eli's
    // code (tara's secret and her 14 codes were re-sealed when she used them).
    let status = admin.get("/api/admin/keys").await?.json()?;
    assert_ne!(status["current_key_id"], a_id);
    assert_eq!(status["previous_key_id"], a_id);
    assert_eq!(status["previous_key_needed"], true, "{status}");
    assert_eq!(status["remaining"], 2, "{status}");
    let answers = reseal_all(&admin).await?;
    let last = answers.last().cloned().unwrap_or_default();
    assert_eq!(last["previous_key_needed"], false, "{last}");
    assert_eq!(last["unreadable"], 0, "{last}");
    let moved: i64 = answers.iter().filter_map(|a| a["resealed"].as_i64()).sum();
    assert_eq!(moved, 2, "{answers:?}");
    let r = admin
        .request("POST", "/api/admin/keys/reseal?batch=0", &[], Vec::new())
        .await?;
    assert_eq!((r.status, error_code(&r).as_str()), (400, "invalid_batch"));

    // Remove the previous keys: every method still works, old links do not.
    desk.boot(&[("data_key", B), ("link_key", L2)]).await?;
    assert_totp_signs_in(&desk, &mut theo, "after removing the previous key").await?;
    assert_totp_signs_in(&desk, &mut tara, "after removing the previous key").await?;
    let c = desk.sign_in(&tara.id, false)?;
    let r = verify(&c, "backup_codes", &codes[1]).await?;
    assert_eq!(r.status, 200, "backup code at the end: {}", r.text());
    let r = verify(&desk.sign_in(&tara.id, false)?, "backup_codes", &codes[0]).await?;
    assert_eq!((r.status, error_code(&r).as_str()), (401, "invalid_code"));
    assert_email_code_signs_in(&desk, &eli, &eli_code, "after removing the previous key").await?;
    // A fresh email code works too (and eve's used one does not).
    let c = desk.sign_in(&eve, false)?;
    let r = verify(&c, "email_otp", &eve_code).await?;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = c
        .post_json("/api/2fa/challenge", &json!({"method": "email_otp"}))
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    mails += 1;
    let fresh = desk.mailed_code("eve@example.com", mails).await?;
    let r = verify(&c, "email_otp", &fresh).await?;
    assert_eq!(r.status, 200, "{}", r.text());

    let admin = desk.sign_in(&admin_id, true)?;
    let r = admin
        .post_json(
            "/api/admin/keys/check-link",
            &json!({"purpose": "approve", "token": link}),
        )
        .await?;
    let v = r.json()?;
    assert_eq!(
        (v["valid"].clone(), v["reason"].clone()),
        (json!(false), json!("unknown_key")),
        "old link once its key is removed: {v}"
    );
    let new_link = sign_link(
        &LinkKeys::new(L2.as_bytes(), None),
        "approve",
        "access-request-43",
        now() + 3600,
    );
    let r = admin
        .post_json(
            "/api/admin/keys/check-link",
            &json!({"purpose": "approve", "token": new_link}),
        )
        .await?;
    assert_eq!(r.json()?["valid"], true);
    let status = admin.get("/api/admin/keys").await?.json()?;
    assert_eq!(
        (status["remaining"].clone(), status["unreadable"].clone()),
        (json!(0), json!(0)),
        "{status}"
    );
    Ok(())
}

/// The TOTP seal of earlier versions: `nonce(16) || secret XOR
/// HMAC(link_secret, "twofactor/totp-seal", user, hex(nonce))`.
fn legacy_sealed_secret(link_secret: &str, user: &str, secret: &[u8]) -> Vec<u8> {
    let nonce = [9u8; 16];
    let nonce_hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let pad_hex = keyed_hash_hex(
        link_secret.as_bytes(),
        &["twofactor/totp-seal", user, &nonce_hex],
    );
    let pad: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&pad_hex[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    let mut out = nonce.to_vec();
    out.extend(secret.iter().zip(&pad).map(|(s, p)| s ^ p));
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgraded_install_reads_legacy_secrets_and_reseal_frees_the_link_secret()
-> anyhow::Result<()> {
    const SECRET: &str = "the-old-link-secret-of-this-install";
    let mut desk = Desk::new().await?;
    desk.boot(&[("link_secret", SECRET)]).await?;
    // A user whose TOTP secret an earlier version sealed.
    let id = desk.user("olga", "customer")?;
    let admin_id = desk.user("ada", "admin")?;
    let secret = b"olga's 20-byte seed!".to_vec();
    let db = desk.db()?;
    db.execute(
        "INSERT INTO twofactor_totp (user_id, secret, last_step) VALUES (?1, ?2, 0)",
        params![id.as_str(), legacy_sealed_secret(SECRET, &id, &secret)],
    )?;
    db.execute(
        "INSERT INTO twofactor_methods (user_id, kind, is_primary, created_at) VALUES (?1, 'totp', 1, 1)",
        params![id.as_str()],
    )?;
    let mut olga = TotpUser {
        id: id.clone(),
        secret,
        last_step: 0,
    };
    // The upgrade sets the new data key and keeps link_secret.
    desk.boot(&[("link_secret", SECRET), ("data_key", B)])
        .await?;
    let admin = desk.sign_in(&admin_id, true)?;
    let status = admin.get("/api/admin/keys").await?.json()?;
    assert_eq!(status["keys"][0]["role"], "legacy", "{status}");
    assert_eq!(status["link_secret_needed"], true);
    assert_totp_signs_in(&desk, &mut olga, "after the upgrade").await?;
    let answers = reseal_all(&admin).await?;
    let last = answers.last().cloned().unwrap_or_default();
    assert_eq!(last["link_secret_needed"], false, "{last}");
    // Without link_secret (and off its localhost fallback: a data key is set),
    // olga still signs in.
    desk.boot(&[("data_key", B)]).await?;
    assert_totp_signs_in(&desk, &mut olga, "without link_secret").await?;
    Ok(())
}

/// Budget: re-sealing 100,000 TOTP secrets through the host takes under a
/// minute. `cargo test --release -p edgedesk-e2e --test e2e -- --ignored --nocapture reseal_of_100k`
#[tokio::test(flavor = "multi_thread")]
#[ignore = "timing; run in release"]
async fn reseal_of_100k_secrets_through_the_host_takes_under_a_minute() -> anyhow::Result<()> {
    use edgedesk_core::keys::DataKeys;
    const N: usize = 100_000;
    let mut desk = Desk::new().await?;
    desk.boot(&[("data_key", A)]).await?;
    let admin_id = desk.user("ada", "admin")?;
    // 100,000 secrets sealed with A, as the app would have sealed them.
    let a = DataKeys::new(A.as_bytes(), None);
    let db = desk.db()?;
    db.execute("BEGIN", &[])?;
    for i in 0..N {
        let user = format!("bulk-{i:06}");
        let sealed = a.seal(&OsRandom, "twofactor/totp-secret", &user, &[7u8; 20]);
        db.execute(
            "INSERT INTO twofactor_totp (user_id, secret, last_step) VALUES (?1, ?2, 0)",
            params![user.as_str(), sealed.into_bytes()],
        )?;
    }
    db.execute("COMMIT", &[])?;
    desk.boot(&[("data_key", B), ("data_key_previous", A)])
        .await?;
    let admin = desk.sign_in(&admin_id, true)?;
    let start = std::time::Instant::now();
    let mut calls = 0;
    loop {
        let r = admin
            .request(
                "POST",
                "/api/admin/keys/reseal?batch=10000",
                &[],
                Vec::new(),
            )
            .await?;
        assert_eq!(r.status, 200, "{}", r.text());
        calls += 1;
        let v = r.json()?;
        if v["remaining"] == 0 {
            assert_eq!(v["previous_key_needed"], false, "{v}");
            break;
        }
        assert!(calls < 20, "{v}");
    }
    let took = start.elapsed();
    println!(
        "re-sealed {N} TOTP secrets in {calls} calls of 10,000: {:.1} s ({:.1} µs per secret)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / N as f64
    );
    assert!(took < Duration::from_secs(60), "{took:?}");
    Ok(())
}
