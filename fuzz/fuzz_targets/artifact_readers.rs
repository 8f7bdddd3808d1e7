//! Every artifact reader on the same input: never a panic; every rejection is an error that renders.
#![no_main]

use std::path::Path;

use egresslab::check::artifacts::{
    self, event_log, netsh, nps, service_config, store, trust_settings, vpn_profile, xml,
};
use libfuzzer_sys::fuzz_target;

fn rendered<T, E: std::fmt::Display>(result: Result<T, E>) {
    if let Err(error) = result {
        assert!(!error.to_string().is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = store::certificates_in(Path::new("fuzz.pem"), data, Some("password"));
    let _ = store::certificates_in(Path::new("fuzz.pfx"), data, None);
    let _ = store::certificates_in(Path::new("fuzz.cer"), data, None);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    rendered(service_config::parse(text));
    rendered(netsh::parse(text));
    rendered(trust_settings::parse(text));
    rendered(nps::parse(text));
    rendered(vpn_profile::parse(text));
    rendered(xml::parse(text));
    let _ = event_log::findings("fuzz", text);
    let _ = artifacts::detect_kind(Path::new("fuzz.txt"), text);
});
