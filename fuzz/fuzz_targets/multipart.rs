#![no_main]
// The body is shared with the corpus replay test: fuzz/targets/src/lib.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| edgedesk_fuzz_targets::multipart(data));
