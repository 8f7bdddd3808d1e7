//! The artifact readers on files written in the seeds' formats, each with a malformed variant.

use std::path::{Path, PathBuf};

use egresslab::check::artifacts::{
    self, netsh, nps, service_config, trust_settings, vpn_profile, ReadOptions,
};
use egresslab::check::ArtifactKind;
use proptest::prelude::*;

fn fx(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/artifacts")
        .join(name)
}

fn codes(kind: ArtifactKind, name: &str, opts: &ReadOptions) -> Vec<String> {
    artifacts::read(kind, &fx(name), opts)
        .into_iter()
        .map(|f| f.code.0.to_string())
        .collect()
}

#[test]
fn service_config_and_netsh_give_the_effective_proxy() {
    let o = ReadOptions::default();
    assert_eq!(
        codes(
            ArtifactKind::ServiceConfig,
            "service-disabled.exe.config",
            &o
        ),
        ["config.proxy_disabled"]
    );
    assert_eq!(
        codes(
            ArtifactKind::ServiceConfig,
            "service-explicit.exe.config",
            &o
        ),
        ["config.proxy_explicit"]
    );
    let bad = artifacts::read(
        ArtifactKind::ServiceConfig,
        &fx("service-malformed.exe.config"),
        &o,
    );
    assert_eq!(bad[0].code.0, "config.config_invalid");
    assert!(bad[0].summary.contains("line "), "{}", bad[0].summary);
    let svc =
        service_config::parse(&std::fs::read_to_string(fx("service-explicit.exe.config")).unwrap())
            .unwrap();
    let n = netsh::parse(&std::fs::read_to_string(fx("netsh-proxy.txt")).unwrap()).unwrap();
    let eff = service_config::effective(&svc, None, Some(&n));
    assert_eq!(
        eff.proxy.as_deref(),
        Some("http://winhttp.corp.example:8080")
    );
    assert_eq!(eff.decided_by, service_config::Decider::Netsh);
    let direct = netsh::parse(&std::fs::read_to_string(fx("netsh-direct.txt")).unwrap()).unwrap();
    assert_eq!(
        service_config::effective(&svc, None, Some(&direct))
            .proxy
            .as_deref(),
        Some("http://squid.corp.example:3128")
    );
    let err =
        netsh::parse(&std::fs::read_to_string(fx("netsh-malformed.txt")).unwrap()).unwrap_err();
    assert!(err.to_string().starts_with("line 3, column 5"), "{err}");
    let empty = service_config::parse("<configuration/>").unwrap();
    assert_eq!(service_config::findings("x", &empty, Some("<configuration><system.net><defaultProxy><proxy proxyaddress=\"http://m:1\"/></defaultProxy></system.net></configuration>"))[0].code.0, "config.machine_config_fallback");
}

#[test]
fn trust_settings_against_an_empty_store_names_the_store() {
    let t =
        trust_settings::parse(&std::fs::read_to_string(fx("TrustSettings.xml")).unwrap()).unwrap();
    assert!(t.is_in_user_store);
    let dir = tempfile::tempdir().unwrap();
    let f = trust_settings::findings("TrustSettings.xml", &t, Some(dir.path()));
    assert_eq!(f[0].code.0, "config.trust.thumbprint_missing");
    assert!(f[0].summary.contains("Network Service"), "{}", f[0].summary);
    let err =
        trust_settings::parse(&std::fs::read_to_string(fx("TrustSettings-malformed.xml")).unwrap())
            .unwrap_err();
    assert!(err.to_string().contains("line 5"), "{err}");
}

#[test]
fn events_are_matched_exactly_or_not_at_all() {
    assert_eq!(
        codes(
            ArtifactKind::EventLog,
            "events.txt",
            &ReadOptions::default()
        ),
        [
            "event.registration.denied",
            "event.trust_cert_expired",
            "event.unrecognised"
        ]
    );
}

#[test]
fn nps_log_summarises_and_finds_812() {
    let recs = nps::parse(&std::fs::read_to_string(fx("nps.log")).unwrap()).unwrap();
    assert_eq!(recs.len(), 4);
    let f = nps::findings("nps.log", &recs, Some("PEAP"));
    assert_eq!(
        f.iter().map(|x| x.code.0).collect::<Vec<_>>(),
        ["vpn.nps.summary", "vpn.auth_mismatch"]
    );
    assert!(f[1].evidence[0].what_tried.contains("bob"));
    let err = nps::parse(&std::fs::read_to_string(fx("nps-malformed.log")).unwrap()).unwrap_err();
    assert!(err.to_string().starts_with("line 2"), "{err}");
}

#[test]
fn vpn_profile_needs_the_conditional_access_eku() {
    let o = ReadOptions::default();
    assert_eq!(
        codes(ArtifactKind::VpnProfile, "vpn-profile-ok.xml", &o),
        ["vpn.conditional_access.ok"]
    );
    assert_eq!(
        codes(ArtifactKind::VpnProfile, "vpn-profile-no-eku.xml", &o),
        ["vpn.conditional_access.profile_missing_eku"]
    );
    let dir = tempfile::tempdir().unwrap();
    let o = ReadOptions {
        store: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    assert_eq!(
        codes(ArtifactKind::VpnProfile, "vpn-profile-ok.xml", &o),
        ["vpn.conditional_access.no_ca_cert"]
    );
    assert!(
        vpn_profile::parse(&std::fs::read_to_string(fx("vpn-profile-malformed.xml")).unwrap())
            .is_err()
    );
}

/// Issue 20, break 10: `egresslab inspect` on an .exe.config nested 150 000 levels deep aborted the
/// process with a stack overflow. Every XML reader now refuses it with a clear finding or error.
#[test]
fn deeply_nested_xml_is_refused_not_a_stack_overflow() {
    let deep = format!(
        "<?xml version=\"1.0\"?>\n<configuration>{}{}</configuration>",
        "<x>".repeat(150_000),
        "</x>".repeat(150_000)
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.exe.config");
    std::fs::write(&path, &deep).unwrap();
    let found = artifacts::read(ArtifactKind::ServiceConfig, &path, &ReadOptions::default());
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].code.0, "config.config_invalid");
    assert!(
        found[0].summary.contains("line 2, column")
            && found[0]
                .summary
                .contains("elements nested deeper than 256 levels"),
        "{}",
        found[0].summary
    );
    for err in [
        service_config::parse(&deep).map(|_| ()).unwrap_err(),
        trust_settings::parse(&deep).map(|_| ()).unwrap_err(),
        vpn_profile::parse(&deep).map(|_| ()).unwrap_err(),
    ] {
        assert!(err.to_string().contains("nested deeper than 256"), "{err}");
    }
}

proptest! {
    #[test]
    fn readers_never_panic(s in "\\PC{0,400}") {
        let _ = service_config::parse(&s);
        let _ = netsh::parse(&s);
        let _ = trust_settings::parse(&s);
        let _ = nps::parse(&s);
        let _ = vpn_profile::parse(&s);
        let _ = artifacts::event_log::findings("x", &s);
        let _ = artifacts::detect_kind(Path::new("x"), &s);
    }

    #[test]
    fn xml_like_input_never_panics(s in "(<[a-zA-Z]{1,5}( [a-z]{1,3}=\"[^\"]{0,4}\")?>|</[a-zA-Z]{1,5}>|[a-z ,\"]{0,5}){0,30}") {
        let _ = service_config::parse(&s);
        let _ = trust_settings::parse(&s);
        let _ = vpn_profile::parse(&s);
    }
}
