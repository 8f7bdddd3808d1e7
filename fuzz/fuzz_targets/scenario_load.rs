//! The scenario loader: never a panic; every rejection is an error value that renders.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = egresslab::scenario::load_str("fuzz.toml", text) {
        assert!(!error.to_string().is_empty());
    }
});
