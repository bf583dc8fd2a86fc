//! EdgeDesk's wasmtime host: runs a Spin application (`spin.toml`, manifest
//! version 2, components built for wasm32-wasip2, or wasip1 core modules,
//! componentized at load time) with Spin's semantics.
//!
//! Spin itself cannot be installed everywhere the project is developed and
//! tested, so the project ships this host. It is faithful to Spin rather than
//! clever: the same routes, headers, storage layout, access rules and errors,
//! so an app that works here works on `spin up`, and the other way round.
//!
//! Library use (tests boot the host in-process):
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let mut opts = edgedesk_host::UpOptions::new("spin.toml");
//! opts.listen = "127.0.0.1:0".parse()?;
//! let app = edgedesk_host::start(opts).await?;
//! println!("serving on {}", app.addr());
//! app.shutdown().await;
//! # Ok(()) }
//! ```

pub mod bench;
pub mod bench_desk;
pub mod bench_transfer;
pub mod build;
pub mod componentize;
pub mod engine;
pub mod files;
pub mod headers;
pub mod manifest;
pub mod outbound;
pub mod routes;
pub mod runtime_config;
pub mod server;
pub mod spin_kv;
pub mod spin_sqlite;
pub mod startup;
pub mod variables;

/// Host bindings for the Spin 2.0 interfaces spin-sdk 5.x components import.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "fermyon:spin/host",
        imports: { default: async },
        with: {
            "fermyon:spin/key-value.store": crate::spin_kv::KvStore,
            "fermyon:spin/sqlite.connection": crate::spin_sqlite::SqliteConnection,
        },
        require_store_data_send: true,
    });
}

pub use build::build;
pub use server::{RunningApp, UpOptions, start};
