//! Input checks shared by every component. Every input is hostile until checked:
//! each function returns the contract's 400 naming the field.

use crate::error::ApiError;

/// Rejects control characters (except none), bidi overrides and other invisible
/// formatting that can disguise text shown to operators.
fn has_forbidden_chars(s: &str, allow_newlines: bool) -> bool {
    s.chars().any(|c| {
        (c.is_control() && !(allow_newlines && (c == '\n' || c == '\r' || c == '\t')))
            || matches!(c,
                '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}'..='\u{200F}'
                | '\u{FEFF}' | '\u{2028}' | '\u{2029}')
    })
}

/// A single-line text field: trimmed, `min..=max` characters, no control characters.
pub fn line(field: &str, value: &str, min: usize, max: usize) -> Result<String, ApiError> {
    let v = value.trim();
    if has_forbidden_chars(v, false) {
        return Err(ApiError::invalid(
            field,
            "invalid_characters",
            "This field contains characters that are not allowed.",
        ));
    }
    let n = v.chars().count();
    if n < min {
        return Err(if n == 0 {
            ApiError::invalid(field, "required", "This field is required.")
        } else {
            ApiError::invalid(
                field,
                "too_short",
                format!("Use at least {min} characters."),
            )
        });
    }
    if n > max {
        return Err(ApiError::invalid(
            field,
            "too_long",
            format!("Use at most {max} characters."),
        ));
    }
    Ok(v.to_owned())
}

/// Multi-line text (descriptions, comments): newlines and tabs allowed.
pub fn text(field: &str, value: &str, min: usize, max: usize) -> Result<String, ApiError> {
    let v = value.trim();
    if has_forbidden_chars(v, true) {
        return Err(ApiError::invalid(
            field,
            "invalid_characters",
            "This field contains characters that are not allowed.",
        ));
    }
    let n = v.chars().count();
    if n < min {
        return Err(ApiError::invalid(
            field,
            "required",
            "This field is required.",
        ));
    }
    if n > max {
        return Err(ApiError::invalid(
            field,
            "too_long",
            format!("Use at most {max} characters."),
        ));
    }
    Ok(v.to_owned())
}

/// An email address, lowercased. Deliberately simple (one `@`, a dotted domain,
/// no spaces or quotes): the confirmation mail is the real check.
pub fn email(field: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim().to_lowercase();
    let invalid = || ApiError::invalid(field, "invalid_email", "Enter a valid email address.");
    if v.is_empty() {
        return Err(ApiError::invalid(
            field,
            "required",
            "This field is required.",
        ));
    }
    if v.len() > 254 || has_forbidden_chars(&v, false) {
        return Err(invalid());
    }
    let Some((local, domain)) = v.split_once('@') else {
        return Err(invalid());
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok {
        Ok(v)
    } else {
        Err(invalid())
    }
}

/// A username: 3–32 of `a-z 0-9 . _ -`, starting with a letter or digit, lowercased.
/// Usernames never contain `@`, so a login string tells username from email.
pub fn username(field: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim().to_lowercase();
    let n = v.chars().count();
    let ok = (3..=32).contains(&n)
        && v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-');
    if ok {
        Ok(v)
    } else {
        Err(ApiError::invalid(
            field,
            "invalid_username",
            "Use 3 to 32 letters, digits, dots, dashes or underscores, starting with a letter or digit.",
        ))
    }
}

/// An E.164-style phone number: optional `+`, 7–15 digits once spaces, dashes,
/// dots and parentheses are removed. Stored normalized as `+digits` or `digits`.
pub fn phone(field: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    let invalid = || {
        ApiError::invalid(
            field,
            "invalid_phone",
            "Enter a phone number such as +44 20 7946 0958.",
        )
    };
    if v.len() > 32 {
        return Err(invalid());
    }
    let (plus, rest) = match v.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, v),
    };
    let mut digits = String::new();
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(invalid()),
        }
    }
    if !(7..=15).contains(&digits.len()) || (plus && digits.starts_with('0')) {
        return Err(invalid());
    }
    Ok(if plus { format!("+{digits}") } else { digits })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<String, ApiError>) -> &'static str {
        r.map(|_| "ok").unwrap_or_else(|e| e.code())
    }

    #[test]
    fn line_trims_and_bounds_length() {
        assert_eq!(line("f", "  Ada  ", 1, 10).unwrap(), "Ada");
        assert_eq!(code(line("f", "   ", 1, 10)), "required");
        assert_eq!(code(line("f", "abcdefghijk", 1, 10)), "too_long");
        // length is counted in characters, not bytes
        assert_eq!(code(line("f", "ééééé", 1, 5)), "ok");
    }

    #[test]
    fn line_refuses_control_and_bidi_characters() {
        assert_eq!(code(line("f", "a\u{0}b", 1, 10)), "invalid_characters");
        assert_eq!(code(line("f", "a\nb", 1, 10)), "invalid_characters");
        assert_eq!(
            code(line("f", "evil\u{202E}txt", 1, 20)),
            "invalid_characters"
        );
        assert_eq!(code(text("f", "two\nlines", 1, 20)), "ok");
    }

    #[test]
    fn email_accepts_ordinary_addresses_and_lowercases() {
        assert_eq!(
            email("email", " Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        assert_eq!(code(email("email", "a.b+tag@sub.example.co.uk")), "ok");
    }

    #[test]
    fn email_rejects_malformed_addresses() {
        for bad in [
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a@@example.com",
            "a b@example.com",
            "a@exa mple.com",
            "\"a\"@example.com",
            "a..b@example.com",
            "a@-example.com",
            "<script>@x.com",
        ] {
            assert_eq!(code(email("email", bad)), "invalid_email", "{bad}");
        }
        assert_eq!(code(email("email", "")), "required");
    }

    #[test]
    fn username_rules() {
        assert_eq!(username("u", "Ada.L").unwrap(), "ada.l");
        assert_eq!(code(username("u", "ab")), "invalid_username");
        assert_eq!(code(username("u", "a@b.com")), "invalid_username");
        assert_eq!(code(username("u", "_ada")), "invalid_username");
        assert_eq!(code(username("u", "ädä")), "invalid_username");
    }

    #[test]
    fn phone_is_normalized_e164_ish() {
        assert_eq!(phone("phone", "+44 20 7946-0958").unwrap(), "+442079460958");
        assert_eq!(phone("phone", "(020) 7946 0958").unwrap(), "02079460958");
        assert_eq!(code(phone("phone", "+0123456789")), "invalid_phone");
        assert_eq!(code(phone("phone", "12345")), "invalid_phone");
        assert_eq!(code(phone("phone", "call me")), "invalid_phone");
        assert_eq!(code(phone("phone", "+1234567890123456")), "invalid_phone");
    }
}
