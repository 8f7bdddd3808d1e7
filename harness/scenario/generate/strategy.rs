//! proptest strategies composing a [`Case`]: exactly one root cause (or none), a client path it fits,
//! and decoys. Every cause the generator knows is drawn, each as often as the others (there is no
//! hidden set the checks are known to miss). Strategies shrink towards the simplest topology: the
//! first causes, the direct path, no decoys.

use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use super::case::{Case, Cause, ClientPath, Decoy, DecoyAction, HealthyProfile};
use super::truth::{decoy_fits, fits};

/// How the generator composes cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenOptions {
    /// Largest number of decoys in one case.
    pub max_decoys: usize,
}

impl Default for GenOptions {
    /// Up to four decoys (what `egresslab score` uses unless told otherwise).
    fn default() -> Self {
        GenOptions { max_decoys: 4 }
    }
}

/// Every cause, simplest first.
pub const CAUSES: &[Cause] = &[
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
    Cause::ProxyNoIpv6Path,
    Cause::ParentDown,
    Cause::ProxyDown,
    Cause::ProxyGarbage,
    Cause::ProxyClosed,
    Cause::IkeBlocked,
    Cause::VpnExpired,
    Cause::VpnWrongHost,
    Cause::VpnNoServerAuth,
    Cause::VpnUntrustedRoot,
    Cause::UntrustedRoot,
    Cause::Intercept,
    Cause::ClientCertLost,
    Cause::ProxySlow,
    Cause::Port80Blocked,
    Cause::Sha512Blocked,
    Cause::ExeConfigBypass,
    Cause::NetshOverride,
    Cause::TrustSettingsMismatch,
    Cause::NpsAuthMismatch,
    Cause::ProfileMissingEku,
    Cause::MachineCertMissing,
    Cause::IncompleteChain,
    Cause::SlowPath,
    Cause::VpnServerUnreachable,
    Cause::ProxyPort80Refused,
    Cause::ProxyFlapping,
    Cause::ProxyWrongPassword,
    Cause::ProxyChallengeLost,
    Cause::SocksAuthRequired,
    Cause::SocksWrongPassword,
    Cause::SocksDenied,
    Cause::SocksLocalDns,
    Cause::SigninUnreachable,
    Cause::EventNetworkError,
    Cause::EventAadsts50059,
    Cause::EventDenied,
    Cause::EventServiceUnreachable,
    Cause::EventTrustCertExpired,
];

/// Every client path, simplest first.
pub const PATHS: &[ClientPath] = &[
    ClientPath::Direct,
    ClientPath::Proxy,
    ClientPath::HttpsProxy,
    ClientPath::Chain,
    ClientPath::Pac,
];

/// The paths `cause` fits (every path for a healthy case).
pub fn paths_for(cause: Option<Cause>) -> Vec<ClientPath> {
    PATHS
        .iter()
        .copied()
        .filter(|p| cause.is_none_or(|c| fits(c, *p)))
        .collect()
}

/// At most one root cause, every cause equally likely; about one case in eight is healthy.
pub fn cause_strategy() -> BoxedStrategy<Option<Cause>> {
    proptest::option::weighted(0.875, select(CAUSES.to_vec())).boxed()
}

/// A client path that `cause` fits.
pub fn path_strategy(cause: Option<Cause>) -> BoxedStrategy<ClientPath> {
    select(paths_for(cause)).boxed()
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

/// A whole case: cause, a path it fits, target, proxy personality and decoys. The cause is drawn
/// first, so every cause is equally common whatever the number of paths it fits.
pub fn case_strategy(options: GenOptions) -> BoxedStrategy<Case> {
    cause_strategy()
        .prop_flat_map(|cause| (path_strategy(cause), Just(cause)))
        .prop_flat_map(move |(path, cause)| {
            (
                Just(path),
                Just(cause),
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
                decoys.retain(|d| decoy_fits(cause, *d));
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
        fn every_cause_fits_its_path(case in case_strategy(GenOptions::default())) {
            if let Some(cause) = case.cause {
                prop_assert!(fits(cause, case.path), "{cause:?} on {:?}", case.path);
            }
            prop_assert!(!case.auth_schemes.is_empty());
            prop_assert!(case.decoys.iter().all(|d| decoy_fits(case.cause, *d)));
        }
    }

    #[test]
    fn shrinking_removes_decoys_and_the_cause() {
        let mut runner = TestRunner::deterministic();
        let strategy = case_strategy(GenOptions::default());
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

#[cfg(test)]
mod coverage {
    use super::*;

    #[test]
    fn every_cause_fits_some_path() {
        for cause in CAUSES {
            assert!(
                PATHS.iter().any(|p| fits(*cause, *p)),
                "{cause:?} is never generated"
            );
        }
    }
}
