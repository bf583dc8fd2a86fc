//! Issue 11 parts 1 and 2 in one test binary, so the slow halves overlap:
//! - `matrix`: the authorization matrix (tests/authz/matrix.txt) over every
//!   operation of openapi.yaml, every caller and every ownership;
//! - `leaks`: lists, search, counts and files never show a customer what
//!   belongs to someone else;
//! - `contract`: schemathesis against openapi.yaml on the running app, signed
//!   in as each role.

mod contract;
mod leaks;
mod matrix;
mod world;
