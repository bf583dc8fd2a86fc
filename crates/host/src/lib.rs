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

// Without the `runtime` feature (on by default) only the manifest loader and
// its pure helpers build: the fuzz targets (fuzz/) load spin.toml without
// compiling wasmtime. A new module that needs the runtime takes the cfg too.
pub mod allowed_hosts;
#[cfg(feature = "runtime")]
pub mod bench;
#[cfg(feature = "runtime")]
pub mod bench_desk;
#[cfg(feature = "runtime")]
pub mod bench_transfer;
#[cfg(feature = "runtime")]
pub mod build;
#[cfg(feature = "runtime")]
pub mod componentize;
#[cfg(feature = "runtime")]
pub mod engine;
#[cfg(feature = "runtime")]
pub mod files;
#[cfg(feature = "runtime")]
pub mod headers;
pub mod manifest;
#[cfg(feature = "runtime")]
pub mod outbound;
pub mod proc_stats;
#[cfg(feature = "runtime")]
pub mod routes;
#[cfg(feature = "runtime")]
pub mod runtime_config;
#[cfg(feature = "runtime")]
pub mod server;
#[cfg(feature = "runtime")]
pub mod spin_kv;
#[cfg(feature = "runtime")]
pub mod spin_sqlite;
#[cfg(feature = "runtime")]
pub mod startup;
pub mod template;
#[cfg(feature = "runtime")]
pub mod variables;
#[cfg(feature = "runtime")]
pub mod wal_gather;

/// Host bindings for the Spin 2.0 interfaces spin-sdk 5.x components import.
#[cfg(feature = "runtime")]
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

#[cfg(feature = "runtime")]
pub use build::build;
#[cfg(feature = "runtime")]
pub use server::{RunningApp, UpOptions, start};

/// `eprintln!` in one write. Standard error is unbuffered, so `eprintln!`
/// makes one system call per formatted piece: fourteen for an access-log
/// line, on the path of every request (docs/PERFORMANCE.md, "Sixth pass").
/// Whole lines also keep concurrent requests' lines from interleaving.
#[macro_export]
macro_rules! log_line {
    ($($arg:tt)*) => {
        $crate::write_line(::std::format_args!($($arg)*))
    };
}

/// [`log_line!`]'s one write; a closed standard error is ignored, as
/// `eprintln!` would not be (it panics), because a log must not stop serving.
pub fn write_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut line = std::fmt::format(args);
    line.push('\n');
    let _ = std::io::stderr().write_all(line.as_bytes());
}
