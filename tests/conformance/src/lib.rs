//! Conformance probe: a spin-sdk 5.2 component that exercises every host
//! interface (key-value, SQLite, variables, outbound HTTP, service chaining)
//! and answers with what it observed, as JSON.
//!
//! The probe holds no expectations: the host's e2e tests
//! (`tests/e2e/host_conformance.rs`) compare its observations with Spin's
//! documented behaviour, so the same component could be run on `spin up` to
//! check the expectations themselves.
//!
//! Routes: `/conformance/{kv,sqlite,variables,outbound}` run the checks,
//! `/conformance/env` lists the environment, `/conformance/kv/value/<key>`
//! reads one key;
//! any other path echoes the request (the `spin-*` headers, the component's
//! `name` variable, method, path, body size), which the routing tests use.

mod checks;

/// The wasi:http export; the macro's glue needs `unsafe`, nothing else may.
#[allow(unsafe_code)]
mod entry {
    use spin_sdk::http::{Request, Response};

    #[spin_sdk::http_component]
    async fn handle(req: Request) -> Response {
        let body = super::checks::dispatch(req).await;
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(body.to_string())
            .build()
    }
}
