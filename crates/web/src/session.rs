//! Session cookies, CSRF and stage checks on top of `edgedesk_core::session`.

use edgedesk_core::session::{BROWSER_MAX_S, REMEMBER_S};
pub use edgedesk_core::session::{Session, Stage};

pub const COOKIE: &str = "edgedesk_session";

/// `Set-Cookie` for a session token. `Secure` unless the app runs on plain http on
/// localhost (browsers drop Secure cookies there). Remembered sessions persist
/// (Max-Age 30 days); others are browser-session cookies.
pub fn set_cookie(token: &str, remember: bool, secure: bool) -> String {
    let mut c = format!("{COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/");
    if remember {
        c.push_str(&format!("; Max-Age={REMEMBER_S}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    let _ = BROWSER_MAX_S; // browser sessions end server-side at 12 h
    c
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    let mut c = format!("{COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
    if secure {
        c.push_str("; Secure");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_flags_follow_the_contract() {
        let c = set_cookie("tok", false, true);
        assert!(c.starts_with("edgedesk_session=tok;"));
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Path=/"));
        assert!(c.contains("Secure"));
        assert!(!c.contains("Max-Age"));
        let c = set_cookie("tok", true, false);
        assert!(c.contains("Max-Age=2592000") && !c.contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}
