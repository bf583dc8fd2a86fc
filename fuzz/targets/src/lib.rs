//! The fuzz targets' bodies: each parser of hostile input, run natively, with
//! the properties it must keep beyond "does not panic".
//!
//! Two users share these functions (never copies of them): the cargo-fuzz
//! binaries in `fuzz/fuzz_targets/` (libFuzzer, `scripts/fuzz.sh`), and the
//! stable test `tests/corpus.rs`, which replays every committed seed file
//! through the same function in `cargo test --workspace` (the CI smoke).
//! A property that fails panics, which libFuzzer reports as a crash.
//!
//! | target | parser | properties |
//! |---|---|---|
//! | `multipart` | attachments' streaming multipart parser, file names, ranges | same parts however the body is split; each part's bytes are a slice of the body holding no delimiter; clean names/types/ranges stay clean |
//! | `json_bodies` | every JSON body a route reads (`JSON_BODIES`), through `Req::json` and the route's own checks | never a 5xx; a 400 names its field |
//! | `manifest` | the host's spin.toml loader (no wasmtime) | a loaded app is consistent (ids, variables, routes); loading is deterministic |
//! | `webauthn` | authenticator data, attestation objects (CBOR), COSE keys, client data, credentials | parsed fields are the bytes they came from; the COSE key is exactly one CBOR item |
//! | `static_path` | the portal's path normalisation and percent-decoding | a safe path never leaves the root nor holds `..` or a dotfile; decoding matches RFC 3986 |
//! | `signed_link` | signed-link tokens (`core::keys`) | an accepted token re-signs to itself; an altered one is refused; round trips |

use std::path::{Component, Path};

use edgedesk_attachments::multipart::{self, Event, Parser, Part};
use edgedesk_attachments::names;
use edgedesk_core::ApiError;
use edgedesk_core::keys::{self, LinkError, LinkKeys};
use edgedesk_host::manifest;
use edgedesk_host::template::validate_key;
use edgedesk_portal::static_files;
use edgedesk_twofactor::webauthn;
use edgedesk_web::Req;
use edgedesk_web::request::{JsonBody, percent_decode};

/// A target: its name and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target by name (the name of its `fuzz/fuzz_targets/<name>.rs`, of
/// its committed seeds `fuzz/seeds/<name>/` and of its working corpus
/// `fuzz/corpus/<name>/`).
pub const TARGETS: &[Target] = &[
    ("multipart", multipart),
    ("json_bodies", json_bodies),
    ("manifest", manifest),
    ("webauthn", webauthn),
    ("static_path", static_path),
    ("signed_link", signed_link),
];

// ---------------------------------------------------------------- multipart

/// A part as collected from the parser's events.
#[derive(Debug, PartialEq, Eq)]
struct Collected {
    part: Part,
    data: Vec<u8>,
}

/// Feeds `body` in pieces of `step` bytes (0: at once) and collects the parts,
/// checking the event order on the way.
fn parse_parts(
    boundary: &str,
    body: &[u8],
    step: usize,
) -> Result<Vec<Collected>, multipart::Error> {
    let mut parser = Parser::new(boundary);
    let mut parts: Vec<Collected> = Vec::new();
    let mut open = false;
    let mut on = |e: Event<'_>| -> Result<(), multipart::Error> {
        match e {
            Event::Part(part) => {
                assert!(!open, "a part began inside a part");
                open = true;
                parts.push(Collected {
                    part,
                    data: Vec::new(),
                });
            }
            Event::Data(d) => {
                assert!(open, "data outside a part");
                assert!(!d.is_empty(), "an empty data event");
                if let Some(p) = parts.last_mut() {
                    p.data.extend_from_slice(d);
                }
            }
            Event::End => {
                assert!(open, "a part ended that never began");
                open = false;
            }
        }
        Ok(())
    };
    let step = if step == 0 { body.len().max(1) } else { step };
    for piece in body.chunks(step) {
        parser.feed(piece, &mut on)?;
    }
    parser.finish()?;
    assert!(!open, "the body finished inside a part");
    Ok(parts)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Input: one selector byte (low nibble: feed step; high bit: the boundary is
/// the next line of the input, else a fixed one), then the body. The upload
/// route takes the boundary from the content type, so does this target.
pub fn multipart(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (boundary, body) = if sel & 0x80 != 0 {
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let line = String::from_utf8_lossy(&rest[..end]);
        let body = rest.get(end + 1..).unwrap_or_default();
        match multipart::boundary(&format!("multipart/form-data; boundary={line}")) {
            Some(b) => {
                assert!(!b.is_empty() && b.len() <= 70);
                (b, body)
            }
            None => return,
        }
    } else {
        ("XyZ".to_owned(), rest)
    };
    let step = usize::from(sel & 0x0f);
    let whole = parse_parts(&boundary, body, 0);
    let split = parse_parts(&boundary, body, step.max(1));
    assert_eq!(whole, split, "the parts depend on how the body was split");
    if let Ok(parts) = whole {
        let delimiter = format!("\r\n--{boundary}");
        for p in &parts {
            assert!(
                contains(body, &p.data),
                "a part's bytes are not a slice of the body"
            );
            assert!(
                !contains(&p.data, delimiter.as_bytes()),
                "a part holds a delimiter"
            );
            check_names(&p.part);
        }
    }
    // The same bytes as a Range header, against a size from the selector.
    if let Ok(h) = std::str::from_utf8(body) {
        let size = u64::from(sel) * 1000;
        match names::parse_range(Some(h), size) {
            names::Range::Part { start, end } => {
                assert!(start <= end && end < size, "range {start}-{end} of {size}")
            }
            names::Range::Full | names::Range::Unsatisfiable => {}
        }
    }
}

/// What the upload stores of a part's headers stays clean.
fn check_names(part: &Part) {
    let name = names::clean_filename(part.filename.as_deref().unwrap_or(""));
    assert!(!name.is_empty() && name.len() <= names::FILENAME_MAX);
    assert!(!name.contains(['/', '\\']), "path in {name:?}");
    assert!(!name.starts_with(['.', ' ']) && !name.ends_with(['.', ' ']));
    assert!(!name.chars().any(char::is_control));
    let disposition = names::content_disposition("attachment", &name);
    assert!(
        disposition.is_ascii() && !disposition.contains(['\r', '\n']),
        "header {disposition:?}"
    );
    let ct = names::clean_content_type(part.content_type.as_deref());
    assert!(ct.is_ascii() && !ct.contains([';', ' ', '\r', '\n', '"']));
    assert_eq!(ct.matches('/').count(), 1, "{ct:?}");
}

// ---------------------------------------------------------------- JSON

/// Every JSON body of every component, in a fixed order.
pub fn json_body_list() -> Vec<&'static JsonBody> {
    [
        edgedesk_auth::routes::JSON_BODIES,
        edgedesk_twofactor::routes::JSON_BODIES,
        edgedesk_approvals::routes::JSON_BODIES,
        edgedesk_notifications::JSON_BODIES,
        edgedesk_tickets::routes::JSON_BODIES,
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Input: one byte choosing the body type, then the body. Whatever arrives,
/// the answer is the contract's 4xx (never a 5xx or a panic), and a 400
/// about a field names it.
pub fn json_bodies(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let list = json_body_list();
    let b = list[usize::from(sel) % list.len()];
    let req = Req::new(
        "POST",
        "/fuzz",
        &[("content-type", "application/json")],
        body,
    );
    if let Err(e) = (b.parse)(&req) {
        check_error(b.route, &e);
    }
}

fn check_error(route: &str, e: &ApiError) {
    let status = e.status();
    assert!(
        (400..500).contains(&status) && status != 415,
        "{route}: {status} {e:?}"
    );
    let body = e.body();
    assert!(body["error"]["code"].is_string(), "{route}: {body}");
    // A field is named unless the fault is the whole body; an unknown member
    // named "" is named as it is (the first fuzz finding, not a fault:
    // serde reads a member's name, and refuses it, before its value).
    if let Some(field) = e.field_name() {
        assert!(
            !field.is_empty() || e.code() == "unknown_field",
            "{route}: an empty field name ({e:?})"
        );
    }
}

// ---------------------------------------------------------------- manifest

/// Input: manifest text. A manifest that loads is consistent: every trigger
/// names a defined component, ids and variable names follow Spin's rules,
/// templates name declared variables, routes are unique; loading twice gives
/// the same app.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/app/spin.toml");
    let dir = Path::new("/app");
    let Ok(app) = manifest::parse(text, path, dir) else {
        return;
    };
    for name in app.variables.keys() {
        assert!(validate_key(name).is_ok(), "variable {name:?}");
    }
    for (id, c) in &app.components {
        assert!(manifest::validate_component_id(id).is_ok(), "id {id:?}");
        assert_eq!(&c.id, id);
        for (name, t) in &c.variables {
            assert!(validate_key(name).is_ok(), "component variable {name:?}");
            for v in t.variable_names() {
                assert!(app.variables.contains_key(v), "undeclared {v:?}");
            }
        }
        for f in &c.files {
            if let manifest::FilesMount::Placement { destination, .. } = f {
                assert!(destination.starts_with('/'), "{destination:?}");
            }
        }
    }
    let mut routes = std::collections::HashSet::new();
    for t in &app.triggers {
        assert!(app.components.contains_key(&t.component), "{t:?}");
        if let manifest::TriggerRoute::Path(r) = &t.route {
            assert!(routes.insert(r.clone()), "duplicate route {r:?}");
        }
    }
    let again = manifest::parse(text, path, dir).map(|a| format!("{a:?}"));
    assert_eq!(
        again.ok(),
        Some(format!("{app:?}")),
        "loading is not stable"
    );
}

// ---------------------------------------------------------------- WebAuthn

/// Input: one byte choosing the parser, then its input.
pub fn webauthn(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 5 {
        0 => auth_data(rest),
        1 => {
            if let Ok((fmt, auth)) = webauthn::parse_attestation_object(rest) {
                let _ = fmt.len();
                auth_data(&auth);
            }
        }
        2 => cose_key(rest),
        3 => {
            let _ = webauthn::check_client_data(
                rest,
                "webauthn.get",
                "Y2hhbGxlbmdl",
                "https://desk.example.com",
            );
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(rest)
                && let Ok(c) = webauthn::CredentialIn::from_json(&v)
            {
                assert!(c.kind.as_deref().is_none_or(|k| k == "public-key"));
            }
        }
        _ => {
            if let Ok(url) = std::str::from_utf8(rest)
                && let Ok(rp) = webauthn::Rp::from_base_url(url, "Desk")
            {
                assert!(
                    rp.origin.starts_with("http://") || rp.origin.starts_with("https://"),
                    "{rp:?}"
                );
            }
        }
    }
}

/// Authenticator data: the parsed fields are the bytes they came from, the
/// credential id is 1 to 1023 bytes, and the public key is exactly one CBOR
/// item (extensions after it are not part of it).
fn auth_data(b: &[u8]) {
    let Ok(ad) = webauthn::parse_auth_data(b) else {
        return;
    };
    assert_eq!(&ad.rp_id_hash[..], &b[..32]);
    assert_eq!(ad.flags, b[32]);
    assert_eq!(ad.sign_count.to_be_bytes(), b[33..37]);
    match &ad.attested {
        None => assert_eq!(ad.flags & 0x40, 0, "attested flag without data"),
        Some((id, key)) => {
            assert_ne!(ad.flags & 0x40, 0);
            assert!((1..=1023).contains(&id.len()));
            let at = 37 + 16 + 2;
            assert_eq!(usize::from(u16::from_be_bytes([b[53], b[54]])), id.len());
            assert_eq!(&b[at..at + id.len()], &id[..]);
            let key_at = at + id.len();
            assert_eq!(&b[key_at..key_at + key.len()], &key[..]);
            let mut reader = &key[..];
            let item: Result<ciborium::Value, _> = ciborium::de::from_reader(&mut reader);
            assert!(item.is_ok() && reader.is_empty(), "the key is not one item");
            cose_key(key);
        }
    }
}

/// A COSE key that parses verifies nothing it did not sign, without panicking.
fn cose_key(b: &[u8]) {
    if let Ok(k) = webauthn::parse_cose_key(b) {
        assert!(k.alg() == webauthn::ES256 || k.alg() == webauthn::RS256);
        let _ = k.verify(b, b);
    }
}

// ---------------------------------------------------------------- static paths

/// RFC 3986 percent-decoding with `+` as a space (the query form the shared
/// decoder also serves): `%` and two hex digits is a byte, anything else stays.
fn reference_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len()
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit() =>
            {
                let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(b[i + 1]) * 16 + hex(b[i + 2]));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Input: a request path. The decoder agrees with RFC 3986; a path judged
/// safe has only plain segments, and every file it may name stays under the
/// root with no `..`, `.` or dotfile.
pub fn static_path(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    assert_eq!(
        percent_decode(raw),
        reference_decode(raw),
        "decoding {raw:?}"
    );
    let Some(segments) = static_files::safe_segments(raw) else {
        return;
    };
    for s in &segments {
        assert!(!s.is_empty() && s.len() <= 128);
        assert!(!s.starts_with('.'), "dot segment {s:?} from {raw:?}");
        assert!(
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
            "{s:?}"
        );
    }
    for c in static_files::candidates(raw, &segments) {
        let mut parts = Path::new(&c).components();
        assert_eq!(parts.next(), Some(Component::RootDir), "{c:?}");
        for p in parts {
            match p {
                Component::Normal(n) => {
                    assert!(!n.to_string_lossy().starts_with('.'), "{c:?}")
                }
                other => panic!("{c:?} from {raw:?} has {other:?}"),
            }
        }
    }
}

// ---------------------------------------------------------------- signed links

const NOW: i64 = 1_800_000_000;

fn link_keys() -> (LinkKeys, LinkKeys) {
    (
        LinkKeys::new(b"fuzz-current-key", Some(b"fuzz-previous-key")),
        LinkKeys::new(b"fuzz-previous-key", None),
    )
}

/// Input: one mode byte. Mode even: the rest is a token from outside; if it
/// verifies, signing its subject and expiry again gives the very same token
/// (no second spelling of a link). Mode odd: a link is signed from the rest
/// (expiry, subject), must verify to what was signed, and a one-byte change
/// chosen by the input must make it fail.
pub fn signed_link(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (keys, previous) = link_keys();
    if mode % 2 == 0 {
        let Ok(token) = std::str::from_utf8(rest) else {
            return;
        };
        for purpose in ["approve", "unsubscribe"] {
            if let Ok(link) = keys::check_link(&keys, purpose, token, NOW) {
                let signer = if link.key_id == keys.current_id() {
                    &keys
                } else {
                    &previous
                };
                assert_eq!(
                    keys::sign_link(signer, purpose, &link.subject, link.expires_at),
                    token,
                    "an accepted token has a second spelling"
                );
                assert!(link.expires_at > NOW);
            }
        }
        return;
    }
    if rest.len() < 12 {
        return;
    }
    let mut exp = [0u8; 8];
    exp.copy_from_slice(&rest[..8]);
    let expires_at = i64::from_be_bytes(exp);
    let pos = usize::from(u16::from_be_bytes([rest[8], rest[9]]));
    let (op, byte) = (rest[10], rest[11]);
    let subject = String::from_utf8_lossy(&rest[12..]).into_owned();
    let token = keys::sign_link(&keys, "approve", &subject, expires_at);
    let got = keys::check_link(&keys, "approve", &token, NOW);
    if token.len() > 4096 {
        assert_eq!(got, Err(LinkError::Malformed));
        return;
    }
    if expires_at > NOW {
        let link = got.unwrap_or_else(|e| panic!("a fresh link is refused: {e:?}"));
        assert_eq!(
            (link.subject.as_str(), link.expires_at),
            (&*subject, expires_at)
        );
        assert_eq!(link.key_id, keys.current_id());
        assert_eq!(
            keys::verify_link(&previous, "approve", &token, NOW),
            None,
            "another key verifies"
        );
    } else {
        assert_eq!(got, Err(LinkError::Expired));
    }
    assert!(keys::check_link(&keys, "unsubscribe", &token, NOW).is_err());
    // One change to the token: it must not verify as anything.
    let mut altered = token.clone().into_bytes();
    let at = pos % (altered.len() + 1);
    match op % 3 {
        0 if at < altered.len() => altered[at] = byte,
        1 => altered.insert(at, byte),
        _ if at < altered.len() => {
            altered.remove(at);
        }
        _ => return,
    }
    if let Ok(altered) = String::from_utf8(altered)
        && altered != token
    {
        assert!(
            keys::check_link(&keys, "approve", &altered, NOW).is_err(),
            "an altered token verifies: {altered:?} (signed {token:?})"
        );
    }
}
