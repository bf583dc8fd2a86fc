//! Shared reads about a user's second factor, used by `auth` at sign-in to decide
//! the session stage. Owned by `twofactor` (which writes the tables).
//!
//! STUB until the two-factor component lands: nobody has a method, so every
//! sign-in answers `needs_2fa_setup`, as the accounts issue specifies.

use crate::clock::Clock;
use crate::db::Sql;
use crate::error::ApiError;
use crate::session::Stage;

/// The stage a session starts at after a correct password, and the user's
/// configured methods (primary first). `device_cookie` is the trusted-device
/// cookie the browser sent, if any.
pub fn stage_after_password(
    _sql: &dyn Sql,
    _clock: &dyn Clock,
    _user_id: &str,
    _device_cookie: Option<&str>,
) -> Result<(Stage, Vec<String>), ApiError> {
    Ok((Stage::Needs2faSetup, Vec::new()))
}
