//! Access rules: Squid's default port policy, then the plan's rules, first match wins, no match denies.

use crate::lab::pattern::host_matches;
use crate::lab::plan::{ProxyPlan, RuleAction};

/// Squid's `SSL_ports`: the only port CONNECT may reach in the default configuration.
const SSL_PORTS: [u16; 1] = [443];

/// The fate of a request and the rule that decided it, in words for the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Whether the request may proceed.
    pub allow: bool,
    /// Which rule fired.
    pub rule: String,
}

/// Squid's `Safe_ports` ACL of the default squid.conf.
pub(crate) fn is_safe_port(port: u16) -> bool {
    matches!(
        port,
        80 | 21 | 443 | 70 | 210 | 280 | 488 | 591 | 777 | 1025..=65535
    )
}

/// Decide a request to `host:port` (`connect` for CONNECT, otherwise absolute-URI forwarding).
pub(crate) fn decide(plan: &ProxyPlan, connect: bool, host: &str, port: u16) -> Decision {
    if plan.squid_default_ports {
        if !is_safe_port(port) {
            return deny("http_access deny !Safe_ports");
        }
        if connect && !SSL_PORTS.contains(&port) {
            return deny("http_access deny CONNECT !SSL_ports");
        }
    }
    let hit = plan.rules.iter().enumerate().find(|(_, rule)| {
        (rule.ports.is_empty() || rule.ports.contains(&port)) && host_matches(&rule.hosts, host)
    });
    match hit {
        Some((index, rule)) => {
            let ports = if rule.ports.is_empty() {
                "any port".to_owned()
            } else {
                format!("ports {:?}", rule.ports)
            };
            Decision {
                allow: rule.action == RuleAction::Allow,
                rule: format!("rule {} ({} on {ports})", index + 1, rule.hosts),
            }
        }
        None => deny("no rule matched (default deny)"),
    }
}

fn deny(rule: &str) -> Decision {
    Decision {
        allow: false,
        rule: rule.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::plan::ProxyRule;

    fn plan(rules: Vec<ProxyRule>, squid_default_ports: bool) -> ProxyPlan {
        ProxyPlan {
            rules,
            squid_default_ports,
            ..ProxyPlan::new("corp")
        }
    }

    fn rule(hosts: &str, ports: Vec<u16>, action: RuleAction) -> ProxyRule {
        ProxyRule {
            hosts: hosts.into(),
            ports,
            action,
        }
    }

    #[test]
    fn first_matching_rule_wins_and_no_match_denies() {
        let plan = plan(
            vec![
                rule("bad.example.test", vec![], RuleAction::Deny),
                rule("*.example.test", vec![443], RuleAction::Allow),
            ],
            false,
        );
        assert!(!decide(&plan, true, "bad.example.test", 443).allow);
        let ok = decide(&plan, true, "good.example.test", 443);
        assert!(ok.allow);
        assert_eq!(ok.rule, "rule 2 (*.example.test on ports [443])");
        assert!(!decide(&plan, true, "good.example.test", 8443).allow);
        assert!(!decide(&plan, true, "elsewhere.test", 443).allow);
    }

    #[test]
    fn squid_default_ports_limit_connect_to_443_and_http_to_safe_ports() {
        let plan = plan(vec![rule("*", vec![], RuleAction::Allow)], true);
        assert!(decide(&plan, true, "a.test", 443).allow);
        assert_eq!(
            decide(&plan, true, "a.test", 80).rule,
            "http_access deny CONNECT !SSL_ports"
        );
        assert!(decide(&plan, false, "a.test", 80).allow);
        assert!(decide(&plan, false, "a.test", 8080).allow);
        assert_eq!(
            decide(&plan, false, "a.test", 8).rule,
            "http_access deny !Safe_ports"
        );
        assert!(!decide(&plan, false, "a.test", 1024).allow);
    }
}
