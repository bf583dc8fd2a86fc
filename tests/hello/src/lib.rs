//! The smallest useful component: answers "hello". Used to measure the
//! host's per-request floor (`edgedesk bench`) and by routing tests, which
//! mount it under several routes.

/// The wasi:http export; the macro's glue needs `unsafe`, nothing else may.
#[allow(unsafe_code)]
mod entry {
    use spin_sdk::http::{Request, Response};

    #[spin_sdk::http_component]
    fn handle(_req: Request) -> Response {
        Response::builder()
            .status(200)
            .header("content-type", "text/plain")
            .body("hello")
            .build()
    }
}
