//! End-to-end tests: one module per flow. Each boots the app (or a fixture
//! app) in-process on the wasmtime host with `edgedesk_e2e::TestApp`.

mod accounts;
mod app_foundation;
mod browser;
mod host_conformance;
mod host_errors;
mod host_flags;
mod host_routing;
mod host_wasip1;
mod key_rotation;
mod mail_pipeline;
mod mail_scheduler;
mod openapi;
mod twofactor;
