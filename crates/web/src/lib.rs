//! Spin glue shared by every EdgeDesk component.
//!
//! A component's entry point is one line: `edgedesk_web::serve_to(req, ROUTES, out).await`.
//! It reads the request (with a body limit), applies the CSRF rule, routes to a
//! handler, turns `ApiError` into the contract's JSON body, adds the security
//! headers and session cookies, and kicks mail delivery when a handler queued mail.

pub mod ctx;
mod desk;
pub mod request;
pub mod response;
pub mod router;
pub mod session;
pub mod spin_store;

pub use ctx::Ctx;
pub use desk::Write;
pub use edgedesk_core::{ApiError, Result};
pub use request::Req;
pub use response::Resp;
pub use router::{Params, Route, serve_to};
pub use session::{Session, Stage};
