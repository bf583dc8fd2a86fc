//! Transports (API.md "Mail relay format"): `log` writes the mail to the host's log
//! (development: the log is where you click the confirmation link); `http` POSTs
//! one JSON message per mail to the relay, any 2xx meaning delivered.

use serde::Serialize;

use edgedesk_core::ApiError;
use edgedesk_web::Ctx;

use crate::outbox::Claimed;

pub enum Transport {
    Log,
    Http { url: String, token: String },
}

pub struct Settings {
    pub transport: Transport,
    pub from: String,
}

impl Settings {
    pub fn from_ctx(ctx: &Ctx) -> Result<Settings, ApiError> {
        let from = ctx.var_or("mail_from", "EdgeDesk <no-reply@localhost>");
        let transport = match ctx.var_or("mail_transport", "log").as_str() {
            "log" => Transport::Log,
            "http" => {
                let url = ctx.var_or("mail_relay_url", "");
                if url.is_empty() {
                    return Err(ApiError::internal(
                        "mail_transport=http needs mail_relay_url",
                    ));
                }
                Transport::Http {
                    url,
                    token: ctx.var_or("mail_relay_token", ""),
                }
            }
            other => {
                return Err(ApiError::internal(format!(
                    "unknown mail_transport {other}"
                )));
            }
        };
        Ok(Settings { transport, from })
    }
}

#[derive(Serialize)]
pub struct RelayMessage<'a> {
    pub id: &'a str,
    pub from: &'a str,
    pub to: [&'a str; 1],
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
}

pub fn relay_body(from: &str, mail: &Claimed) -> Vec<u8> {
    let msg = RelayMessage {
        id: &mail.id,
        from,
        to: [&mail.to],
        subject: &mail.subject,
        text: &mail.text,
        html: &mail.html,
    };
    serde_json::to_vec(&msg).unwrap_or_default()
}

/// Sends one mail. `Err` carries a short reason for the outbox (never the body).
pub async fn send(settings: &Settings, mail: &Claimed) -> Result<(), String> {
    match &settings.transport {
        Transport::Log => {
            eprintln!(
                "mail {} to {} from {}\nSubject: {}\n\n{}\n-- end of mail {}",
                mail.id, mail.to, settings.from, mail.subject, mail.text, mail.id
            );
            Ok(())
        }
        Transport::Http { url, token } => {
            let mut b = spin_sdk::http::Request::builder();
            b.method(spin_sdk::http::Method::Post)
                .uri(url.as_str())
                .header("content-type", "application/json")
                .body(relay_body(&settings.from, mail));
            if !token.is_empty() {
                b.header("authorization", format!("Bearer {token}"));
            }
            match spin_sdk::http::send::<_, spin_sdk::http::Response>(b.build()).await {
                Ok(r) if (200..300).contains(r.status()) => Ok(()),
                Ok(r) => Err(format!("relay answered {}", r.status())),
                Err(e) => Err(format!("relay unreachable: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_body_has_the_contract_fields() {
        let mail = Claimed {
            id: "m1".into(),
            to: "ada@example.com".into(),
            subject: "[SD-1] Hi".into(),
            text: "t".into(),
            html: "<p>h</p>".into(),
            attempts: 1,
        };
        let v: serde_json::Value =
            serde_json::from_slice(&relay_body("EdgeDesk <x@y>", &mail)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id":"m1","from":"EdgeDesk <x@y>","to":["ada@example.com"],
                               "subject":"[SD-1] Hi","text":"t","html":"<p>h</p>"})
        );
    }
}
