//! The Proxy-Authorization parser: never a panic; only the exact credentials are accepted.
#![no_main]

use egresslab::fuzzing::check_proxy_authorization;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let outcome = check_proxy_authorization(Some(&text), "alice", "s3cret");
    if outcome == "Accepted" {
        let credentials = text.trim().split_once(' ').map(|(_, c)| c.trim());
        assert_eq!(credentials, Some("YWxpY2U6czNjcmV0"), "accepted {text:?}");
    }
});
