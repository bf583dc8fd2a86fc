//! The people of the authorization matrix and the things they own, made
//! through the real routes (sign-up, access requests, requests, uploads) with
//! the harness's one shortcut for the second factor (`edgedesk_e2e::desk`).
//!
//! Ownership is seen from customer A (Ann, Acme): `own` is Ann's private
//! request, `shared` a colleague's request shared with Acme, `private` that
//! colleague's private request, `other` a Globex request shared with Globex.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context as _, bail};
use edgedesk_e2e::desk::{Desk, PASSWORD, Person};
use edgedesk_e2e::{Client, TestResponse, Value, json};
use sha2::{Digest as _, Sha256};

/// The callers, in the matrix's column order (tests/authz/matrix.txt names
/// them in its `callers:` line; the test checks the two agree).
pub const CALLERS: &[&str] = &[
    "anon",      // no session
    "pw_ok",     // Acme member, password checked, second factor owed (stage password_ok)
    "setup",     // Acme member without a second factor yet (stage needs_2fa_setup)
    "a",         // Ann, approved at Acme
    "colleague", // Bob, approved at Acme
    "other",     // Gil, approved at Globex
    "pending",   // Pat, access to Acme pending
    "declined",  // Dee, access to Acme declined
    "operator",  // Opal
    "admin",     // Boss
    "deact",     // Dan, Acme member, deactivated (his old cookie)
];

/// A caller: a session cookie and its CSRF token (none for `anon`).
#[derive(Clone)]
pub struct Caller {
    pub user_id: Option<String>,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

impl Caller {
    /// A fresh client carrying this caller's session: a sign-in or a rotated
    /// session inside one cell never changes the caller's own jar.
    pub fn client(&self, desk: &Desk) -> Client {
        let c = desk.app.client();
        if let Some(v) = &self.cookie {
            c.set_cookie("edgedesk_session", v);
        }
        if let Some(v) = &self.csrf {
            c.set_default_header("x-csrf-token", v);
        }
        c
    }
}

pub struct World {
    pub desk: Desk,
    pub callers: BTreeMap<&'static str, Caller>,
    pub ann: Person,
    pub bob: Person,
    pub gil: Person,
    pub opal: Person,
    pub boss: Person,
    pub acme_id: String,
    pub globex_id: String,
    seq: AtomicUsize,
}

pub fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn id_of(r: &TestResponse, what: &str) -> anyhow::Result<String> {
    if !(200..300).contains(&r.status) {
        bail!("{what}: {} {}", r.status, r.text());
    }
    let v = r.json()?;
    v["id"]
        .as_str()
        .or(v["key"].as_str())
        .map(str::to_owned)
        .with_context(|| format!("{what}: no id in {v}"))
}

impl World {
    /// Rate-limit counters are not what the matrix tests: every fixture and
    /// cell comes from 127.0.0.1, so they are cleared as they fill up.
    pub fn clear_limits(&self) -> anyhow::Result<()> {
        clear_limits(&self.desk)
    }

    pub fn next(&self) -> usize {
        self.seq.fetch_add(1, Ordering::SeqCst)
    }

    pub async fn customer(&self, username: &str, company: &str) -> anyhow::Result<Person> {
        self.clear_limits()?;
        self.desk
            .customer(
                username,
                &format!("{username}@{}.example", company.to_lowercase()),
                &format!("Person {username}"),
            )
            .await
    }

    /// A confirmed customer made quickly: invited by the admin (the real
    /// route), with Ann's password hash and a full session written to the
    /// database, as a sign-in and the second factor would (argon2 twice per
    /// person is what makes sign-ups slow, and many are needed here).
    pub async fn quick(&self, username: &str) -> anyhow::Result<Person> {
        let r = self
            .boss
            .client
            .post_json(
                "/api/admin/users",
                &json!({
                    "email": format!("{username}@quick.example"),
                    "full_name": format!("Person {username}"),
                    "username": username,
                }),
            )
            .await?;
        let id = id_of(&r, "inviting")?;
        let token = format!("authz-session-{username}-{}", self.next());
        let csrf = format!("authz-csrf-{}", self.next());
        let db = self.desk.db()?;
        db.execute(
            "UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE username = 'ann'), \
             email_confirmed_at = unixepoch(), terms_version = '2026-01', terms_accepted_at = unixepoch() \
             WHERE id = ?1",
            [&id],
        )?;
        db.execute(
            "INSERT INTO sessions (token_hash, user_id, stage, csrf_token, remember, created_at, \
             last_seen_at, expires_at, second_factor_at) \
             VALUES (?1, ?2, 'full', ?3, 0, unixepoch(), unixepoch(), unixepoch() + 86400, unixepoch())",
            rusqlite::params![sha256_hex(&token), id, csrf],
        )?;
        let client = self.desk.app.client();
        client.set_cookie("edgedesk_session", &token);
        client.set_default_header("x-csrf-token", &csrf);
        Ok(Person {
            client,
            id,
            username: username.to_owned(),
            email: format!("{username}@quick.example"),
            full_name: format!("Person {username}"),
        })
    }

    /// Asks for access to `company`; returns the access request's id.
    pub async fn ask(&self, p: &Person, company: &str) -> anyhow::Result<String> {
        let r = p
            .client
            .post_json("/api/access-requests", &json!({ "company_name": company }))
            .await?;
        id_of(&r, "access request")
    }

    pub async fn member(&self, username: &str, company: &str) -> anyhow::Result<Person> {
        let p = if self.ann.id.is_empty() {
            self.customer(username, company).await?
        } else {
            self.quick(username).await?
        };
        let id = self.ask(&p, company).await?;
        let r = self
            .opal
            .client
            .post_json(&format!("/api/access-requests/{id}/approve"), &json!({}))
            .await?;
        if r.status != 200 {
            bail!("approving {username}: {} {}", r.status, r.text());
        }
        Ok(p)
    }

    /// The caller's view of a signed-in person: cookie from the jar, CSRF
    /// token from the session row.
    fn caller_of(&self, _column: &'static str, p: &Person) -> anyhow::Result<Caller> {
        let cookie = p.client.cookie("edgedesk_session").context("no session")?;
        let csrf: String = self.desk.db()?.query_row(
            "SELECT csrf_token FROM sessions WHERE token_hash = ?1",
            [sha256_hex(&cookie)],
            |r| r.get(0),
        )?;
        Ok(Caller {
            user_id: Some(p.id.clone()),
            cookie: Some(cookie),
            csrf: Some(csrf),
        })
    }

    /// A session of `username` at the stage the sign-in gives (no shortcut);
    /// its CSRF token is read from the database (`/api/session` may refuse).
    async fn stage_session(
        &self,
        _column: &'static str,
        username: &str,
        user_id: &str,
    ) -> anyhow::Result<Caller> {
        let c = self.desk.app.client();
        let r = c
            .post_json(
                "/api/auth/login",
                &json!({ "login": username, "password": PASSWORD }),
            )
            .await?;
        if r.status != 200 {
            bail!("sign-in of {username}: {} {}", r.status, r.text());
        }
        let cookie = c.cookie("edgedesk_session").context("no session cookie")?;
        let csrf: String = self.desk.db()?.query_row(
            "SELECT csrf_token FROM sessions WHERE token_hash = ?1",
            [sha256_hex(&cookie)],
            |r| r.get(0),
        )?;
        Ok(Caller {
            user_id: Some(user_id.to_owned()),
            cookie: Some(cookie),
            csrf: Some(csrf),
        })
    }

    pub async fn build() -> anyhow::Result<World> {
        let desk = Desk::start(&[]).await?;
        let opal = desk.staff("opal", "operator").await?;
        clear_limits(&desk)?;
        let boss = desk.staff("boss", "admin").await?;
        // Placeholders until the real people exist (`member` needs `opal`).
        let mut w = World {
            callers: BTreeMap::new(),
            ann: placeholder(&desk),
            bob: placeholder(&desk),
            gil: placeholder(&desk),
            opal,
            boss,
            acme_id: String::new(),
            globex_id: String::new(),
            seq: AtomicUsize::new(1),
            desk,
        };
        w.ann = w.member("ann", "Acme").await?;
        w.bob = w.member("bob", "Acme").await?;
        w.gil = w.member("gil", "Globex").await?;
        w.acme_id = org_id(&w.ann).await?;
        w.globex_id = org_id(&w.gil).await?;

        // Stage callers: Acme members, so that only the stage keeps them out.
        let paula = w.member("paula", "Acme").await?;
        w.desk.db()?.execute(
            "INSERT INTO twofactor_methods (user_id, kind, is_primary, created_at) \
             VALUES (?1, 'totp', 1, 1)",
            [&paula.id],
        )?;
        let pw_ok = w.stage_session("pw_ok", "paula", &paula.id).await?;
        let sam = w.member("sam", "Acme").await?;
        let setup = w.stage_session("setup", "sam", &sam.id).await?;

        let pat = w.quick("pat").await?;
        w.ask(&pat, "Acme").await?;
        let dee = w.quick("dee").await?;
        let id = w.ask(&dee, "Acme").await?;
        let r = w
            .ann
            .client
            .post_json(
                &format!("/api/access-requests/{id}/decline"),
                &json!({ "reason": "Not one of us" }),
            )
            .await?;
        if r.status != 200 {
            bail!("declining dee: {} {}", r.status, r.text());
        }
        let dan = w.member("dan", "Acme").await?;
        let deact = w.caller_of("deact", &dan)?;
        let r = w
            .opal
            .client
            .post_json(
                &format!("/api/admin/users/{}/deactivate", dan.id),
                &json!({ "reason": "left" }),
            )
            .await?;
        if r.status != 200 {
            bail!("deactivating dan: {} {}", r.status, r.text());
        }

        let mut callers = BTreeMap::new();
        callers.insert(
            "anon",
            Caller {
                user_id: None,
                cookie: None,
                csrf: None,
            },
        );
        callers.insert("pw_ok", pw_ok);
        callers.insert("setup", setup);
        callers.insert("a", w.caller_of("a", &w.ann)?);
        callers.insert("colleague", w.caller_of("colleague", &w.bob)?);
        callers.insert("other", w.caller_of("other", &w.gil)?);
        callers.insert("pending", w.caller_of("pending", &pat)?);
        callers.insert("declined", w.caller_of("declined", &dee)?);
        callers.insert("operator", w.caller_of("operator", &w.opal)?);
        callers.insert("admin", w.caller_of("admin", &w.boss)?);
        callers.insert("deact", deact);
        w.callers = callers;
        w.clear_limits()?;
        Ok(w)
    }

    /// Who owns a request of the given ownership, and its visibility.
    fn owner(&self, ownership: &str) -> anyhow::Result<(&Person, &'static str)> {
        Ok(match ownership {
            "own" => (&self.ann, "private"),
            "shared" => (&self.bob, "organization"),
            "private" => (&self.bob, "private"),
            "other" => (&self.gil, "organization"),
            o => bail!("unknown ownership {o:?}"),
        })
    }

    /// A fresh request of `ownership`; returns its key.
    pub async fn request(
        &self,
        ownership: &str,
        attachment: Option<&str>,
    ) -> anyhow::Result<String> {
        let (p, visibility) = self.owner(ownership)?;
        let mut body = json!({
            "request_type": "technical-support",
            "summary": format!("Matrix {ownership} {}", self.next()),
            "visibility": visibility,
        });
        if let Some(id) = attachment {
            body["attachment_ids"] = json!([id]);
        }
        let r = p.client.post_json("/api/requests", &body).await?;
        if r.status != 201 {
            bail!("raising a request: {} {}", r.status, r.text());
        }
        r.json()?["key"]
            .as_str()
            .map(str::to_owned)
            .context("request key")
    }

    /// Uploads one small text file as `p`; returns its id.
    pub async fn upload(&self, client: &Client) -> anyhow::Result<String> {
        let r = upload(client, "note.txt", b"matrix file\n").await?;
        if r.status != 201 {
            bail!("upload: {} {}", r.status, r.text());
        }
        r.json()?["items"][0]["id"]
            .as_str()
            .map(str::to_owned)
            .context("upload id")
    }

    /// A file on a fresh request of `ownership`; returns the file's id.
    pub async fn attachment(&self, ownership: &str) -> anyhow::Result<String> {
        let (p, _) = self.owner(ownership)?;
        let id = self.upload(&p.client).await?;
        self.request(ownership, Some(&id)).await?;
        Ok(id)
    }

    pub async fn agent(
        &self,
        key: &str,
        action: &str,
        body: &Value,
    ) -> anyhow::Result<TestResponse> {
        let r = self
            .opal
            .client
            .post_json(&format!("/api/agent/requests/{key}/{action}"), body)
            .await?;
        if !(200..300).contains(&r.status) {
            bail!("{action} on {key}: {} {}", r.status, r.text());
        }
        Ok(r)
    }

    /// An access request of `ownership` from Ann's side: `own` her own
    /// (approved), `shared` a newcomer's to Acme (Acme decides), `private`
    /// a newcomer's to a new company (operators decide), `other` a
    /// newcomer's to Globex.
    pub async fn access_request(&self, ownership: &str) -> anyhow::Result<String> {
        let company = match ownership {
            "own" => {
                let r = self.ann.client.get("/api/access-requests/mine").await?;
                return r.json()?["items"][0]["id"]
                    .as_str()
                    .map(str::to_owned)
                    .context("ann's access request");
            }
            "shared" => "Acme".to_owned(),
            "private" => format!("Initech {}", self.next()),
            "other" => "Globex".to_owned(),
            o => bail!("unknown ownership {o:?}"),
        };
        let p = self.quick(&format!("new{}", self.next())).await?;
        self.ask(&p, &company).await
    }

    /// A customer invited by the admin (no password, no session): the
    /// target of the console's people actions.
    pub async fn invited(&self) -> anyhow::Result<(String, String)> {
        let n = self.next();
        let username = format!("target{n}");
        let r = self
            .boss
            .client
            .post_json(
                "/api/admin/users",
                &json!({
                    "email": format!("{username}@target.example"),
                    "full_name": format!("Target {n}"),
                    "username": username,
                }),
            )
            .await?;
        Ok((id_of(&r, "inviting")?, username))
    }

    pub async fn organization(&self) -> anyhow::Result<String> {
        let r = self
            .boss
            .client
            .post_json(
                "/api/admin/organizations",
                &json!({ "name": format!("Umbrella {}", self.next()) }),
            )
            .await?;
        id_of(&r, "creating an organization")
    }

    pub async fn topic(&self) -> anyhow::Result<String> {
        let r = self
            .boss
            .client
            .post_json(
                "/api/admin/request-types",
                &json!({ "name": format!("Topic {}", self.next()) }),
            )
            .await?;
        id_of(&r, "creating a topic")
    }

    /// A message the relay gave up on (as the console test makes one).
    pub fn failed_mail(&self) -> anyhow::Result<String> {
        let id = format!("gave-up-{}", self.next());
        self.desk.db()?.execute(
            "INSERT INTO outbox (id, kind, to_addr, subject, text_body, html_body, state, attempts, \
             created_at, next_attempt_at, last_error) VALUES (?1, 'test', 'ann@acme.example', \
             'Gave up', 'again', '<p>again</p>', 'failed', 8, unixepoch(), unixepoch(), 'relay said 500')",
            [&id],
        )?;
        Ok(id)
    }

    /// A trusted device of Bob's (someone else's for every other caller).
    pub fn device_of_bob(&self) -> anyhow::Result<String> {
        let id = format!("dev-{}", self.next());
        self.desk.db()?.execute(
            "INSERT INTO twofactor_devices (id, user_id, token_hash, label, created_at, expires_at) \
             VALUES (?1, ?2, ?3, 'Bob laptop', unixepoch(), unixepoch() + 86400)",
            rusqlite::params![id, self.bob.id, sha256_hex(&id)],
        )?;
        Ok(id)
    }
}

fn clear_limits(desk: &Desk) -> anyhow::Result<()> {
    desk.db()?.execute("DELETE FROM counters", [])?;
    Ok(())
}

fn placeholder(desk: &Desk) -> Person {
    Person {
        client: desk.app.client(),
        id: String::new(),
        username: String::new(),
        email: String::new(),
        full_name: String::new(),
    }
}

async fn org_id(p: &Person) -> anyhow::Result<String> {
    let r = p.client.get("/api/organizations/mine").await?;
    id_of(&r, "organization")
}

/// `POST /api/attachments` with one `file` part.
pub async fn upload(client: &Client, name: &str, bytes: &[u8]) -> anyhow::Result<TestResponse> {
    let boundary = "authzmatrixboundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: text/plain\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    client
        .request(
            "POST",
            "/api/attachments",
            &[(
                "content-type",
                &format!("multipart/form-data; boundary={boundary}"),
            )],
            body,
        )
        .await
}
