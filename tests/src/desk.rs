//! People for the desk's journeys: a running app with a mail relay, and signed-in
//! customers and operators made through the real sign-up, confirmation and
//! sign-in routes.
//!
//! The second factor is the one shortcut: a fresh account's session is moved
//! to stage `full` in the database, as passing the second factor would (the
//! two-factor journeys test that step itself).

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::{CapturedMail, Client, MailCapture, TestApp, TestOptions, app_manifest, json};

/// A password zxcvbn scores as strong.
pub const PASSWORD: &str = "orbit-cactus-velvet-42";

/// The app with mail going to a capture relay.
pub struct Desk {
    pub relay: MailCapture,
    pub app: TestApp,
}

/// A signed-in person: their client sends the session cookie and CSRF token.
pub struct Person {
    pub client: Client,
    pub id: String,
    pub username: String,
    pub email: String,
    pub full_name: String,
}

impl Desk {
    pub async fn start(vars: &[(&str, &str)]) -> anyhow::Result<Desk> {
        let relay = MailCapture::start().await?;
        let mut opts = TestOptions::new(app_manifest())
            .var("mail_transport", "http")
            .var("mail_relay_url", &relay.url())
            .var("mail_relay_origin", &relay.origin());
        for (k, v) in vars {
            opts = opts.var(k, v);
        }
        let app = TestApp::start_with(opts).await?;
        Ok(Desk { relay, app })
    }

    /// The app's SQLite database, for setting up what the journey does not test.
    pub fn db(&self) -> anyhow::Result<rusqlite::Connection> {
        let c = rusqlite::Connection::open(self.app.state_dir().join("sqlite_db.db"))?;
        c.busy_timeout(Duration::from_secs(5))?;
        Ok(c)
    }

    /// Mail accepted by the relay for `to`, in arrival order.
    pub fn mails_to(&self, to: &str) -> Vec<CapturedMail> {
        self.relay
            .messages()
            .into_iter()
            .filter(|m| {
                m.body["to"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|t| t.as_str() == Some(to)))
            })
            .collect()
    }

    /// Waits for a mail to `to` whose subject or text contains `needle`.
    pub async fn mail(&self, to: &str, needle: &str) -> anyhow::Result<CapturedMail> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(m) = self.mails_to(to).into_iter().find(|m| {
                m.body["subject"].as_str().unwrap_or("").contains(needle)
                    || m.body["text"].as_str().unwrap_or("").contains(needle)
            }) {
                return Ok(m);
            }
            if Instant::now() > deadline {
                let seen: Vec<String> = self
                    .mails_to(to)
                    .iter()
                    .map(|m| m.body["subject"].to_string())
                    .collect();
                bail!("no mail to {to} about {needle:?}; got {seen:?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Signs up, confirms through the mailed link, signs in, and passes the
    /// second factor (see the module header).
    pub async fn customer(
        &self,
        username: &str,
        email: &str,
        full_name: &str,
    ) -> anyhow::Result<Person> {
        let client = self.app.client();
        let r = client
            .post_json(
                "/api/auth/signup",
                &json!({
                    "email": email,
                    "username": username,
                    "full_name": full_name,
                    "password": PASSWORD,
                    "accept_terms_version": "2026-01",
                }),
            )
            .await?;
        if r.status != 202 {
            bail!("sign-up of {username}: {} {}", r.status, r.text());
        }
        let mail = self.mail(email, "Confirm").await?;
        let token = link_token(&mail, "/confirm?token=");
        let r = client
            .post_json("/api/auth/confirm", &json!({ "token": token }))
            .await?;
        if r.status != 200 {
            bail!("confirmation of {username}: {} {}", r.status, r.text());
        }
        self.sign_in(client, username).await
    }

    /// A customer made an operator (or `admin`) by an administrator.
    pub async fn staff(&self, username: &str, role: &str) -> anyhow::Result<Person> {
        let p = self
            .customer(
                username,
                &format!("{username}@desk.test"),
                &format!("Operator {username}"),
            )
            .await?;
        self.db()?.execute(
            "UPDATE users SET role = ?1 WHERE id = ?2",
            rusqlite::params![role, p.id],
        )?;
        Ok(p)
    }

    /// Signs `username` in on `client` and passes the second factor.
    pub async fn sign_in(&self, client: Client, username: &str) -> anyhow::Result<Person> {
        let r = client
            .post_json(
                "/api/auth/login",
                &json!({ "login": username, "password": PASSWORD }),
            )
            .await?;
        if r.status != 200 {
            bail!("sign-in of {username}: {} {}", r.status, r.text());
        }
        self.db()?.execute(
            "UPDATE sessions SET stage = 'full' WHERE user_id = \
             (SELECT id FROM users WHERE username = ?1)",
            rusqlite::params![username],
        )?;
        let s = client.get("/api/session").await?.json()?;
        let csrf = s["csrf_token"].as_str().context("no csrf token")?;
        client.set_default_header("x-csrf-token", csrf);
        let u = &s["user"];
        Ok(Person {
            id: u["id"].as_str().unwrap_or_default().to_owned(),
            username: u["username"].as_str().unwrap_or_default().to_owned(),
            email: u["email"].as_str().unwrap_or_default().to_owned(),
            full_name: u["full_name"].as_str().unwrap_or_default().to_owned(),
            client,
        })
    }
}

/// The token of the link `…{marker}TOKEN` in a mail's text ("" when absent).
pub fn link_token(mail: &CapturedMail, marker: &str) -> String {
    let text = mail.body["text"].as_str().unwrap_or_default();
    let Some(start) = text.find(marker).map(|i| i + marker.len()) else {
        return String::new();
    };
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The error code of an answer ("" when there is none).
pub fn error_code(r: &crate::TestResponse) -> String {
    r.json()
        .ok()
        .and_then(|b| b["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}
