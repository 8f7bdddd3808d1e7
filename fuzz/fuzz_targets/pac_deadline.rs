//! The PAC engine with its deadline: any script (a fuzzed body inside FindProxyForURL, or a fuzzed
//! whole file) ends within the limit plus a margin, with an answer or an error that renders; never a
//! panic, never a hang.
#![no_main]

use std::time::{Duration, Instant};

use egresslab::check::fuzzing::pac_evaluate;
use libfuzzer_sys::fuzz_target;

const LIMIT: Duration = Duration::from_millis(50);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let wrapped = format!("function FindProxyForURL(url, host) {{ {text} }}");
    for script in [text, wrapped.as_str()] {
        let start = Instant::now();
        match pac_evaluate(script, "https://app.example.net/path", "app.example.net", LIMIT) {
            Ok(entries) => assert!(!entries.is_empty()),
            Err(error) => assert!(!error.is_empty()),
        }
        // A regular expression can hold the engine past its interrupt checks; anything else stops.
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(10) || script.contains('/') || script.contains("RegExp"),
            "ran {took:?} past a {LIMIT:?} limit"
        );
    }
});
