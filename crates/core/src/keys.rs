//! Keys with a purpose and an id: signed links and data at rest, each rotatable
//! without locking anyone out.
//!
//! # Two purposes, two secrets
//!
//! | purpose | Spin variables | protects | lifetime of what it makes |
//! |---|---|---|---|
//! | links | `link_key`, `link_key_previous` | signed links (approve, unsubscribe, rating, …) | minutes to days |
//! | data  | `data_key`, `data_key_previous` | sealed TOTP secrets, sealed code digests | as long as the row |
//!
//! A secret is never used raw: [`LinkKeys`] and [`DataKeys`] derive their keys
//! with HKDF-SHA256 (fixed salt, one `info` label per purpose), so one secret
//! value set for both purposes still gives unrelated keys. Each derived key has a
//! short **key id** (8 base64url characters, itself HKDF output, so it reveals
//! nothing about the secret) that is written into everything the key makes.
//! Everything made with the current or the previous key verifies or opens;
//! new things are always made with the current key.
//!
//! Which secret is current comes from [`crate::settings::link_keys`] and
//! [`crate::settings::data_keys`] (in a component: `ctx.link_keys()`,
//! `ctx.data_keys()`): the new variables when set, else the old single
//! `link_secret`, else on plain-http localhost a random per-data-dir key.
//!
//! # Signed links
//!
//! ```ignore
//! use edgedesk_core::keys::{sign_link, verify_link};
//! let keys = ctx.link_keys()?;
//! let token = sign_link(&keys, "unsubscribe", &request_id, now + 30 * 86_400);
//! let url = format!("{base}/unsubscribe?token={token}"); // token is URL-safe
//! // later, in the handler of that link:
//! let Some(request_id) = verify_link(&keys, "unsubscribe", &token, now) else { /* 400 invalid_token */ };
//! ```
//!
//! A token is `<key id>.<expires_at>.<base64url subject>.<base64url mac>` where
//! the MAC is HMAC-SHA256 over the purpose, key id, expiry and subject (each
//! length-prefixed, so no two inputs collide), compared in constant time. The
//! purpose is not in the token: a link made for one purpose never verifies for
//! another. [`check_link`] says why a token was refused (for support tools);
//! a handler answering a user should use [`verify_link`] and not tell why.
//! Links are not single-use: when a link must work once, keep a row of its own.
//!
//! # Sealed data
//!
//! [`DataKeys::seal`] encrypts with XChaCha20-Poly1305 (RustCrypto
//! `chacha20poly1305`, random 192-bit nonces, so random nonces never collide in
//! practice) into the text `v1.<key id>.<base64url(nonce || ciphertext || tag)>`.
//! The associated data binds the key id, a `context` label (what the value is)
//! and the owner (the user id): a sealed value copied into another user's row,
//! or into another column, does not open. [`DataKeys::open`] says which key
//! opened it; a caller re-seals a value whose key is not the current one
//! ([`Opened::stale`]) the next time it uses it, and an admin route re-seals
//! the rest. Values made before key ids existed have no `v1.` prefix: they
//! were made with the raw `link_secret` (or the raw localhost key) and read as
//! key id [`LEGACY_ID`] through [`DataKeys::legacy_secret`] until re-sealed.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key as AeadKey, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::random::Random;
use crate::token::{b64url, b64url_decode, ct_eq};

/// The key id of values made before key ids existed (raw `link_secret`).
pub const LEGACY_ID: &str = "legacy";
/// The prefix of a sealed value (format version 1).
pub const SEALED_PREFIX: &str = "v1.";
/// Characters in a key id.
pub const KEY_ID_LEN: usize = 8;

/// HKDF salt: fixed and public; it separates EdgeDesk's derivations from any
/// other use of the same secret.
const SALT: &[u8] = b"edgedesk/keys/v1";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Longest token [`check_link`] looks at; longer input is refused unparsed.
const MAX_TOKEN_LEN: usize = 4096;

/// What a key is for; each purpose derives its own key from a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Link,
    Data,
}

impl Purpose {
    fn key_info(self) -> &'static [u8] {
        match self {
            Purpose::Link => b"edgedesk/link-hmac",
            Purpose::Data => b"edgedesk/data-seal",
        }
    }
    fn id_info(self) -> &'static [u8] {
        match self {
            Purpose::Link => b"edgedesk/key-id/link",
            Purpose::Data => b"edgedesk/key-id/data",
        }
    }
}

/// One derived 256-bit key and its id. `Debug` shows the id only: keys never
/// reach a log.
#[derive(Clone)]
pub struct Key {
    id: String,
    bytes: [u8; 32],
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", self.id)
    }
}

impl Key {
    fn derive(secret: &[u8], purpose: Purpose) -> Key {
        let hk = Hkdf::<Sha256>::new(Some(SALT), secret);
        let mut bytes = [0u8; 32];
        let mut id = [0u8; 6];
        // expand fails only for outputs longer than 255 * 32 bytes.
        #[allow(clippy::expect_used)]
        {
            hk.expand(purpose.key_info(), &mut bytes)
                .expect("32 bytes is a valid HKDF length");
            hk.expand(purpose.id_info(), &mut id)
                .expect("6 bytes is a valid HKDF length");
        }
        Key {
            id: b64url(&id),
            bytes,
        }
    }

    /// The short public id written into what this key makes.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The current key and the others still accepted, for one purpose.
#[derive(Debug, Clone)]
struct Ring {
    current: Key,
    /// `previous` first, then any fallback (e.g. the old `link_secret`).
    accepted: Vec<(Key, Role)>,
}

/// Why a non-current key is still accepted (shown by the admin status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Current,
    Previous,
    /// Derived from the old single `link_secret` (or the localhost key) and
    /// still read for data made with it.
    LinkSecret,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Current => "current",
            Role::Previous => "previous",
            Role::LinkSecret => "link_secret",
        }
    }
}

impl Ring {
    fn new(purpose: Purpose, current: &[u8], previous: Option<&[u8]>) -> Ring {
        let current = Key::derive(current, purpose);
        let mut ring = Ring {
            current,
            accepted: Vec::new(),
        };
        if let Some(p) = previous.filter(|p| !p.is_empty()) {
            ring.add(Key::derive(p, purpose), Role::Previous);
        }
        ring
    }

    fn add(&mut self, key: Key, role: Role) {
        let known = key.id == self.current.id || self.accepted.iter().any(|(k, _)| k.id == key.id);
        if !known {
            self.accepted.push((key, role));
        }
    }

    fn find(&self, id: &str) -> Option<(&Key, Role)> {
        if self.current.id == id {
            return Some((&self.current, Role::Current));
        }
        self.accepted
            .iter()
            .find(|(k, _)| k.id == id)
            .map(|(k, r)| (k, *r))
    }

    fn ids(&self) -> Vec<(String, Role)> {
        let mut out = vec![(self.current.id.clone(), Role::Current)];
        out.extend(self.accepted.iter().map(|(k, r)| (k.id.clone(), *r)));
        out
    }
}

// ------------------------------------------------------------------ links

/// The keys for signing links: current (signs) and previous (still verifies).
#[derive(Debug, Clone)]
pub struct LinkKeys {
    ring: Ring,
}

impl LinkKeys {
    /// From secret values (as set in the variables); `previous` may be empty.
    pub fn new(current: &[u8], previous: Option<&[u8]>) -> LinkKeys {
        LinkKeys {
            ring: Ring::new(Purpose::Link, current, previous),
        }
    }

    pub fn current_id(&self) -> &str {
        self.ring.current.id()
    }

    pub fn previous_id(&self) -> Option<&str> {
        self.ring
            .accepted
            .iter()
            .find(|(_, r)| *r == Role::Previous)
            .map(|(k, _)| k.id())
    }
}

/// A verified link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub subject: String,
    pub expires_at: i64,
    pub key_id: String,
}

/// Why a link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// Not a token at all.
    Malformed,
    /// Made with a key that is neither current nor previous (e.g. removed).
    UnknownKey,
    /// Altered, or made for another purpose.
    BadSignature,
    /// Genuine, but past its expiry.
    Expired,
}

impl LinkError {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkError::Malformed => "malformed",
            LinkError::UnknownKey => "unknown_key",
            LinkError::BadSignature => "bad_signature",
            LinkError::Expired => "expired",
        }
    }
}

fn link_mac(key: &Key, purpose: &str, expires_at: &str, subject: &str) -> [u8; 32] {
    #[allow(clippy::expect_used)] // HMAC takes keys of any length
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&key.bytes).expect("HMAC accepts any key length");
    for part in ["edgedesk/link/v1", purpose, key.id(), expires_at, subject] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    mac.finalize().into_bytes().into()
}

/// A URL-safe token for `subject`, valid for `purpose` until `expires_at`
/// (unix seconds), signed with the current link key.
pub fn sign_link(keys: &LinkKeys, purpose: &str, subject: &str, expires_at: i64) -> String {
    let key = &keys.ring.current;
    let exp = expires_at.to_string();
    let mac = link_mac(key, purpose, &exp, subject);
    format!(
        "{}.{exp}.{}.{}",
        key.id(),
        b64url(subject.as_bytes()),
        b64url(&mac)
    )
}

/// The subject of a genuine, unexpired `purpose` token made with the current or
/// the previous link key; `None` otherwise (whatever the reason).
pub fn verify_link(keys: &LinkKeys, purpose: &str, token: &str, now: i64) -> Option<String> {
    check_link(keys, purpose, token, now)
        .ok()
        .map(|l| l.subject)
}

/// Like [`verify_link`], and says why a token is refused.
pub fn check_link(
    keys: &LinkKeys,
    purpose: &str,
    token: &str,
    now: i64,
) -> Result<Link, LinkError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(LinkError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(kid), Some(exp), Some(subject_b64), Some(mac_b64), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(LinkError::Malformed);
    };
    // Only the canonical decimal form: the MAC covers the text as signed.
    let expires_at: i64 = exp.parse().map_err(|_| LinkError::Malformed)?;
    if expires_at.to_string() != exp {
        return Err(LinkError::Malformed);
    }
    let subject = b64url_decode(subject_b64)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(LinkError::Malformed)?;
    let mac = b64url_decode(mac_b64).ok_or(LinkError::Malformed)?;
    let (key, _) = keys.ring.find(kid).ok_or(LinkError::UnknownKey)?;
    // Constant-time: timing must not tell how much of a forged MAC was right.
    if !ct_eq(&link_mac(key, purpose, exp, &subject), &mac) {
        return Err(LinkError::BadSignature);
    }
    if expires_at <= now {
        return Err(LinkError::Expired);
    }
    Ok(Link {
        subject,
        expires_at,
        key_id: kid.to_owned(),
    })
}

// ------------------------------------------------------------------ data

/// The keys protecting data at rest: current (seals), previous and fallbacks
/// (still open), and the raw legacy secret for values made before key ids.
#[derive(Clone)]
pub struct DataKeys {
    ring: Ring,
    legacy: Option<Vec<u8>>,
    current_is_link_secret: bool,
}

impl std::fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKeys")
            .field("ring", &self.ring)
            .field("legacy", &self.legacy.is_some())
            .field("current_is_link_secret", &self.current_is_link_secret)
            .finish()
    }
}

/// What opening a sealed value gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub plaintext: Vec<u8>,
    pub key_id: String,
    /// Made with a key other than the current one: re-seal when convenient.
    pub stale: bool,
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Not a `v1.` sealed value (perhaps a legacy one: see [`DataKeys::legacy_secret`]).
    NotSealed,
    /// Sealed with a key that is no longer configured.
    UnknownKey,
    /// Altered, or opened as another owner or context.
    Tampered,
}

impl DataKeys {
    /// From secret values; `previous` may be empty.
    pub fn new(current: &[u8], previous: Option<&[u8]>) -> DataKeys {
        DataKeys {
            ring: Ring::new(Purpose::Data, current, previous),
            legacy: None,
            current_is_link_secret: false,
        }
    }

    /// Marks the current key as derived from `link_secret` (or the localhost
    /// key) because `data_key` is unset: removing that secret would then
    /// remove the current data key.
    pub fn current_from_link_secret(mut self) -> DataKeys {
        self.current_is_link_secret = true;
        self
    }

    /// See [`DataKeys::current_from_link_secret`].
    pub fn current_is_link_secret(&self) -> bool {
        self.current_is_link_secret
    }

    /// Also opens what `secret` sealed (used for the old `link_secret`, which
    /// was the data key before `data_key` existed).
    pub fn with_fallback(mut self, secret: &[u8]) -> DataKeys {
        if !secret.is_empty() {
            self.ring
                .add(Key::derive(secret, Purpose::Data), Role::LinkSecret);
        }
        self
    }

    /// The raw secret that made legacy values (before key ids existed).
    pub fn with_legacy(mut self, secret: &[u8]) -> DataKeys {
        if !secret.is_empty() {
            self.legacy = Some(secret.to_vec());
        }
        self
    }

    pub fn current_id(&self) -> &str {
        self.ring.current.id()
    }

    pub fn previous_id(&self) -> Option<&str> {
        self.ring
            .accepted
            .iter()
            .find(|(_, r)| *r == Role::Previous)
            .map(|(k, _)| k.id())
    }

    /// Every key id that opens, with why it is accepted.
    pub fn key_ids(&self) -> Vec<(String, Role)> {
        self.ring.ids()
    }

    /// The raw legacy secret, only for reading values made before key ids
    /// existed (then re-sealed with [`DataKeys::seal`]). `None` when unset.
    pub fn legacy_secret(&self) -> Option<&[u8]> {
        self.legacy.as_deref()
    }

    /// The key id of a stored value without opening it: the id for `v1.`
    /// values, [`LEGACY_ID`] for anything else.
    pub fn key_id_of(sealed: &[u8]) -> &str {
        parse(sealed).map(|(kid, _)| kid).unwrap_or(LEGACY_ID)
    }

    /// True when `sealed` is a `v1.` value made with the current key.
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        Self::key_id_of(sealed) == self.current_id()
    }

    /// Seals `plaintext` for `owner` (e.g. the user id) under `context` (what
    /// the value is, e.g. `twofactor/totp-secret`) with the current key.
    pub fn seal(&self, rng: &dyn Random, context: &str, owner: &str, plaintext: &[u8]) -> String {
        let key = &self.ring.current;
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce);
        let aad = aad(key.id(), context, owner);
        let cipher = XChaCha20Poly1305::new(AeadKey::from_slice(&key.bytes));
        // Encryption fails only for inputs beyond 256 GiB.
        #[allow(clippy::expect_used)]
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 seals any small input");
        let mut body = Vec::with_capacity(NONCE_LEN + ct.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&ct);
        format!("{SEALED_PREFIX}{}.{}", key.id(), b64url(&body))
    }

    /// Opens a value made by [`DataKeys::seal`] with the same `context` and
    /// `owner`, with whichever configured key its id names.
    pub fn open(&self, context: &str, owner: &str, sealed: &[u8]) -> Result<Opened, OpenError> {
        let (kid, body) = parse(sealed).ok_or(OpenError::NotSealed)?;
        let (key, role) = self.ring.find(kid).ok_or(OpenError::UnknownKey)?;
        let body = b64url_decode(body).ok_or(OpenError::Tampered)?;
        if body.len() < NONCE_LEN + TAG_LEN {
            return Err(OpenError::Tampered);
        }
        let (nonce, ct) = body.split_at(NONCE_LEN);
        let aad = aad(kid, context, owner);
        let cipher = XChaCha20Poly1305::new(AeadKey::from_slice(&key.bytes));
        let plaintext = cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| OpenError::Tampered)?;
        Ok(Opened {
            plaintext,
            key_id: kid.to_owned(),
            stale: role != Role::Current,
        })
    }
}

/// `v1.<kid>.<body>` -> (kid, body); `None` for anything else.
fn parse(sealed: &[u8]) -> Option<(&str, &str)> {
    let text = std::str::from_utf8(sealed.strip_prefix(SEALED_PREFIX.as_bytes())?).ok()?;
    let (kid, body) = text.split_once('.')?;
    let ok_kid = kid.len() == KEY_ID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok_kid.then_some((kid, body))
}

/// Associated data: version, key id, context and owner, length-prefixed.
fn aad(kid: &str, context: &str, owner: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + context.len() + owner.len());
    for part in ["edgedesk/seal/v1", kid, context, owner] {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    const CTX: &str = "test/secret";

    #[test]
    fn seal_and_open_round_trip_with_the_current_key() {
        let keys = DataKeys::new(b"data secret A", None);
        let sealed = keys.seal(&OsRandom, CTX, "u1", b"twenty bytes secret!");
        assert!(sealed.starts_with(&format!("v1.{}.", keys.current_id())));
        assert!(!sealed.contains("twenty"));
        let o = keys.open(CTX, "u1", sealed.as_bytes()).unwrap();
        assert_eq!(o.plaintext, b"twenty bytes secret!");
        assert_eq!(o.key_id, keys.current_id());
        assert!(!o.stale);
        assert!(keys.is_current(sealed.as_bytes()));
        // Two seals of the same value differ (random nonce).
        assert_ne!(
            sealed,
            keys.seal(&OsRandom, CTX, "u1", b"twenty bytes secret!")
        );
    }

    #[test]
    fn previous_key_opens_and_marks_stale_until_removed() {
        let old = DataKeys::new(b"A", None);
        let sealed = old.seal(&OsRandom, CTX, "u1", b"s");
        let rotated = DataKeys::new(b"B", Some(b"A"));
        let o = rotated.open(CTX, "u1", sealed.as_bytes()).unwrap();
        assert_eq!((o.plaintext.as_slice(), o.stale), (&b"s"[..], true));
        assert_eq!(rotated.previous_id(), Some(old.current_id()));
        assert!(!rotated.is_current(sealed.as_bytes()));
        let done = DataKeys::new(b"B", None);
        assert_eq!(
            done.open(CTX, "u1", sealed.as_bytes()),
            Err(OpenError::UnknownKey)
        );
    }

    #[test]
    fn wrong_key_id_does_not_open() {
        let keys = DataKeys::new(b"A", None);
        let sealed = keys.seal(&OsRandom, CTX, "u1", b"s");
        // Relabel the value with another configured key's id: the id is in the
        // associated data and the key differs, so it fails as tampered.
        let other = DataKeys::new(b"A", Some(b"B"));
        let b_id = other.previous_id().unwrap().to_owned();
        let relabelled = sealed.replacen(keys.current_id(), &b_id, 1);
        assert_eq!(
            other.open(CTX, "u1", relabelled.as_bytes()),
            Err(OpenError::Tampered)
        );
        let unknown = sealed.replacen(keys.current_id(), "AAAAAAAA", 1);
        assert_eq!(
            keys.open(CTX, "u1", unknown.as_bytes()),
            Err(OpenError::UnknownKey)
        );
    }

    #[test]
    fn tampered_ciphertext_does_not_open() {
        let keys = DataKeys::new(b"A", None);
        let sealed = keys.seal(&OsRandom, CTX, "u1", b"secret");
        let (head, body) = sealed.rsplit_once('.').unwrap();
        let mut raw = b64url_decode(body).unwrap();
        for i in [0, NONCE_LEN, raw.len() - 1] {
            raw[i] ^= 1;
            let bad = format!("{head}.{}", b64url(&raw));
            assert_eq!(
                keys.open(CTX, "u1", bad.as_bytes()),
                Err(OpenError::Tampered),
                "byte {i}"
            );
            raw[i] ^= 1;
        }
        let short = format!("{head}.{}", b64url(&raw[..NONCE_LEN + TAG_LEN - 1]));
        assert_eq!(
            keys.open(CTX, "u1", short.as_bytes()),
            Err(OpenError::Tampered)
        );
        assert_eq!(
            keys.open(CTX, "u1", format!("{head}.!!").as_bytes()),
            Err(OpenError::Tampered)
        );
    }

    #[test]
    fn value_swapped_to_another_owner_or_context_does_not_open() {
        let keys = DataKeys::new(b"A", None);
        let sealed = keys.seal(&OsRandom, CTX, "u1", b"secret");
        assert_eq!(
            keys.open(CTX, "u2", sealed.as_bytes()),
            Err(OpenError::Tampered)
        );
        assert_eq!(
            keys.open("test/other", "u1", sealed.as_bytes()),
            Err(OpenError::Tampered)
        );
    }

    #[test]
    fn non_v1_values_read_as_legacy() {
        for v in [
            &b""[..],
            b"\x00\x01random legacy bytes",
            b"v1.short.x",
            b"v1.toolongid.x",
        ] {
            assert_eq!(DataKeys::key_id_of(v), LEGACY_ID);
        }
        let keys = DataKeys::new(b"A", None).with_legacy(b"old link secret");
        assert_eq!(keys.legacy_secret(), Some(&b"old link secret"[..]));
        assert_eq!(keys.open(CTX, "u1", b"\x00\x01"), Err(OpenError::NotSealed));
    }

    #[test]
    fn purposes_and_secrets_give_unrelated_keys_and_ids() {
        let d = DataKeys::new(b"same", None);
        let l = LinkKeys::new(b"same", None);
        assert_ne!(d.current_id(), l.current_id());
        assert_ne!(d.ring.current.bytes, l.ring.current.bytes);
        // Never the raw secret.
        assert_ne!(&d.ring.current.bytes[..4], b"same");
        assert_ne!(
            DataKeys::new(b"a", None).current_id(),
            DataKeys::new(b"b", None).current_id()
        );
        // Deterministic: the same secret gives the same id on every instance.
        assert_eq!(
            DataKeys::new(b"a", None).current_id(),
            DataKeys::new(b"a", None).current_id()
        );
        assert_eq!(d.current_id().len(), KEY_ID_LEN);
    }

    #[test]
    fn fallback_opens_but_is_not_current() {
        let old = DataKeys::new(b"link secret", None);
        let sealed = old.seal(&OsRandom, CTX, "u1", b"s");
        let keys = DataKeys::new(b"new data key", None).with_fallback(b"link secret");
        let o = keys.open(CTX, "u1", sealed.as_bytes()).unwrap();
        assert!(o.stale);
        assert!(
            keys.key_ids()
                .contains(&(old.current_id().to_owned(), Role::LinkSecret))
        );
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let keys = DataKeys::new(b"A", None).with_legacy(b"legacy-secret-value");
        let s = format!("{keys:?} {:?}", LinkKeys::new(b"A", None));
        assert!(!s.contains("legacy-secret-value"));
        assert!(!s.contains("bytes"));
    }

    // ------------------------------------------------------------- links

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn link_round_trip() {
        let keys = LinkKeys::new(b"L1", None);
        let t = sign_link(&keys, "unsubscribe", "SD-12/u1", NOW + 60);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        assert_eq!(
            verify_link(&keys, "unsubscribe", &t, NOW).as_deref(),
            Some("SD-12/u1")
        );
        let l = check_link(&keys, "unsubscribe", &t, NOW).unwrap();
        assert_eq!(
            (l.expires_at, l.key_id.as_str()),
            (NOW + 60, keys.current_id())
        );
    }

    #[test]
    fn link_for_another_purpose_or_altered_fails() {
        let keys = LinkKeys::new(b"L1", None);
        let t = sign_link(&keys, "approve", "req-1", NOW + 60);
        assert_eq!(
            check_link(&keys, "unsubscribe", &t, NOW),
            Err(LinkError::BadSignature)
        );
        let parts: Vec<&str> = t.split('.').collect();
        let other_subject = format!(
            "{}.{}.{}.{}",
            parts[0],
            parts[1],
            b64url(b"req-2"),
            parts[3]
        );
        assert_eq!(
            check_link(&keys, "approve", &other_subject, NOW),
            Err(LinkError::BadSignature)
        );
        let later = format!("{}.{}.{}.{}", parts[0], NOW + 999_999, parts[2], parts[3]);
        assert_eq!(
            check_link(&keys, "approve", &later, NOW),
            Err(LinkError::BadSignature)
        );
        let padded = format!("{}.0{}.{}.{}", parts[0], parts[1], parts[2], parts[3]);
        assert_eq!(
            check_link(&keys, "approve", &padded, NOW),
            Err(LinkError::Malformed)
        );
        for bad in ["", "a.b.c", "a.b.c.d.e", &"x".repeat(5000), "k.1.!!.AA"] {
            assert!(verify_link(&keys, "approve", bad, NOW).is_none(), "{bad}");
        }
    }

    #[test]
    fn link_expires() {
        let keys = LinkKeys::new(b"L1", None);
        let t = sign_link(&keys, "rating", "SD-1", NOW + 60);
        assert!(verify_link(&keys, "rating", &t, NOW + 59).is_some());
        assert_eq!(
            check_link(&keys, "rating", &t, NOW + 60),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn link_signed_with_previous_key_is_valid_until_removed() {
        let before = LinkKeys::new(b"L1", None);
        let t = sign_link(&before, "approve", "req-1", NOW + 3600);
        let rotated = LinkKeys::new(b"L2", Some(b"L1"));
        assert_eq!(
            verify_link(&rotated, "approve", &t, NOW).as_deref(),
            Some("req-1")
        );
        // New links carry the new key's id.
        let fresh = sign_link(&rotated, "approve", "req-1", NOW + 3600);
        assert!(fresh.starts_with(rotated.current_id()));
        assert_ne!(rotated.current_id(), before.current_id());
        let removed = LinkKeys::new(b"L2", None);
        assert_eq!(
            check_link(&removed, "approve", &t, NOW),
            Err(LinkError::UnknownKey)
        );
        assert!(verify_link(&removed, "approve", &fresh, NOW).is_some());
    }
}
