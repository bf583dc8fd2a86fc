//! The password policy (what the (i) icon on the sign-up page shows).
//!
//! 12 to 128 characters, no control characters, not containing the username or
//! the email's local part, and a zxcvbn score of at least 3 ("safely
//! unguessable": about 10^8 guesses or more) with the person's own details as
//! extra dictionary words, so "ada.lovelace2026!" is weak for Ada Lovelace.
//! zxcvbn ships the common-password, name and word frequency lists, keyboard
//! patterns, dates and l33t substitutions; inside wasm one check costs tens of
//! milliseconds (mostly building its dictionaries, which a fresh Spin instance
//! does each request), so it runs only where a password is being set.

use edgedesk_core::ApiError;
use serde::Serialize;

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 128;
/// zxcvbn scores 0..=4; 3 and above is "safely unguessable".
pub const MIN_SCORE: u8 = 3;
/// Name parts shorter than this are not searched for (an email `a@x.y` would
/// otherwise forbid every password containing an "a").
const MIN_NAME_PART: usize = 3;

#[derive(Debug, Serialize)]
pub struct Policy {
    pub min_length: usize,
    pub max_length: usize,
    pub rules: Vec<String>,
}

pub fn describe() -> Policy {
    Policy {
        min_length: MIN_LENGTH,
        max_length: MAX_LENGTH,
        rules: vec![
            format!("At least {MIN_LENGTH} characters and at most {MAX_LENGTH}."),
            "Not a common or easily guessed password: avoid dictionary words, names, dates, \
             keyboard patterns and simple substitutions such as \"p@ssw0rd\"."
                .to_owned(),
            "Must not contain your username or the part of your email address before the @."
                .to_owned(),
            "A few unrelated words or a password manager's random password work well.".to_owned(),
        ],
    }
}

/// Who the password belongs to: their details may not appear in it.
pub struct Owner<'a> {
    pub username: Option<&'a str>,
    pub email: &'a str,
    pub full_name: &'a str,
}

fn weak(field: &str, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::invalid(field, code, message)
}

/// Checks a new password; the error names `field`.
pub fn check(field: &str, password: &str, owner: &Owner<'_>) -> Result<(), ApiError> {
    let n = password.chars().count();
    if n == 0 {
        return Err(weak(field, "required", "This field is required."));
    }
    if n < MIN_LENGTH {
        return Err(weak(
            field,
            "too_short",
            format!("Use at least {MIN_LENGTH} characters."),
        ));
    }
    if n > MAX_LENGTH {
        return Err(weak(
            field,
            "too_long",
            format!("Use at most {MAX_LENGTH} characters."),
        ));
    }
    if password.chars().any(char::is_control) {
        return Err(weak(
            field,
            "invalid_characters",
            "This field contains characters that are not allowed.",
        ));
    }
    let lower = password.to_lowercase();
    let local = owner.email.split('@').next().unwrap_or("");
    let names = [owner.username.unwrap_or(""), local]
        .into_iter()
        .map(str::to_lowercase)
        .filter(|s| s.chars().count() >= MIN_NAME_PART && !s.contains('@'));
    for name in names {
        if lower.contains(&name) {
            return Err(weak(
                field,
                "password_contains_name",
                "The password must not contain your username or email address.",
            ));
        }
    }
    let mut inputs: Vec<&str> = vec![owner.email, local];
    if let Some(u) = owner.username {
        inputs.push(u);
    }
    inputs.extend(owner.full_name.split_whitespace());
    let score: u8 = zxcvbn::zxcvbn(password, &inputs).score().into();
    if score < MIN_SCORE {
        return Err(weak(
            field,
            "password_too_weak",
            "This password is too easy to guess. Add more unrelated words or characters.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADA: Owner<'static> = Owner {
        username: Some("ada.l"),
        email: "ada.lovelace@corp.example",
        full_name: "Ada Lovelace",
    };

    fn code(pw: &str) -> &'static str {
        check("password", pw, &ADA)
            .map(|_| "ok")
            .unwrap_or_else(|e| e.code())
    }

    #[test]
    fn strong_passwords_pass() {
        assert_eq!(code("orbit-cactus-velvet-42"), "ok");
        assert_eq!(code("Xq7#mV2p!Lr9zT"), "ok");
        assert_eq!(code("correct horse battery staple"), "ok");
    }

    #[test]
    fn length_bounds_are_enforced_in_characters() {
        assert_eq!(code(""), "required");
        assert_eq!(code("Xq7#mV2p!Lr"), "too_short");
        assert_eq!(code(&"Xq7#mV2p!Lr9zT".repeat(10)), "too_long");
        // 12 characters of many bytes each are still 12 characters
        assert_ne!(code("ééééééééééé"), "ok");
        assert_eq!(code(&"é".repeat(11)), "too_short");
    }

    #[test]
    fn common_and_patterned_passwords_are_too_weak() {
        for pw in [
            "password1234",
            "qwertyuiop123",
            "123456789012",
            "Password123!",
            "iloveyou2026",
            "aaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(code(pw), "password_too_weak", "{pw}");
        }
    }

    #[test]
    fn passwords_containing_the_username_or_email_are_refused() {
        assert_eq!(code("ada.l-orbit-cactus-9"), "password_contains_name");
        assert_eq!(code("xx-ADA.LOVELACE-velvet-42"), "password_contains_name");
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(code("orbit-cactus\u{0}velvet-42"), "invalid_characters");
    }

    #[test]
    fn errors_name_the_field() {
        let e = check("new_password", "short", &ADA).unwrap_err();
        assert_eq!(e.body()["error"]["field"], "new_password");
    }

    #[test]
    fn policy_describes_its_bounds() {
        let p = describe();
        assert_eq!((p.min_length, p.max_length), (12, 128));
        assert!(p.rules.len() >= 3);
    }

    #[test]
    fn a_long_password_is_checked_quickly_enough() {
        // zxcvbn's matching is superlinear; the 128-character cap keeps it bounded.
        let pw = "Xq7#mV2p!Lr9zT-orbit-cactus ".repeat(5);
        let pw: String = pw.chars().take(128).collect();
        let t = std::time::Instant::now();
        assert_eq!(code(&pw), "ok");
        assert!(t.elapsed().as_secs() < 5, "took {:?}", t.elapsed());
    }
}
