//! The diagnosis codes as constants; a test keeps this list equal to diagnoses.toml.

use super::finding::Code;

/// Name resolves.
pub const NET_DNS_RESOLVED: Code = Code("net.dns.resolved");
/// Name does not exist.
pub const NET_DNS_NXDOMAIN: Code = Code("net.dns.nxdomain");
/// DNS server does not answer.
pub const NET_DNS_NO_ANSWER: Code = Code("net.dns.no_answer");
/// Port open.
pub const NET_TCP_OPEN: Code = Code("net.tcp.open");
/// Connection refused.
pub const NET_TCP_REFUSED: Code = Code("net.tcp.refused");
/// Connection timed out (filtered).
pub const NET_TCP_FILTERED: Code = Code("net.tcp.filtered");
/// Connection reset.
pub const NET_TCP_RESET: Code = Code("net.tcp.reset");
/// TLS handshake completed.
pub const TLS_HANDSHAKE_OK: Code = Code("tls.handshake.ok");
/// TLS handshake failed.
pub const TLS_HANDSHAKE_FAILED: Code = Code("tls.handshake.failed");
/// Handshake cut after the server answered.
pub const TLS_HANDSHAKE_RESET: Code = Code("tls.handshake.reset");
/// TLS 1.2 does not get through.
pub const TLS_VERSION_TLS12_BLOCKED: Code = Code("tls.version.tls12_blocked");
/// No TLS version in common.
pub const TLS_VERSION_MISMATCH: Code = Code("tls.version.mismatch");
/// SHA-512 certificate traffic blocked.
pub const TLS_SHA512_BLOCKED: Code = Code("tls.sha512_blocked");
/// TLS interception detected.
pub const TLS_INTERCEPTED: Code = Code("tls.intercepted");
/// Certificate chain valid.
pub const PKI_CHAIN_OK: Code = Code("pki.chain.ok");
/// Certificate expired.
pub const PKI_EXPIRED: Code = Code("pki.expired");
/// Certificate not yet valid.
pub const PKI_NOT_YET_VALID: Code = Code("pki.not_yet_valid");
/// Certificate name does not match.
pub const PKI_NAME_MISMATCH: Code = Code("pki.name_mismatch");
/// Untrusted root.
pub const PKI_UNTRUSTED_ROOT: Code = Code("pki.untrusted_root");
/// Server Authentication EKU missing.
pub const PKI_MISSING_SERVER_AUTH_EKU: Code = Code("pki.missing_server_auth_eku");
/// Incomplete chain.
pub const PKI_INCOMPLETE_CHAIN: Code = Code("pki.incomplete_chain");
/// Certificate revoked.
pub const PKI_REVOKED: Code = Code("pki.revoked");
/// Self-signed certificate.
pub const PKI_SELF_SIGNED: Code = Code("pki.self_signed");
/// Chain invalid.
pub const PKI_CHAIN_INVALID: Code = Code("pki.chain.invalid");
/// Revocation endpoint reachable.
pub const REVOCATION_REACHABLE: Code = Code("revocation.reachable");
/// Revocation endpoints unreachable.
pub const REVOCATION_UNREACHABLE: Code = Code("revocation.unreachable");
/// Client certificate accepted.
pub const TLS_CLIENT_CERT_OK: Code = Code("tls.client_cert.ok");
/// Client certificate required.
pub const TLS_CLIENT_CERT_REQUIRED_MISSING: Code = Code("tls.client_cert.required_missing");
/// Client certificate rejected.
pub const TLS_CLIENT_CERT_REJECTED: Code = Code("tls.client_cert.rejected");
/// Client certificate lost through interception.
pub const TLS_CLIENT_CERT_LOST_THROUGH_INTERCEPTION: Code =
    Code("tls.client_cert.lost_through_interception");
/// Proxy tunnel established.
pub const PROXY_CONNECT_OK: Code = Code("proxy.connect.ok");
/// Proxy requires authentication.
pub const PROXY_AUTH_REQUIRED: Code = Code("proxy.auth_required");
/// Proxy denies the destination.
pub const PROXY_DENIED: Code = Code("proxy.denied");
/// Proxy refuses tunnels to port 80.
pub const PROXY_PORT80_REFUSED: Code = Code("proxy.port80_refused");
/// Proxy could not reach the origin.
pub const PROXY_BAD_GATEWAY: Code = Code("proxy.bad_gateway");
/// Proxy timed out reaching the origin.
pub const PROXY_GATEWAY_TIMEOUT: Code = Code("proxy.gateway_timeout");
/// Proxy refused the tunnel.
pub const PROXY_REFUSED_OTHER: Code = Code("proxy.refused_other");
/// Proxy answered with something that is not HTTP.
pub const PROXY_GARBAGE: Code = Code("proxy.garbage");
/// Proxy closed the connection.
pub const PROXY_CLOSED: Code = Code("proxy.closed");
/// Proxy did not answer in time.
pub const PROXY_SLOW: Code = Code("proxy.slow");
/// Proxy unreachable.
pub const PROXY_UNREACHABLE: Code = Code("proxy.unreachable");
/// Proxy found through PAC.
pub const PROXY_PAC_FOUND: Code = Code("proxy.pac.found");
/// PAC points at an unreachable proxy.
pub const PROXY_PAC_DEAD_PROXY: Code = Code("proxy.pac.dead_proxy");
/// PAC script fails.
pub const PROXY_PAC_INVALID: Code = Code("proxy.pac.invalid");
/// WPAD not found.
pub const PROXY_WPAD_NOT_FOUND: Code = Code("proxy.wpad.not_found");
/// Every required endpoint reachable.
pub const CONNECTOR_ENDPOINTS_OK: Code = Code("connector.endpoints.ok");
/// Required connector endpoints blocked.
pub const CONNECTOR_ENDPOINT_BLOCKED: Code = Code("connector.endpoint_blocked");
/// Sign-in page unreachable.
pub const CONNECTOR_SIGNIN_UNREACHABLE: Code = Code("connector.signin_unreachable");
/// Service Bus falls back to HTTPS.
pub const CONNECTOR_SERVICEBUS_HTTPS_FALLBACK: Code = Code("connector.servicebus_https_fallback");
/// Application answered.
pub const APP_OK: Code = Code("app.ok");
/// Back-end slower than the default time-out.
pub const APP_BACKEND_TIMEOUT: Code = Code("app.backend_timeout");
/// Application unreachable or too slow.
pub const APP_UNREACHABLE: Code = Code("app.unreachable");
/// IKE answered.
pub const VPN_IKE_OK: Code = Code("vpn.ike.ok");
/// IKE ports blocked (error 809).
pub const VPN_IKE_BLOCKED: Code = Code("vpn.ike_blocked");
/// VPN server unreachable (error 800).
pub const VPN_SERVER_UNREACHABLE: Code = Code("vpn.server_unreachable");
/// VPN server certificate valid.
pub const VPN_SERVER_CERT_OK: Code = Code("vpn.server_cert.ok");
/// VPN server certificate lacks Server Authentication (0x80070040 / 13801).
pub const VPN_SERVER_CERT_NO_SERVER_AUTH: Code = Code("vpn.server_cert.no_server_auth");
/// VPN server certificate expired (13801).
pub const VPN_SERVER_CERT_EXPIRED: Code = Code("vpn.server_cert.expired");
/// VPN server name does not match its certificate (13801).
pub const VPN_SERVER_CERT_NAME_MISMATCH: Code = Code("vpn.server_cert.name_mismatch");
/// VPN server certificate from an untrusted root (0x800B0109).
pub const VPN_SERVER_CERT_UNTRUSTED_ROOT: Code = Code("vpn.server_cert.untrusted_root");
/// Machine certificate present.
pub const VPN_MACHINE_CERT_OK: Code = Code("vpn.machine_cert.ok");
/// No valid machine certificate (13806).
pub const VPN_MACHINE_CERT_MISSING: Code = Code("vpn.machine_cert_missing");
/// Authentication method mismatch (812).
pub const VPN_AUTH_MISMATCH: Code = Code("vpn.auth_mismatch");
/// Conditional-access profile correct.
pub const VPN_CONDITIONAL_ACCESS_OK: Code = Code("vpn.conditional_access.ok");
/// VPN profile lacks the conditional-access EKU filter ("Oops" loop).
pub const VPN_CONDITIONAL_ACCESS_PROFILE_MISSING_EKU: Code =
    Code("vpn.conditional_access.profile_missing_eku");
/// No certificate with the conditional-access EKU ("Oops" loop).
pub const VPN_CONDITIONAL_ACCESS_NO_CA_CERT: Code = Code("vpn.conditional_access.no_ca_cert");
/// NPS accounting summary.
pub const VPN_NPS_SUMMARY: Code = Code("vpn.nps.summary");
/// Connector configured without a proxy.
pub const CONFIG_PROXY_DIRECT: Code = Code("config.proxy_direct");
/// Proxy disabled in the service configuration.
pub const CONFIG_PROXY_DISABLED: Code = Code("config.proxy_disabled");
/// Explicit proxy configured.
pub const CONFIG_PROXY_EXPLICIT: Code = Code("config.proxy_explicit");
/// defaultProxy taken from machine.config.
pub const CONFIG_MACHINE_CONFIG_FALLBACK: Code = Code("config.machine_config_fallback");
/// netsh winhttp proxy overrides.
pub const CONFIG_NETSH_OVERRIDES: Code = Code("config.netsh_overrides");
/// Artifact file malformed.
pub const CONFIG_CONFIG_INVALID: Code = Code("config.config_invalid");
/// Connector trust certificate found.
pub const CONFIG_TRUST_OK: Code = Code("config.trust.ok");
/// Trust thumbprint not in the store.
pub const CONFIG_TRUST_THUMBPRINT_MISSING: Code = Code("config.trust.thumbprint_missing");
/// Connector trust certificate expired.
pub const CONFIG_TRUST_CERT_EXPIRED: Code = Code("config.trust.cert_expired");
/// Trust certificate from the wrong issuer.
pub const CONFIG_TRUST_WRONG_ISSUER: Code = Code("config.trust.wrong_issuer");
/// Registration failed: 'One or more errors occurred.'.
pub const EVENT_REGISTRATION_NETWORK_ERROR: Code = Code("event.registration.network_error");
/// Registration window shows an error.
pub const EVENT_REGISTRATION_WRONG_CREDENTIALS: Code = Code("event.registration.wrong_credentials");
/// Registration failed: AADSTS50059.
pub const EVENT_REGISTRATION_AADSTS50059: Code = Code("event.registration.aadsts50059");
/// PowerShell execution policy blocks installation.
pub const EVENT_INSTALL_EXECUTION_POLICY: Code = Code("event.install.execution_policy");
/// Connector failed to download the configuration.
pub const EVENT_CONFIG_DOWNLOAD_FAILED: Code = Code("event.config_download_failed");
/// Registration request denied.
pub const EVENT_REGISTRATION_DENIED: Code = Code("event.registration.denied");
/// Connector cannot reach the service.
pub const EVENT_SERVICE_UNREACHABLE: Code = Code("event.service_unreachable");
/// Connector trust certificate expired (event 1000).
pub const EVENT_TRUST_CERT_EXPIRED: Code = Code("event.trust_cert_expired");
/// Message not recognised.
pub const EVENT_UNRECOGNISED: Code = Code("event.unrecognised");

/// Every code, in taxonomy order.
pub const ALL: &[Code] = &[
    NET_DNS_RESOLVED,
    NET_DNS_NXDOMAIN,
    NET_DNS_NO_ANSWER,
    NET_TCP_OPEN,
    NET_TCP_REFUSED,
    NET_TCP_FILTERED,
    NET_TCP_RESET,
    TLS_HANDSHAKE_OK,
    TLS_HANDSHAKE_FAILED,
    TLS_HANDSHAKE_RESET,
    TLS_VERSION_TLS12_BLOCKED,
    TLS_VERSION_MISMATCH,
    TLS_SHA512_BLOCKED,
    TLS_INTERCEPTED,
    PKI_CHAIN_OK,
    PKI_EXPIRED,
    PKI_NOT_YET_VALID,
    PKI_NAME_MISMATCH,
    PKI_UNTRUSTED_ROOT,
    PKI_MISSING_SERVER_AUTH_EKU,
    PKI_INCOMPLETE_CHAIN,
    PKI_REVOKED,
    PKI_SELF_SIGNED,
    PKI_CHAIN_INVALID,
    REVOCATION_REACHABLE,
    REVOCATION_UNREACHABLE,
    TLS_CLIENT_CERT_OK,
    TLS_CLIENT_CERT_REQUIRED_MISSING,
    TLS_CLIENT_CERT_REJECTED,
    TLS_CLIENT_CERT_LOST_THROUGH_INTERCEPTION,
    PROXY_CONNECT_OK,
    PROXY_AUTH_REQUIRED,
    PROXY_DENIED,
    PROXY_PORT80_REFUSED,
    PROXY_BAD_GATEWAY,
    PROXY_GATEWAY_TIMEOUT,
    PROXY_REFUSED_OTHER,
    PROXY_GARBAGE,
    PROXY_CLOSED,
    PROXY_SLOW,
    PROXY_UNREACHABLE,
    PROXY_PAC_FOUND,
    PROXY_PAC_DEAD_PROXY,
    PROXY_PAC_INVALID,
    PROXY_WPAD_NOT_FOUND,
    CONNECTOR_ENDPOINTS_OK,
    CONNECTOR_ENDPOINT_BLOCKED,
    CONNECTOR_SIGNIN_UNREACHABLE,
    CONNECTOR_SERVICEBUS_HTTPS_FALLBACK,
    APP_OK,
    APP_BACKEND_TIMEOUT,
    APP_UNREACHABLE,
    VPN_IKE_OK,
    VPN_IKE_BLOCKED,
    VPN_SERVER_UNREACHABLE,
    VPN_SERVER_CERT_OK,
    VPN_SERVER_CERT_NO_SERVER_AUTH,
    VPN_SERVER_CERT_EXPIRED,
    VPN_SERVER_CERT_NAME_MISMATCH,
    VPN_SERVER_CERT_UNTRUSTED_ROOT,
    VPN_MACHINE_CERT_OK,
    VPN_MACHINE_CERT_MISSING,
    VPN_AUTH_MISMATCH,
    VPN_CONDITIONAL_ACCESS_OK,
    VPN_CONDITIONAL_ACCESS_PROFILE_MISSING_EKU,
    VPN_CONDITIONAL_ACCESS_NO_CA_CERT,
    VPN_NPS_SUMMARY,
    CONFIG_PROXY_DIRECT,
    CONFIG_PROXY_DISABLED,
    CONFIG_PROXY_EXPLICIT,
    CONFIG_MACHINE_CONFIG_FALLBACK,
    CONFIG_NETSH_OVERRIDES,
    CONFIG_CONFIG_INVALID,
    CONFIG_TRUST_OK,
    CONFIG_TRUST_THUMBPRINT_MISSING,
    CONFIG_TRUST_CERT_EXPIRED,
    CONFIG_TRUST_WRONG_ISSUER,
    EVENT_REGISTRATION_NETWORK_ERROR,
    EVENT_REGISTRATION_WRONG_CREDENTIALS,
    EVENT_REGISTRATION_AADSTS50059,
    EVENT_INSTALL_EXECUTION_POLICY,
    EVENT_CONFIG_DOWNLOAD_FAILED,
    EVENT_REGISTRATION_DENIED,
    EVENT_SERVICE_UNREACHABLE,
    EVENT_TRUST_CERT_EXPIRED,
    EVENT_UNRECOGNISED,
];
