//! EdgeDesk core: everything the components share that does not need the Spin SDK.
//!
//! Domain code takes `&dyn Sql`, `&dyn Kv`, `&dyn Clock` and `&dyn Random` so it runs
//! natively in unit tests (feature `native`) and inside wasm on Spin alike.

pub mod access;
pub mod attachments;
pub mod audit;
pub mod clock;
pub mod db;
pub mod error;
pub mod hours;
pub mod keys;
pub mod kv;
pub mod mail;
pub mod migrate;
pub mod outbox;
pub mod paging;
pub mod password;
pub mod random;
pub mod rate_limit;
pub mod requests;
pub mod second_factor;
pub mod session;
pub mod settings;
pub mod token;
pub mod users;
pub mod validate;

#[cfg(feature = "native")]
pub mod native;

pub use clock::Clock;
pub use db::{Row, Rows, Sql, Value};
pub use error::ApiError;
pub use kv::Kv;
pub use random::Random;

/// Result type used across domain code.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;
