//! The proxy's request-line and header parser: never a panic; a complete head reports a length
//! within the buffer and a non-zero port; a small limit never lets a bigger head through.
#![no_main]

use egresslab::fuzzing::{parse_request, Parsed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for limit in [64 * 1024, 256] {
        match parse_request(data, limit) {
            Parsed::Request { used, port, .. } => {
                assert!(used <= data.len(), "used {used} of {}", data.len());
                assert!(used <= limit, "a head of {used} bytes passed a limit of {limit}");
                assert!(port != 0);
            }
            // Every byte counts against the limit, leading empty lines included.
            Parsed::Incomplete => assert!(data.len() < limit, "an unfinished head past the limit"),
            Parsed::Refused(_) => {}
        }
    }
});
