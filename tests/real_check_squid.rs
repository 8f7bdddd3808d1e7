//! The checks against a real Squid on loopback: Basic auth required (407, schemes listed) in one run, a
//! denied domain (403, host named) in another. Skips loudly only when squid is not installed.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use egresslab::check::{run, ClientConfig, Probe, ProxySetting};

fn squid_binary() -> Option<PathBuf> {
    ["/usr/sbin/squid", "/usr/bin/squid"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

struct Squid {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Squid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_squid(bin: &Path, rules: &str, htpasswd: Option<&str>) -> Squid {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let d = d.as_path();
    // Squid running as root drops to its own user: it must be able to write its logs here.
    std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut conf = format!(
        "http_port 127.0.0.1:{port}\npid_filename {d}/squid.pid\ncache_log {d}/cache.log\naccess_log {d}/access.log\n\
         cache deny all\ncoredump_dir {d}\nshutdown_lifetime 0 seconds\ndns_nameservers 127.0.0.1\n",
        d = d.display()
    );
    if let Some(line) = htpasswd {
        let pw = d.join("htpasswd");
        std::fs::write(&pw, format!("{line}\n")).unwrap();
        std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        let helper = [
            "/usr/lib/squid/basic_ncsa_auth",
            "/usr/lib/squid3/basic_ncsa_auth",
        ]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("basic_ncsa_auth");
        conf.push_str(&format!(
            "auth_param basic program {helper} {}\nauth_param basic realm egresslab\n",
            pw.display()
        ));
    }
    conf.push_str(rules);
    let conf_path = d.join("squid.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(bin)
        .arg("-N")
        .arg("-f")
        .arg(&conf_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let squid = Squid {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    // Bounded wait for the port (squid has no readiness signal).
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "squid did not open port {port}: {}",
            std::fs::read_to_string(d.join("cache.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    squid
}

fn apr1(password: &str) -> String {
    let out = Command::new("openssl")
        .args(["passwd", "-apr1", password])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn squid_basic_auth_gives_proxy_auth_required_and_denied_domain_gives_proxy_denied() {
    let Some(bin) = squid_binary() else {
        eprintln!("\n\n!!!!! SKIPPED: squid is not installed (./test.sh installs it) !!!!!\n");
        return;
    };
    let url = "https://connector-sample.servicebus.windows.net/";

    // Run 1: Basic authentication required.
    let line = format!("connector:{}", apr1("s3cret"));
    let squid = start_squid(
        &bin,
        "acl authed proxy_auth REQUIRED\nhttp_access deny !authed\nhttp_access allow all\n",
        Some(&line),
    );
    let config = ClientConfig {
        proxy: ProxySetting::Url(format!("http://127.0.0.1:{}", squid.port)),
        ..Default::default()
    };
    let report = run(&config, &[Probe::Url { url: url.into() }]).await;
    let f = report
        .with_code("proxy.auth_required")
        .next()
        .unwrap_or_else(|| panic!("expected proxy.auth_required, got {:#?}", report.findings));
    assert!(f.summary.contains("Basic"), "{}", f.summary);
    assert!(!report.codes().iter().any(|c| c.0 == "proxy.denied"));
    drop(squid);

    // Run 2: a domain denied; another allowed to tunnel (it then fails upstream: no DNS on this machine).
    let squid = start_squid(&bin, "acl blocked dstdomain .servicebus.windows.net\nhttp_access deny blocked\nhttp_access allow all\n", None);
    let config = ClientConfig {
        proxy: ProxySetting::Url(format!("http://127.0.0.1:{}", squid.port)),
        ..Default::default()
    };
    let report = run(
        &config,
        &[
            Probe::Url { url: url.into() },
            Probe::Url {
                url: "https://connector-sample.msappproxy.net/".into(),
            },
        ],
    )
    .await;
    let denied: Vec<_> = report.with_code("proxy.denied").collect();
    assert_eq!(denied.len(), 1, "{:#?}", report.findings);
    assert!(
        denied[0]
            .summary
            .contains("connector-sample.servicebus.windows.net"),
        "{}",
        denied[0].summary
    );
    assert!(
        !denied[0].target.contains("msappproxy"),
        "the allowed domain must not be reported denied"
    );
    assert!(!report.codes().iter().any(|c| c.0 == "proxy.auth_required"));
}
