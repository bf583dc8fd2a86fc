//! Web Authentication (passkeys, Windows Hello, Touch ID, security keys) as a
//! second factor, in pure Rust so it runs inside wasm.
//!
//! Registration parses the attestation object (CBOR) and accepts any attestation
//! format's authenticator data without verifying the attestation statement
//! (we ask for attestation "none": we trust the user's own device, not a
//! vendor). Both ceremonies check the client data (type, our server-side
//! single-use challenge, origin = `public_base_url`), the RP id hash (SHA-256 of
//! the host of `public_base_url`) and the user-present flag. Sign-in verifies
//! the signature (ES256 with p256, RS256 with rsa) over
//! `authenticatorData || SHA-256(clientDataJSON)` and requires the signature
//! counter to grow when the authenticator keeps one (a counter that does not
//! grow means a cloned authenticator or a replay).

use ciborium::Value as Cbor;
use edgedesk_core::db::transaction;
use edgedesk_core::token::{b64url, ct_eq, new_token};
use edgedesk_core::{ApiError, Random, Sql, params};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::challenges;
use crate::methods::{self, Kind};

pub const ES256: i64 = -7;
pub const RS256: i64 = -257;
pub const TIMEOUT_S: i64 = 300;
const REGISTER: &str = "webauthn_register";
const LOGIN: &str = "webauthn_login";
const FLAG_UP: u8 = 0x01;
const FLAG_AT: u8 = 0x40;
const MAX_CREDENTIAL_ID: usize = 1023;

/// The relying party, derived from `public_base_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rp {
    /// The host (RP id), e.g. `desk.example.com`.
    pub id: String,
    /// The origin browsers report, e.g. `https://desk.example.com`.
    pub origin: String,
    pub name: String,
}

impl Rp {
    pub fn from_base_url(base_url: &str, name: &str) -> Result<Rp, ApiError> {
        let bad = || ApiError::internal("public_base_url is not an http(s) URL");
        let (scheme, rest) = base_url.split_once("://").ok_or_else(bad)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad());
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.to_ascii_lowercase();
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, p) = v6.split_once(']').ok_or_else(bad)?;
            (format!("[{h}]"), p.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.clone(), None),
            }
        };
        if host.is_empty() {
            return Err(bad());
        }
        let default_port = if scheme == "https" { "443" } else { "80" };
        let origin = match port {
            Some(p) if !p.is_empty() && p != default_port => format!("{scheme}://{host}:{p}"),
            _ => format!("{scheme}://{host}"),
        };
        Ok(Rp {
            id: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            origin,
            name: name.to_owned(),
        })
    }
}

fn bad(message: &str) -> ApiError {
    ApiError::invalid("credential", "invalid_credential", message.to_owned())
}

/// The browser's `PublicKeyCredential`, JSON-encoded with base64url buffers.
#[derive(Debug, Clone, Deserialize)]
pub struct CredentialIn {
    pub id: String,
    #[serde(rename = "rawId")]
    pub raw_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub response: ResponseIn,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ResponseIn {
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    #[serde(rename = "attestationObject")]
    pub attestation_object: Option<String>,
    #[serde(rename = "authenticatorData")]
    pub authenticator_data: Option<String>,
    pub signature: Option<String>,
}

impl CredentialIn {
    /// Parses the `credential` member of a request body (400 when malformed).
    pub fn from_json(v: &Json) -> Result<CredentialIn, ApiError> {
        let c: CredentialIn = serde_json::from_value(v.clone())
            .map_err(|_| bad("The credential is not a WebAuthn credential."))?;
        if c.kind.as_deref().is_some_and(|k| k != "public-key") {
            return Err(bad("The credential is not a public-key credential."));
        }
        Ok(c)
    }

    /// The credential id (rawId, which must agree with id when both are sent).
    fn credential_id(&self) -> Result<Vec<u8>, ApiError> {
        let id = decode(&self.id, "id")?;
        if let Some(raw) = &self.raw_id
            && decode(raw, "rawId")? != id
        {
            return Err(bad("id and rawId differ."));
        }
        if id.is_empty() || id.len() > MAX_CREDENTIAL_ID {
            return Err(bad("The credential id has a wrong length."));
        }
        Ok(id)
    }
}

/// base64url with or without padding (standard base64 letters accepted too).
fn decode(s: &str, what: &str) -> Result<Vec<u8>, ApiError> {
    let norm: String = s
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    edgedesk_core::token::b64url_decode(&norm)
        .ok_or_else(|| bad(&format!("{what} is not base64url.")))
}

#[derive(Debug, Deserialize)]
struct ClientData {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
}

/// Checks `clientDataJSON`: ceremony type, our challenge, our origin.
pub fn check_client_data(
    raw: &[u8],
    expected_type: &str,
    challenge: &str,
    origin: &str,
) -> Result<(), ApiError> {
    let cd: ClientData =
        serde_json::from_slice(raw).map_err(|_| bad("clientDataJSON is not valid client data."))?;
    if cd.kind != expected_type {
        return Err(bad("The client data is for another WebAuthn ceremony."));
    }
    if !ct_eq(
        cd.challenge.trim_end_matches('=').as_bytes(),
        challenge.as_bytes(),
    ) {
        return Err(ApiError::invalid(
            "credential",
            "wrong_challenge",
            "The credential answers another challenge. Start again.",
        ));
    }
    if cd.origin != origin {
        return Err(ApiError::invalid(
            "credential",
            "wrong_origin",
            "The credential was made for another site.",
        ));
    }
    Ok(())
}

/// Parsed authenticator data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthData {
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub sign_count: u32,
    /// Attested credential data: credential id and its COSE public key bytes.
    pub attested: Option<(Vec<u8>, Vec<u8>)>,
}

/// Parses authenticator data (WebAuthn §6.1).
pub fn parse_auth_data(b: &[u8]) -> Result<AuthData, ApiError> {
    let short = || bad("The authenticator data is truncated.");
    if b.len() < 37 {
        return Err(short());
    }
    let mut rp_id_hash = [0u8; 32];
    rp_id_hash.copy_from_slice(&b[..32]);
    let flags = b[32];
    let sign_count = u32::from_be_bytes([b[33], b[34], b[35], b[36]]);
    let attested = if flags & FLAG_AT != 0 {
        // aaguid(16) credentialIdLength(2) credentialId publicKey(COSE)
        let rest = b.get(37 + 16..).ok_or_else(short)?;
        let len = u16::from_be_bytes([
            *rest.first().ok_or_else(short)?,
            *rest.get(1).ok_or_else(short)?,
        ]) as usize;
        if len == 0 || len > MAX_CREDENTIAL_ID {
            return Err(bad("The credential id has a wrong length."));
        }
        let id = rest.get(2..2 + len).ok_or_else(short)?.to_vec();
        let key_and_more = &rest[2 + len..];
        // The COSE key is one CBOR item; extensions may follow it.
        let mut reader = key_and_more;
        let _: Cbor = ciborium::de::from_reader(&mut reader)
            .map_err(|_| bad("The credential public key is not valid CBOR."))?;
        let used = key_and_more.len() - reader.len();
        Some((id, key_and_more[..used].to_vec()))
    } else {
        None
    };
    Ok(AuthData {
        rp_id_hash,
        flags,
        sign_count,
        attested,
    })
}

fn map_get<'a>(map: &'a [(Cbor, Cbor)], key: &Cbor) -> Option<&'a Cbor> {
    map.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn int(v: i64) -> Cbor {
    Cbor::Integer(v.into())
}

/// Parses an attestation object: `{fmt, attStmt, authData}`. Returns the format
/// and the authenticator data bytes (the statement itself is not verified).
pub fn parse_attestation_object(b: &[u8]) -> Result<(String, Vec<u8>), ApiError> {
    let v: Cbor = ciborium::de::from_reader(b)
        .map_err(|_| bad("The attestation object is not valid CBOR."))?;
    let map = v
        .as_map()
        .ok_or_else(|| bad("The attestation object is not a CBOR map."))?;
    let fmt = map_get(map, &Cbor::Text("fmt".into()))
        .and_then(Cbor::as_text)
        .ok_or_else(|| bad("The attestation object has no format."))?;
    let auth = map_get(map, &Cbor::Text("authData".into()))
        .and_then(Cbor::as_bytes)
        .ok_or_else(|| bad("The attestation object has no authenticator data."))?;
    Ok((fmt.to_owned(), auth.clone()))
}

/// A public key from a COSE_Key.
#[derive(Debug, Clone)]
pub enum PublicKey {
    Es256(p256::ecdsa::VerifyingKey),
    Rs256(Box<rsa::RsaPublicKey>),
}

impl PublicKey {
    pub fn alg(&self) -> i64 {
        match self {
            PublicKey::Es256(_) => ES256,
            PublicKey::Rs256(_) => RS256,
        }
    }

    /// Verifies a WebAuthn signature over `message` (SHA-256 inside).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::Es256(k) => {
                use p256::ecdsa::signature::Verifier;
                let Ok(sig) = p256::ecdsa::Signature::from_der(signature) else {
                    return false;
                };
                k.verify(message, &sig).is_ok()
            }
            PublicKey::Rs256(k) => {
                use rsa::signature::Verifier;
                let vk = rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new((**k).clone());
                let Ok(sig) = rsa::pkcs1v15::Signature::try_from(signature) else {
                    return false;
                };
                vk.verify(message, &sig).is_ok()
            }
        }
    }
}

/// Parses a COSE_Key (RFC 9053): EC2 P-256 with ES256, or RSA with RS256.
pub fn parse_cose_key(b: &[u8]) -> Result<PublicKey, ApiError> {
    let v: Cbor =
        ciborium::de::from_reader(b).map_err(|_| bad("The public key is not valid CBOR."))?;
    let m = v
        .as_map()
        .ok_or_else(|| bad("The public key is not a COSE key."))?;
    let get_int = |k: i64| -> Option<i128> {
        map_get(m, &int(k))
            .and_then(Cbor::as_integer)
            .map(i128::from)
    };
    let get_bytes = |k: i64| map_get(m, &int(k)).and_then(Cbor::as_bytes);
    let kty = get_int(1).ok_or_else(|| bad("The public key has no key type."))?;
    let alg = get_int(3).ok_or_else(|| bad("The public key has no algorithm."))?;
    let unsupported = || {
        ApiError::invalid(
            "credential",
            "unsupported_algorithm",
            "Use an authenticator that supports ES256 or RS256.",
        )
    };
    match (kty, alg) {
        (2, -7) => {
            if get_int(-1) != Some(1) {
                return Err(unsupported());
            }
            let (x, y) = match (get_bytes(-2), get_bytes(-3)) {
                (Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => (x, y),
                _ => return Err(bad("The EC public key is malformed.")),
            };
            let mut sec1 = Vec::with_capacity(65);
            sec1.push(4);
            sec1.extend_from_slice(x);
            sec1.extend_from_slice(y);
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map(PublicKey::Es256)
                .map_err(|_| bad("The EC public key is not on the curve."))
        }
        (3, -257) => {
            let (n, e) = match (get_bytes(-1), get_bytes(-2)) {
                (Some(n), Some(e)) => (n, e),
                _ => return Err(bad("The RSA public key is malformed.")),
            };
            let n = rsa::BigUint::from_bytes_be(n);
            if n.bits() < 2048 {
                return Err(bad("The RSA key is too short."));
            }
            rsa::RsaPublicKey::new(n, rsa::BigUint::from_bytes_be(e))
                .map(|k| PublicKey::Rs256(Box::new(k)))
                .map_err(|_| bad("The RSA public key is not acceptable."))
        }
        _ => Err(unsupported()),
    }
}

fn check_auth_data(ad: &AuthData, rp: &Rp) -> Result<(), ApiError> {
    let expected: [u8; 32] = Sha256::digest(rp.id.as_bytes()).into();
    if !ct_eq(&ad.rp_id_hash, &expected) {
        return Err(ApiError::invalid(
            "credential",
            "wrong_origin",
            "The credential was made for another site.",
        ));
    }
    if ad.flags & FLAG_UP == 0 {
        return Err(bad("The authenticator did not confirm user presence."));
    }
    Ok(())
}

fn new_challenge(rng: &dyn Random) -> String {
    new_token(rng)
}

fn challenge_required() -> ApiError {
    ApiError::bad_request(
        "challenge_required",
        "Ask for new WebAuthn options first: the challenge is missing, used or expired.",
    )
}

const CREDENTIALS: &str = "SELECT id, label, created_at, last_used_at FROM twofactor_webauthn \
     WHERE user_id = ?1 ORDER BY created_at, id";

/// A registered credential, for the settings page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Credential {
    pub id: String,
    pub label: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

pub fn credentials(sql: &dyn Sql, user_id: &str) -> Result<Vec<Credential>, ApiError> {
    let rows = sql.execute(CREDENTIALS, params![user_id])?;
    rows.rows
        .iter()
        .map(|r| {
            Ok(Credential {
                id: r.text(0)?,
                label: r.text(1)?,
                created_at: edgedesk_core::clock::rfc3339(r.i64(2)?),
                last_used_at: r.opt_i64(3)?.map(edgedesk_core::clock::rfc3339),
            })
        })
        .collect()
}

/// The user being registered.
pub struct UserEntity<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub display_name: &'a str,
}

/// `PublicKeyCredentialCreationOptions` (JSON form) with a fresh challenge.
pub fn register_options(
    sql: &dyn Sql,
    rng: &dyn Random,
    rp: &Rp,
    user: &UserEntity<'_>,
    now: i64,
) -> Result<Json, ApiError> {
    let challenge = new_challenge(rng);
    challenges::put(sql, user.id, REGISTER, &challenge, now + TIMEOUT_S)?;
    let exclude: Vec<Json> = credentials(sql, user.id)?
        .into_iter()
        .map(|c| json!({"type": "public-key", "id": c.id}))
        .collect();
    Ok(json!({
        "rp": {"id": rp.id, "name": rp.name},
        "user": {"id": b64url(user.id.as_bytes()), "name": user.name, "displayName": user.display_name},
        "challenge": challenge,
        "pubKeyCredParams": [
            {"type": "public-key", "alg": ES256},
            {"type": "public-key", "alg": RS256}
        ],
        "timeout": TIMEOUT_S * 1000,
        "attestation": "none",
        "authenticatorSelection": {"userVerification": "preferred", "residentKey": "discouraged", "requireResidentKey": false},
        "excludeCredentials": exclude
    }))
}

/// Registers a credential made from our creation options.
pub fn register(
    sql: &dyn Sql,
    rp: &Rp,
    user_id: &str,
    cred: &CredentialIn,
    label: &str,
    now: i64,
) -> Result<(), ApiError> {
    let client_data = decode(&cred.response.client_data_json, "clientDataJSON")?;
    let att = cred
        .response
        .attestation_object
        .as_deref()
        .ok_or_else(|| bad("attestationObject is missing."))?;
    let att = decode(att, "attestationObject")?;
    let cred_id = cred.credential_id()?;
    let challenge =
        challenges::take(sql, user_id, REGISTER, now)?.ok_or_else(challenge_required)?;
    check_client_data(&client_data, "webauthn.create", &challenge, &rp.origin)?;
    let (_fmt, auth) = parse_attestation_object(&att)?;
    let ad = parse_auth_data(&auth)?;
    check_auth_data(&ad, rp)?;
    let (att_id, cose) = ad
        .attested
        .clone()
        .ok_or_else(|| bad("The authenticator data has no credential."))?;
    if att_id != cred_id {
        return Err(bad(
            "The credential id does not match the authenticator data.",
        ));
    }
    let key = parse_cose_key(&cose)?;
    let id = b64url(&cred_id);
    transaction(sql, || {
        let inserted = sql.execute(
            "INSERT INTO twofactor_webauthn (id, user_id, label, alg, public_key, sign_count, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO NOTHING RETURNING id",
            params![
                id.as_str(),
                user_id,
                label,
                key.alg(),
                cose.clone(),
                i64::from(ad.sign_count),
                now
            ],
        )?;
        if inserted.is_empty() {
            return Err(ApiError::conflict(
                "credential_exists",
                "This authenticator is already registered.",
            ));
        }
        methods::add(sql, user_id, Kind::Webauthn, now)
    })
}

/// `PublicKeyCredentialRequestOptions` (JSON form) for sign-in.
pub fn assertion_options(
    sql: &dyn Sql,
    rng: &dyn Random,
    rp: &Rp,
    user_id: &str,
    now: i64,
) -> Result<Json, ApiError> {
    let allow: Vec<Json> = credentials(sql, user_id)?
        .into_iter()
        .map(|c| json!({"type": "public-key", "id": c.id}))
        .collect();
    if allow.is_empty() {
        return Err(methods::not_configured());
    }
    let challenge = new_challenge(rng);
    challenges::put(sql, user_id, LOGIN, &challenge, now + TIMEOUT_S)?;
    Ok(json!({
        "challenge": challenge,
        "rpId": rp.id,
        "allowCredentials": allow,
        "userVerification": "preferred",
        "timeout": TIMEOUT_S * 1000
    }))
}

const CREDENTIAL: &str =
    "SELECT public_key, sign_count FROM twofactor_webauthn WHERE id = ?1 AND user_id = ?2";
const BUMP: &str = "UPDATE twofactor_webauthn SET sign_count = ?3, last_used_at = ?4 \
     WHERE id = ?1 AND user_id = ?2 AND (sign_count < ?3 OR (?3 = 0 AND sign_count = 0)) \
     RETURNING 1";

/// Verifies a sign-in assertion. `Ok(false)` for an unknown credential, a bad
/// signature or a counter that did not grow; 400 for malformed input or a
/// wrong challenge, origin or RP.
pub fn verify_assertion(
    sql: &dyn Sql,
    rp: &Rp,
    user_id: &str,
    cred: &CredentialIn,
    now: i64,
) -> Result<bool, ApiError> {
    let client_data = decode(&cred.response.client_data_json, "clientDataJSON")?;
    let auth = cred
        .response
        .authenticator_data
        .as_deref()
        .ok_or_else(|| bad("authenticatorData is missing."))?;
    let auth = decode(auth, "authenticatorData")?;
    let sig = cred
        .response
        .signature
        .as_deref()
        .ok_or_else(|| bad("signature is missing."))?;
    let sig = decode(sig, "signature")?;
    let cred_id = cred.credential_id()?;
    let challenge = challenges::take(sql, user_id, LOGIN, now)?.ok_or_else(challenge_required)?;
    check_client_data(&client_data, "webauthn.get", &challenge, &rp.origin)?;
    let ad = parse_auth_data(&auth)?;
    check_auth_data(&ad, rp)?;
    let id = b64url(&cred_id);
    let rows = sql.execute(CREDENTIAL, params![id.as_str(), user_id])?;
    let Some(row) = rows.first() else {
        return Ok(false);
    };
    let key = parse_cose_key(&row.blob(0)?)
        .map_err(|_| ApiError::internal("stored COSE key unreadable"))?;
    let mut message = auth.clone();
    message.extend_from_slice(&Sha256::digest(&client_data));
    if !key.verify(&message, &sig) {
        return Ok(false);
    }
    let new_count = i64::from(ad.sign_count);
    Ok(!sql
        .execute(BUMP, params![id.as_str(), user_id, new_count, now])?
        .is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::db;
    use edgedesk_core::random::OsRandom;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;

    const BASE: &str = "https://desk.example.com";

    fn rp() -> Rp {
        Rp::from_base_url(BASE, "EdgeDesk").unwrap()
    }

    /// A software authenticator with a P-256 key.
    struct Authenticator {
        key: SigningKey,
        id: Vec<u8>,
        counter: u32,
    }

    impl Authenticator {
        fn new() -> Self {
            Self {
                key: SigningKey::from_slice(&[7u8; 32]).unwrap(),
                id: vec![1, 2, 3, 4, 5, 6, 7, 8],
                counter: 0,
            }
        }

        fn cose_key(&self) -> Vec<u8> {
            let p = self.key.verifying_key().to_encoded_point(false);
            let m = Cbor::Map(vec![
                (int(1), int(2)),
                (int(3), int(-7)),
                (int(-1), int(1)),
                (int(-2), Cbor::Bytes(p.x().unwrap().to_vec())),
                (int(-3), Cbor::Bytes(p.y().unwrap().to_vec())),
            ]);
            cbor(&m)
        }

        fn auth_data(&self, rp_id: &str, flags: u8, attested: bool) -> Vec<u8> {
            let mut a = Sha256::digest(rp_id.as_bytes()).to_vec();
            a.push(flags | if attested { FLAG_AT } else { 0 });
            a.extend_from_slice(&self.counter.to_be_bytes());
            if attested {
                a.extend_from_slice(&[0u8; 16]);
                a.extend_from_slice(&(self.id.len() as u16).to_be_bytes());
                a.extend_from_slice(&self.id);
                a.extend_from_slice(&self.cose_key());
            }
            a
        }

        fn create(&self, challenge: &str, origin: &str, rp_id: &str) -> Json {
            let cd = json!({"type": "webauthn.create", "challenge": challenge, "origin": origin});
            let att = Cbor::Map(vec![
                (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
                (Cbor::Text("attStmt".into()), Cbor::Map(vec![])),
                (
                    Cbor::Text("authData".into()),
                    Cbor::Bytes(self.auth_data(rp_id, FLAG_UP | 0x04, true)),
                ),
            ]);
            json!({
                "id": b64url(&self.id), "rawId": b64url(&self.id), "type": "public-key",
                "response": {
                    "clientDataJSON": b64url(cd.to_string().as_bytes()),
                    "attestationObject": b64url(&cbor(&att)),
                },
                "clientExtensionResults": {}
            })
        }

        fn get(&mut self, challenge: &str, origin: &str) -> Json {
            self.counter += 1;
            let cd = json!({"type": "webauthn.get", "challenge": challenge, "origin": origin})
                .to_string();
            let ad = self.auth_data("desk.example.com", FLAG_UP, false);
            let mut msg = ad.clone();
            msg.extend_from_slice(&Sha256::digest(cd.as_bytes()));
            let sig: p256::ecdsa::Signature = self.key.sign(&msg);
            json!({
                "id": b64url(&self.id), "rawId": b64url(&self.id), "type": "public-key",
                "response": {
                    "clientDataJSON": b64url(cd.as_bytes()),
                    "authenticatorData": b64url(&ad),
                    "signature": b64url(sig.to_der().as_bytes()),
                    "userHandle": null
                }
            })
        }
    }

    fn cbor(v: &Cbor) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(v, &mut out).unwrap();
        out
    }

    const USER: UserEntity<'static> = UserEntity {
        id: "u1",
        name: "alice",
        display_name: "Alice Example",
    };

    fn registered(db: &dyn Sql) -> Authenticator {
        let a = Authenticator::new();
        let opts = register_options(db, &OsRandom, &rp(), &USER, 0).unwrap();
        let c = a.create(
            opts["challenge"].as_str().unwrap(),
            BASE,
            "desk.example.com",
        );
        register(
            db,
            &rp(),
            "u1",
            &CredentialIn::from_json(&c).unwrap(),
            "Key",
            1,
        )
        .unwrap();
        a
    }

    #[test]
    fn rp_comes_from_public_base_url() {
        let r = Rp::from_base_url("https://Desk.Example.com:443/portal", "X").unwrap();
        assert_eq!(
            (r.id.as_str(), r.origin.as_str()),
            ("desk.example.com", "https://desk.example.com")
        );
        let r = Rp::from_base_url("http://localhost:3000", "X").unwrap();
        assert_eq!(
            (r.id.as_str(), r.origin.as_str()),
            ("localhost", "http://localhost:3000")
        );
        assert!(Rp::from_base_url("ftp://x", "X").is_err());
    }

    #[test]
    fn creation_options_follow_the_spec() {
        let db = db();
        let o = register_options(&db, &OsRandom, &rp(), &USER, 0).unwrap();
        assert_eq!(o["rp"]["id"], "desk.example.com");
        assert_eq!(o["user"]["name"], "alice");
        assert_eq!(o["pubKeyCredParams"][0]["alg"], -7);
        assert_eq!(o["pubKeyCredParams"][1]["alg"], -257);
        assert_eq!(o["attestation"], "none");
        assert_eq!(o["authenticatorSelection"]["userVerification"], "preferred");
        assert_eq!(o["challenge"].as_str().unwrap().len(), 43);
    }

    #[test]
    fn es256_registration_and_sign_in() {
        let db = db();
        let mut a = registered(&db);
        assert!(methods::is_configured(&db, "u1", Kind::Webauthn).unwrap());
        assert_eq!(credentials(&db, "u1").unwrap()[0].label, "Key");
        let o = assertion_options(&db, &OsRandom, &rp(), "u1", 10).unwrap();
        assert_eq!(o["rpId"], "desk.example.com");
        assert_eq!(o["allowCredentials"][0]["id"], b64url(&a.id));
        let c = a.get(o["challenge"].as_str().unwrap(), BASE);
        assert!(
            verify_assertion(&db, &rp(), "u1", &CredentialIn::from_json(&c).unwrap(), 11).unwrap()
        );
        // The challenge was used up.
        let e = verify_assertion(&db, &rp(), "u1", &CredentialIn::from_json(&c).unwrap(), 12)
            .unwrap_err();
        assert_eq!(e.code(), "challenge_required");
    }

    #[test]
    fn replayed_counter_is_refused() {
        let db = db();
        let mut a = registered(&db);
        let o = assertion_options(&db, &OsRandom, &rp(), "u1", 10).unwrap();
        let c = a.get(o["challenge"].as_str().unwrap(), BASE);
        assert!(
            verify_assertion(&db, &rp(), "u1", &CredentialIn::from_json(&c).unwrap(), 11).unwrap()
        );
        // Same counter again (a cloned authenticator): refused.
        a.counter -= 1;
        let o = assertion_options(&db, &OsRandom, &rp(), "u1", 20).unwrap();
        let c = a.get(o["challenge"].as_str().unwrap(), BASE);
        assert!(
            !verify_assertion(&db, &rp(), "u1", &CredentialIn::from_json(&c).unwrap(), 21).unwrap()
        );
    }

    /// Registers `credential` and returns the refusal's (status, code).
    fn refused_registration(db: &dyn Sql, credential: &Json) -> (u16, &'static str) {
        let e = register(
            db,
            &rp(),
            "u1",
            &CredentialIn::from_json(credential).unwrap(),
            "K",
            1,
        )
        .unwrap_err();
        (e.status(), e.code())
    }

    #[test]
    fn wrong_challenge_or_origin_is_refused() {
        let db = db();
        let a = Authenticator::new();
        register_options(&db, &OsRandom, &rp(), &USER, 0).unwrap();
        let c = a.create("bm90IG91ciBjaGFsbGVuZ2U", BASE, "desk.example.com");
        assert_eq!(refused_registration(&db, &c), (400, "wrong_challenge"));

        let o = register_options(&db, &OsRandom, &rp(), &USER, 0).unwrap();
        let c = a.create(
            o["challenge"].as_str().unwrap(),
            "https://evil.example.com",
            "desk.example.com",
        );
        assert_eq!(refused_registration(&db, &c), (400, "wrong_origin"));

        let o = register_options(&db, &OsRandom, &rp(), &USER, 0).unwrap();
        let c = a.create(o["challenge"].as_str().unwrap(), BASE, "evil.example.com");
        assert_eq!(refused_registration(&db, &c), (400, "wrong_origin"));

        let mut a = registered(&db);
        let o = assertion_options(&db, &OsRandom, &rp(), "u1", 10).unwrap();
        let c = a.get(o["challenge"].as_str().unwrap(), "http://desk.example.com");
        let e = verify_assertion(&db, &rp(), "u1", &CredentialIn::from_json(&c).unwrap(), 11)
            .unwrap_err();
        assert_eq!(e.code(), "wrong_origin");
    }

    #[test]
    fn bad_signature_and_unknown_credential_fail() {
        let db = db();
        let mut a = registered(&db);
        let o = assertion_options(&db, &OsRandom, &rp(), "u1", 10).unwrap();
        let mut c = a.get(o["challenge"].as_str().unwrap(), BASE);
        // Another key signs: the stored key does not verify it.
        let other = SigningKey::from_slice(&[9u8; 32]).unwrap();
        let ad = decode(c["response"]["authenticatorData"].as_str().unwrap(), "x").unwrap();
        let cd = decode(c["response"]["clientDataJSON"].as_str().unwrap(), "x").unwrap();
        let mut msg = ad.clone();
        msg.extend_from_slice(&Sha256::digest(&cd));
        let sig: p256::ecdsa::Signature = other.sign(&msg);
        c["response"]["signature"] = json!(b64url(sig.to_der().as_bytes()));
        assert!(
            !verify_assertion(&db, &rp(), "u1", &CredentialIn::from_json(&c).unwrap(), 11).unwrap()
        );
        // Another user's assertion options never list this credential; even if
        // the id is sent, it is not theirs.
        crate::backup_codes::regenerate(&db, &OsRandom, &crate::testutil::keys(), "u2", 0).unwrap();
        let o = challenges::put(&db, "u2", LOGIN, "abc", 100);
        o.unwrap();
        let c = a.get("abc", BASE);
        assert!(
            !verify_assertion(&db, &rp(), "u2", &CredentialIn::from_json(&c).unwrap(), 12).unwrap()
        );
    }

    #[test]
    fn malformed_payloads_are_400() {
        let db = db();
        let a = Authenticator::new();
        let o = register_options(&db, &OsRandom, &rp(), &USER, 0).unwrap();
        let mut c = a.create(o["challenge"].as_str().unwrap(), BASE, "desk.example.com");
        c["response"]["attestationObject"] = json!(b64url(&[0xa1, 0x63, 0x66, 0x6d]));
        let e = register(
            &db,
            &rp(),
            "u1",
            &CredentialIn::from_json(&c).unwrap(),
            "K",
            1,
        )
        .unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "invalid_credential"));
        for bad_json in [
            json!({}),
            json!({"id": 5}),
            json!({"id": "x", "response": {}}),
        ] {
            assert_eq!(
                CredentialIn::from_json(&bad_json).unwrap_err().status(),
                400
            );
        }
        let mut c = a.create("x", BASE, "desk.example.com");
        c["response"]["clientDataJSON"] = json!("%%%");
        let e = register(
            &db,
            &rp(),
            "u1",
            &CredentialIn::from_json(&c).unwrap(),
            "K",
            1,
        )
        .unwrap_err();
        assert_eq!(e.status(), 400);
        // Truncated authenticator data and garbage COSE keys.
        assert!(parse_auth_data(&[0u8; 36]).is_err());
        let mut ad = a.auth_data("desk.example.com", FLAG_UP, true);
        ad.truncate(60);
        assert!(parse_auth_data(&ad).is_err());
        assert!(parse_cose_key(&[0xff, 0x00]).is_err());
        let ok_kind = cbor(&Cbor::Map(vec![(int(1), int(1)), (int(3), int(-8))]));
        assert_eq!(
            parse_cose_key(&ok_kind).unwrap_err().code(),
            "unsupported_algorithm"
        );
        // A deeply nested CBOR bomb is refused, not a crash.
        let mut bomb = vec![0x81u8; 100_000];
        bomb.push(0x00);
        assert!(parse_attestation_object(&bomb).is_err());
    }

    #[test]
    fn cose_key_is_cut_before_extensions() {
        let a = Authenticator::new();
        let mut ad = a.auth_data("desk.example.com", FLAG_UP, true);
        let key_len = a.cose_key().len();
        ad[32] |= 0x80; // extension data follows
        ad.extend_from_slice(&cbor(&Cbor::Map(vec![(
            Cbor::Text("credProtect".into()),
            int(1),
        )])));
        let parsed = parse_auth_data(&ad).unwrap();
        let (id, key) = parsed.attested.unwrap();
        assert_eq!(id, a.id);
        assert_eq!(key.len(), key_len);
        assert_eq!(parse_cose_key(&key).unwrap().alg(), ES256);
    }

    include!("testdata/rsa_test_key.rs");

    #[test]
    fn rs256_signatures_verify() {
        use rsa::signature::{SignatureEncoding, Signer as _};
        let n = rsa::BigUint::parse_bytes(RSA_N.as_bytes(), 16).unwrap();
        let d = rsa::BigUint::parse_bytes(RSA_D.as_bytes(), 16).unwrap();
        let p = rsa::BigUint::parse_bytes(RSA_P.as_bytes(), 16).unwrap();
        let q = rsa::BigUint::parse_bytes(RSA_Q.as_bytes(), 16).unwrap();
        let e = rsa::BigUint::from(65537u32);
        let private =
            rsa::RsaPrivateKey::from_components(n.clone(), e.clone(), d, vec![p, q]).unwrap();
        let signer = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(private);
        let cose = cbor(&Cbor::Map(vec![
            (int(1), int(3)),
            (int(3), int(-257)),
            (int(-1), Cbor::Bytes(n.to_bytes_be())),
            (int(-2), Cbor::Bytes(e.to_bytes_be())),
        ]));
        let key = parse_cose_key(&cose).unwrap();
        assert_eq!(key.alg(), RS256);
        let sig = signer.sign(b"message").to_vec();
        assert!(key.verify(b"message", &sig));
        assert!(!key.verify(b"massage", &sig));
        assert!(!key.verify(b"message", &sig[1..]));
    }
}
