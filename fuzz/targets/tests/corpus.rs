//! The CI smoke of the fuzz targets: every committed corpus file
//! (`fuzz/seeds/<target>/`: hand-written seeds and a minimised selection of
//! what fuzzing found interesting) replayed through the same target function
//! the libFuzzer binary runs. Stable Rust, no instrumentation;
//! `scripts/fuzz.sh` does the real fuzzing. (Crashes it found are unit tests
//! beside the parser they broke, with their inputs in that crate's testdata.)

use std::path::Path;

fn replay(dir: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
    let mut n = 0;
    for (name, target) in edgedesk_fuzz_targets::TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(name)) else {
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            // A failing property panics: name the file that made it fail.
            let r = std::panic::catch_unwind(|| target(&data));
            assert!(r.is_ok(), "{name}: {} fails", f.display());
            n += 1;
        }
    }
    n
}

#[test]
fn every_committed_corpus_input_keeps_its_target_properties() {
    let n = replay("seeds");
    // Each target has committed seeds: an empty replay would prove nothing.
    assert!(n >= edgedesk_fuzz_targets::TARGETS.len(), "only {n} inputs");
}

#[test]
fn every_target_has_a_seed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds");
    for (name, _) in edgedesk_fuzz_targets::TARGETS {
        let n = std::fs::read_dir(root.join(name)).map_or(0, |d| d.count());
        assert!(n > 0, "fuzz/seeds/{name} is empty");
    }
}
