//! proptest strategies composing a [`Case`]: a client path, exactly one root cause fitting that path (or
//! none), and decoys. Strategies shrink towards the simplest topology: the direct path, the first
//! causes, no decoys.

use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use super::case::{Case, Cause, ClientPath, Decoy, DecoyAction, HealthyProfile};
use super::truth::fits;

/// Which root causes and paths the generator may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenOptions {
    /// Also generate causes and paths the built-in checks do not yet get right (PAC, interception,
    /// untrusted root). Off by default, so the default score measures the reliable set.
    pub experimental: bool,
    /// Largest number of decoys in one case.
    pub max_decoys: usize,
}

impl GenOptions {
    /// The reliable set with up to four decoys.
    pub fn reliable() -> Self {
        GenOptions {
            experimental: false,
            max_decoys: 4,
        }
    }
}

/// Every cause, simplest first; the experimental ones last.
const RELIABLE: &[Cause] = &[
    Cause::Expired,
    Cause::NotYetValid,
    Cause::WrongHost,
    Cause::SelfSigned,
    Cause::Revoked,
    Cause::ClientCertMissing,
    Cause::ServerTls12Only,
    Cause::ServerTls13Only,
    Cause::SlowBackend,
    Cause::FirewallDrop,
    Cause::FirewallReject,
    Cause::KillTls12,
    Cause::Nxdomain,
    Cause::ProxyAuth,
    Cause::ProxyDeny { at_parent: false },
    Cause::ProxyDeny { at_parent: true },
    Cause::ProxyStatus502 { at_parent: false },
    Cause::ProxyStatus502 { at_parent: true },
    Cause::UpstreamRejected,
    Cause::ParentDown,
    Cause::ProxyDown,
    Cause::ProxyGarbage,
    Cause::ProxyClosed,
    Cause::IkeBlocked,
    Cause::VpnExpired,
    Cause::VpnWrongHost,
    Cause::VpnNoServerAuth,
    Cause::VpnUntrustedRoot,
];

const EXPERIMENTAL: &[Cause] = &[Cause::UntrustedRoot, Cause::Intercept];

/// The causes `options` allows on `path`.
pub fn causes_for(path: ClientPath, options: GenOptions) -> Vec<Cause> {
    let extra = if options.experimental {
        EXPERIMENTAL
    } else {
        &[]
    };
    RELIABLE
        .iter()
        .chain(extra)
        .copied()
        .filter(|c| fits(*c, path))
        .collect()
}

/// The client path.
pub fn path_strategy(options: GenOptions) -> BoxedStrategy<ClientPath> {
    let mut paths = vec![
        ClientPath::Direct,
        ClientPath::Proxy,
        ClientPath::HttpsProxy,
        ClientPath::Chain,
    ];
    if options.experimental {
        paths.push(ClientPath::Pac);
    }
    select(paths).boxed()
}

/// At most one root cause fitting `path`; about one case in eight is healthy.
pub fn cause_strategy(path: ClientPath, options: GenOptions) -> BoxedStrategy<Option<Cause>> {
    proptest::option::weighted(0.875, select(causes_for(path, options))).boxed()
}

fn profile_strategy() -> impl Strategy<Value = HealthyProfile> {
    select(vec![
        HealthyProfile::Valid,
        HealthyProfile::Sha256,
        HealthyProfile::Sha384,
        HealthyProfile::Sha512Rsa,
        HealthyProfile::LongChain,
    ])
}

/// One decoy that fits `path`.
pub fn decoy_strategy(path: ClientPath) -> BoxedStrategy<Decoy> {
    let action = select(vec![
        DecoyAction::Drop,
        DecoyAction::Reject,
        DecoyAction::Hang,
        DecoyAction::KillTls12,
    ]);
    let mut fixed = vec![
        Decoy::PlainSite,
        Decoy::FastBackend,
        Decoy::MtlsSite,
        Decoy::AllowRule,
        Decoy::Vpn,
        Decoy::SpareProxy,
        Decoy::DnsNoise,
    ];
    if path.uses_proxy() {
        fixed.extend([Decoy::ProxyAllowRule, Decoy::ProxyAuthOk]);
    }
    prop_oneof![
        (profile_strategy(), any::<bool>()).prop_map(|(profile, tls12_only)| Decoy::Site {
            profile,
            tls12_only
        }),
        select(fixed),
        action.prop_map(Decoy::UnrelatedFirewall),
    ]
    .boxed()
}

/// A whole case: path, cause, target, proxy personality and decoys.
pub fn case_strategy(options: GenOptions) -> BoxedStrategy<Case> {
    path_strategy(options)
        .prop_flat_map(move |path| {
            (
                Just(path),
                cause_strategy(path, options),
                select(vec!["site", "login", "api", "portal"]),
                select(vec![443u16, 8443]),
                any::<bool>(),
                subsequence(vec!["basic", "ntlm", "negotiate"], 1..=3),
                proptest::collection::vec(decoy_strategy(path), 0..=options.max_decoys),
            )
        })
        .prop_map(
            |(path, cause, target, port, squid, auth_schemes, mut decoys)| {
                decoys.dedup();
                Case {
                    path,
                    cause,
                    target,
                    port,
                    squid,
                    auth_schemes,
                    decoys,
                }
            },
        )
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    proptest! {
        #[test]
        fn every_cause_fits_its_path(case in case_strategy(GenOptions { experimental: true, max_decoys: 4 })) {
            if let Some(cause) = case.cause {
                prop_assert!(fits(cause, case.path), "{cause:?} on {:?}", case.path);
            }
            prop_assert!(!case.auth_schemes.is_empty());
        }
    }

    #[test]
    fn shrinking_removes_decoys_and_the_cause() {
        let mut runner = TestRunner::deterministic();
        let strategy = case_strategy(GenOptions::reliable());
        let mut tree = strategy.new_tree(&mut runner).expect("a tree");
        for _ in 0..10_000 {
            if !tree.simplify() {
                break;
            }
        }
        let simplest = tree.current();
        assert!(simplest.decoys.is_empty(), "{simplest:?}");
        assert_eq!(simplest.cause, None, "{simplest:?}");
    }
}
