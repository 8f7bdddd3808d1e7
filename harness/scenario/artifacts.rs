//! Writing a scenario's artifact files (.exe.config, netsh output, TrustSettings.xml, event text, NPS log,
//! VPN profile) into the lab folder, so the artifact readers are exercised end to end.

use std::path::{Path, PathBuf};

use crate::check::{ArtifactKind, Probe};

use super::expand::ArtifactSpecs;
use super::files::{create_private_dir, write_private};
use super::model::InnerMethod;

/// What the artifact files need from the running lab.
#[derive(Debug, Clone, Default)]
pub struct ArtifactContext {
    /// `host:port` of each lab proxy by scenario name.
    pub proxies: Vec<(String, String)>,
    /// The client certificate: (SHA-1 thumbprint, leaf PEM), if the client has one.
    pub client_cert: Option<(String, String)>,
    /// The VPN server name used when the profile does not name one.
    pub default_vpn_server: Option<String>,
}

impl ArtifactContext {
    fn proxy(&self, name: &str) -> String {
        self.proxies
            .iter()
            .find(|(n, _)| n == name)
            .map_or_else(|| format!("{name}.invalid:8080"), |(_, a)| a.clone())
    }
}

/// Write every artifact of `specs` below `dir` (owner-only) and return the probes that read them.
pub fn write_artifacts(
    dir: &Path,
    specs: &ArtifactSpecs,
    ctx: &ArtifactContext,
) -> std::io::Result<Vec<Probe>> {
    let dir = dir.join("artifacts");
    create_private_dir(&dir)?;
    let store = dir.join("store");
    create_private_dir(&store)?;
    if let Some((_, pem)) = &ctx.client_cert {
        write_private(&store.join("client.pem"), pem.as_bytes())?;
    }
    let mut probes = Vec::new();
    let mut put =
        |name: &str, text: String, kind: ArtifactKind, with_store: bool| -> std::io::Result<()> {
            let path: PathBuf = dir.join(name);
            write_private(&path, text.as_bytes())?;
            probes.push(Probe::Artifact {
                kind,
                path,
                store: with_store.then(|| store.clone()),
            });
            Ok(())
        };
    if let Some((enabled, proxy, bypass, system)) = &specs.exe_config {
        put(
            "MicrosoftEntraPrivateNetworkConnectorService.exe.config",
            exe_config(
                *enabled,
                proxy.as_deref().map(|p| ctx.proxy(p)),
                *bypass,
                *system,
            ),
            ArtifactKind::ServiceConfig,
            false,
        )?;
    }
    if let Some((proxy, bypass)) = &specs.netsh {
        put(
            "netsh-winhttp-show-proxy.txt",
            netsh(proxy.as_deref().map(|p| ctx.proxy(p)), bypass),
            ArtifactKind::NetshWinhttp,
            false,
        )?;
    }
    if let Some((thumbprint, in_user_store)) = &specs.trust_settings {
        let thumbprint = thumbprint
            .clone()
            .or_else(|| {
                ctx.client_cert
                    .as_ref()
                    .map(|(t, _)| t.to_ascii_uppercase())
            })
            .unwrap_or_default();
        put(
            "TrustSettings.xml",
            trust_settings(&thumbprint, *in_user_store),
            ArtifactKind::TrustSettings,
            true,
        )?;
    }
    if let Some(text) = &specs.event_log {
        put(
            "connector-events.txt",
            text.clone(),
            ArtifactKind::EventLog,
            false,
        )?;
    }
    if let Some(rows) = &specs.nps_log {
        put(
            "IN2501.log",
            rows.join("\r\n") + "\r\n",
            ArtifactKind::NpsLog,
            false,
        )?;
    }
    if let Some((extensions, server, inner)) = &specs.vpn_profile {
        let server = server
            .clone()
            .or_else(|| ctx.default_vpn_server.clone())
            .unwrap_or_default();
        put(
            "VPN_Profile.xml",
            vpn_profile(&server, *extensions, *inner),
            ArtifactKind::VpnProfile,
            true,
        )?;
    }
    Ok(probes)
}

fn exe_config(enabled: Option<bool>, proxy: Option<String>, bypass: bool, system: bool) -> String {
    let attribute = enabled.map_or_else(String::new, |e| format!(" enabled=\"{e}\""));
    let inner = proxy.map_or_else(String::new, |address| {
        let cap = |b: bool| if b { "True" } else { "False" };
        format!("\n      <proxy proxyaddress=\"http://{address}\" bypassonlocal=\"{}\" usesystemdefault=\"{}\"/>\n    ", cap(bypass), cap(system))
    });
    let section = if enabled.is_none() && inner.is_empty() {
        String::new()
    } else {
        format!("  <system.net>\n    <defaultProxy{attribute}>{inner}</defaultProxy>\n  </system.net>\n")
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<configuration>\n{section}  <runtime>\n    <gcServer enabled=\"true\"/>\n  </runtime>\n  <appSettings>\n    <add key=\"TraceFilename\" value=\"MicrosoftEntraPrivateNetworkConnector.log\" />\n  </appSettings>\n</configuration>\n"
    )
}

fn netsh(proxy: Option<String>, bypass: &[String]) -> String {
    match proxy {
        None => "\nCurrent WinHTTP proxy settings:\n\n    Direct access (no proxy server).\n\n"
            .to_owned(),
        Some(address) => {
            let list = if bypass.is_empty() {
                "(none)".to_owned()
            } else {
                bypass.join(";")
            };
            format!("\nCurrent WinHTTP proxy settings:\n\n    Proxy Server(s) :  {address}\n    Bypass List     :  {list}\n\n")
        }
    }
}

fn trust_settings(thumbprint: &str, in_user_store: bool) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ConnectorTrustSettingsFile xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n  <CloudProxyTrust>\n    <Thumbprint>{thumbprint}</Thumbprint>\n    <IsInUserStore>{in_user_store}</IsInUserStore>\n  </CloudProxyTrust>\n</ConnectorTrustSettingsFile>\n"
    )
}

fn vpn_profile(server: &str, extensions: bool, inner: InnerMethod) -> String {
    let tls_extensions = if extensions {
        "<TLSExtensions xmlns=\"http://www.microsoft.com/provisioning/EapTlsConnectionPropertiesV2\"><FilteringInfo xmlns=\"http://www.microsoft.com/provisioning/EapTlsConnectionPropertiesV3\"><EKUMapping><EKUMap><EKUName>AAD Conditional Access</EKUName><EKUOID>1.3.6.1.4.1.311.87</EKUOID></EKUMap></EKUMapping><ClientAuthEKUList Enabled=\"true\"><EKUMapInList><EKUName>AAD Conditional Access</EKUName></EKUMapInList></ClientAuthEKUList></FilteringInfo></TLSExtensions>"
    } else {
        ""
    };
    let inner_eap = match inner {
        InnerMethod::Tls => format!("<Eap xmlns=\"http://www.microsoft.com/provisioning/BaseEapConnectionPropertiesV1\"><Type>13</Type><EapType xmlns=\"http://www.microsoft.com/provisioning/EapTlsConnectionPropertiesV1\"><CredentialsSource><CertificateStore><SimpleCertSelection>true</SimpleCertSelection></CertificateStore></CredentialsSource>{tls_extensions}</EapType></Eap>"),
        InnerMethod::Mschapv2 => "<Eap xmlns=\"http://www.microsoft.com/provisioning/BaseEapConnectionPropertiesV1\"><Type>26</Type><EapType xmlns=\"http://www.microsoft.com/provisioning/MsChapV2ConnectionPropertiesV1\"><UseWinLogonCredentials>false</UseWinLogonCredentials></EapType></Eap>".to_owned(),
    };
    format!(
        "<VPNProfile><AlwaysOn>true</AlwaysOn><NativeProfile><Servers>{server}</Servers><RoutingPolicyType>ForceTunnel</RoutingPolicyType><NativeProtocolType>Ikev2</NativeProtocolType><Authentication><UserMethod>Eap</UserMethod><MachineMethod>Eap</MachineMethod><Eap><Configuration><EapHostConfig xmlns=\"http://www.microsoft.com/provisioning/EapHostConfig\"><EapMethod><Type xmlns=\"http://www.microsoft.com/provisioning/EapCommon\">25</Type></EapMethod><Config xmlns=\"http://www.microsoft.com/provisioning/EapHostConfig\"><Eap xmlns=\"http://www.microsoft.com/provisioning/BaseEapConnectionPropertiesV1\"><Type>25</Type><EapType xmlns=\"http://www.microsoft.com/provisioning/MsPeapConnectionPropertiesV1\">{inner_eap}</EapType></Eap></Config></EapHostConfig></Configuration></Eap></Authentication></NativeProfile></VPNProfile>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_are_written_with_lab_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let specs = ArtifactSpecs {
            exe_config: Some((Some(false), None, false, false)),
            netsh: Some((Some("other".into()), vec![])),
            trust_settings: Some((None, true)),
            vpn_profile: Some((false, None, InnerMethod::Mschapv2)),
            ..ArtifactSpecs::default()
        };
        let ctx = ArtifactContext {
            proxies: vec![("other".into(), "127.0.0.1:4242".into())],
            client_cert: Some(("ab12".into(), "PEM".into())),
            default_vpn_server: Some("vpn.egresslab.test".into()),
        };
        let probes = write_artifacts(dir.path(), &specs, &ctx).expect("written");
        assert_eq!(probes.len(), 4);
        let read = |name: &str| {
            std::fs::read_to_string(dir.path().join("artifacts").join(name)).expect(name)
        };
        assert!(
            read("MicrosoftEntraPrivateNetworkConnectorService.exe.config")
                .contains("<defaultProxy enabled=\"false\"></defaultProxy>")
        );
        assert!(read("netsh-winhttp-show-proxy.txt").contains("Proxy Server(s) :  127.0.0.1:4242"));
        assert!(read("TrustSettings.xml")
            .contains("<Thumbprint>AB12</Thumbprint>\n    <IsInUserStore>true</IsInUserStore>"));
        let profile = read("VPN_Profile.xml");
        assert!(
            profile.contains("<Servers>vpn.egresslab.test</Servers>")
                && profile.contains("<Type>26</Type>")
        );
        assert!(!profile.contains("TLSExtensions"));
        assert_eq!(read("store/client.pem"), "PEM");
    }
}
