//! Core wasm modules (wasip1) turned into components at load time, as `spin
//! up` does.
//!
//! Spin's Rust, Go and JS templates have long built `wasm32-wasip1` core
//! modules; their SDKs (wit-bindgen 0.5 and later: Spin SDK 2.x onwards)
//! embed the component type in a custom section. Spin
//! (`crates/componentize`) wraps such a module with the WASI preview1 adapter
//! using `wit-component`; so does this host, with the adapter Wasmtime
//! publishes (`wasi-preview1-component-adapter-provider`, the reactor
//! adapter, the same version as our wasmtime). Modules built with Spin SDK
//! 1.x (wit-bindgen 0.2) need Spin's own adapter and are refused with a
//! message.
//!
//! Componentizing a few MB takes a noticeable moment, so the result is cached
//! under `<state-dir>/componentized/`, named by the SHA-256 of the module and
//! the adapter version: a restart, or another component with the same
//! module, reads the file instead. Files are written to a temporary name and
//! renamed, so a crash never leaves half a component behind; a cached file
//! that is not a component is ignored and rebuilt.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};

/// The adapter's version; part of cache file names, so an upgrade rebuilds.
pub const ADAPTER_VERSION: &str = "wasip1-adapter-48.0.8";
/// The cache folder under the state dir.
pub const CACHE_DIR: &str = "componentized";

/// The binary's kind, from its 8-byte preamble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A core wasm module (version 1).
    Module,
    /// A component (layer 1).
    Component,
    /// Not wasm, or too short to tell.
    Other,
}

/// Tells a core module from a component without parsing the whole binary.
pub fn kind(bytes: &[u8]) -> Kind {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Kind::Module,
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => Kind::Component,
        _ => Kind::Other,
    }
}

/// Wraps a core module into a component with the WASI preview1 adapter.
pub fn componentize(module: &[u8]) -> anyhow::Result<Vec<u8>> {
    let encoded = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(module)
        .and_then(|e| {
            e.adapter(
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
        })
        .and_then(|mut e| e.encode());
    encoded.map_err(|e| {
        anyhow::anyhow!(
            "cannot turn this core wasm module into a component: {e:#}. Modules from Spin SDK 2.x or later (wit-bindgen 0.5+) can be; Spin SDK 1.x and Wagi modules cannot: rebuild with a current SDK"
        )
    })
}

/// Where the component made from `module` is cached.
pub fn cache_path(state_dir: &Path, module: &[u8]) -> PathBuf {
    let digest = Sha256::digest(module);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    state_dir
        .join(CACHE_DIR)
        .join(format!("{hex}-{ADAPTER_VERSION}.wasm"))
}

/// Whether the component came from the cache or was made now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Made,
}

/// The component for `module`: read from the cache under `state_dir`, or made
/// and stored there. A cache that cannot be written only costs the next
/// start the same work; it is reported, not fatal.
pub fn componentize_cached(state_dir: &Path, module: &[u8]) -> anyhow::Result<(Vec<u8>, Source)> {
    let path = cache_path(state_dir, module);
    if let Ok(bytes) = std::fs::read(&path)
        && kind(&bytes) == Kind::Component
    {
        return Ok((bytes, Source::Cache));
    }
    let component = componentize(module)?;
    if let Err(e) = store(&path, &component) {
        eprintln!(
            "edgedesk: cannot cache the componentized module at {}: {e:#}",
            path.display()
        );
    }
    Ok((component, Source::Made))
}

fn store(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("cache path has no folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // A core module with no component type: what a plain wasip1 program or
    // a Spin SDK 1.x module looks like to the encoder.
    const BARE_MODULE: &[u8] = &[0, b'a', b's', b'm', 1, 0, 0, 0];

    #[test]
    fn kinds_are_told_apart() {
        assert_eq!(kind(BARE_MODULE), Kind::Module);
        assert_eq!(kind(&[0, b'a', b's', b'm', 0x0d, 0, 1, 0]), Kind::Component);
        assert_eq!(kind(b"not wasm at all"), Kind::Other);
        assert_eq!(kind(&[0, b'a']), Kind::Other);
    }

    #[test]
    fn the_adapter_is_a_module_and_names_differ_by_content() {
        assert_eq!(
            kind(wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER),
            Kind::Module
        );
        let dir = Path::new("/state");
        let a = cache_path(dir, b"one");
        assert_ne!(a, cache_path(dir, b"two"));
        assert_eq!(a, cache_path(dir, b"one"));
        assert!(a.starts_with("/state/componentized"));
    }

    #[test]
    fn a_module_without_a_world_is_refused_with_advice() {
        // An empty module imports nothing and exports nothing: the encoder
        // makes an empty component of it, which the host then refuses as
        // "not an HTTP component"; a module importing an unknown preview1
        // function is refused here.
        let wat_like: &[u8] = &[
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // header
            0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: () -> ()
            0x02, 0x1c, 0x01, // import section (28 bytes), 1 import
            0x16, // module name length 22
            b'w', b'a', b's', b'i', b'_', b's', b'n', b'a', b'p', b's', b'h', b'o', b't', b'_',
            b'p', b'r', b'e', b'v', b'i', b'e', b'w', b'1', //
            0x01, b'x', // field "x"
            0x00, 0x00, // func type 0
        ];
        let e = componentize(wat_like).expect_err("unknown preview1 import");
        assert!(e.to_string().contains("Spin SDK 2.x or later"), "{e}");
    }
}
