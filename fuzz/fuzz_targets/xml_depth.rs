//! The XML readers against deep nesting: the fuzzer's bytes become a walk of opening and closing tags
//! (so depth in the thousands is reached at once, which raw bytes rarely do). Never a stack overflow;
//! a document nested past the limit is always refused with an error naming the limit.
#![no_main]

use egresslab::check::artifacts::{service_config, trust_settings, vpn_profile, xml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut doc = String::from("<configuration>");
    let mut open = Vec::new();
    let mut deepest = 0usize;
    for &b in data {
        match b % 4 {
            // Open `b` levels at once: depth grows fast.
            0 | 1 => {
                for _ in 0..(b as usize % 64 + 1) {
                    let name = ["a", "x:b", "defaultProxy", "proxy"][b as usize % 4];
                    doc.push('<');
                    doc.push_str(name);
                    doc.push('>');
                    open.push(name);
                }
            }
            2 => {
                if let Some(name) = open.pop() {
                    doc.push_str("</");
                    doc.push_str(name);
                    doc.push('>');
                }
            }
            _ => doc.push_str("<empty attr=\"v\"/>"),
        }
        deepest = deepest.max(open.len());
    }
    while let Some(name) = open.pop() {
        doc.push_str("</");
        doc.push_str(name);
        doc.push('>');
    }
    doc.push_str("</configuration>");
    let parsed = xml::parse(&doc);
    if deepest + 1 > xml::MAX_DEPTH {
        let error = parsed.expect_err("nesting past the limit is refused");
        assert!(error.to_string().contains("nested deeper than"), "{error}");
    }
    let _ = service_config::parse(&doc);
    let _ = trust_settings::parse(&doc);
    let _ = vpn_profile::parse(&doc);
});
