//! Starting a real Squid on loopback for differential tests: a generated config in a tempdir, a
//! bounded wait for the port, killed on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Squid binary, if installed.
pub fn binary() -> Option<PathBuf> {
    ["/usr/sbin/squid", "/usr/bin/squid"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// The Basic helper Squid ships.
pub fn basic_ncsa_auth() -> Option<&'static str> {
    [
        "/usr/lib/squid/basic_ncsa_auth",
        "/usr/lib/squid3/basic_ncsa_auth",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
}

/// A running Squid; killed when dropped.
pub struct Squid {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Squid {
    /// The folder holding its config and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its cache.log, for failure messages.
    pub fn cache_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cache.log")).unwrap_or_default()
    }
}

impl Drop for Squid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What to configure beyond the basics.
#[derive(Default)]
pub struct SquidConfig<'a> {
    /// Extra lines (acls and http_access), appended last.
    pub rules: &'a str,
    /// `user:apr1-hash` for basic_ncsa_auth, with realm `realm`.
    pub htpasswd: Option<(&'a str, &'a str)>,
    /// `hosts_file` lines (`127.0.0.1 name`).
    pub hosts: &'a [String],
}

/// Start Squid with `config` on a free loopback port; panics (with cache.log) if the port does not
/// open within 15 s.
pub fn start(bin: &Path, config: &SquidConfig<'_>) -> Squid {
    start_with(bin, |d, port| {
        let hosts = d.join("hosts");
        std::fs::write(&hosts, config.hosts.join("\n") + "\n").unwrap();
        let mut conf = basics(d, port, &hosts);
        if let Some((line, realm)) = config.htpasswd {
            let pw = htpasswd(d, &[line]);
            let helper = basic_ncsa_auth().expect("basic_ncsa_auth");
            conf.push_str(&format!(
                "auth_param basic program {helper} {}\nauth_param basic realm {realm}\n",
                pw.display()
            ));
        }
        conf.push_str(config.rules);
        conf
    })
}

/// The lines every test Squid starts with: its port on 127.0.0.1, its files in `d`, no cache,
/// names from `hosts` only (a DNS server at 127.0.0.1 that does not exist answers nothing).
pub fn basics(d: &Path, port: u16, hosts: &Path) -> String {
    format!(
        "http_port 127.0.0.1:{port}\npid_filename {d}/squid.pid\ncache_log {d}/cache.log\n\
         access_log {d}/access.log\ncache deny all\ncoredump_dir {d}\nshutdown_lifetime 0 seconds\n\
         hosts_file {hosts}\ndns_nameservers 127.0.0.1\ndns_timeout 3 seconds\n",
        d = d.display(),
        hosts = hosts.display()
    )
}

/// Write `lines` (`user:apr1-hash`) as an htpasswd file in `d`, readable by Squid's helper.
pub fn htpasswd(d: &Path, lines: &[&str]) -> PathBuf {
    let pw = d.join("htpasswd");
    std::fs::write(&pw, lines.join("\n") + "\n").unwrap();
    std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    pw
}

/// Start Squid on a free loopback port with the whole config `write(dir, port)` returns; panics
/// (with cache.log) if the port does not open within 15 s.
pub fn start_with(bin: &Path, write: impl FnOnce(&Path, u16) -> String) -> Squid {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    // Squid running as root drops to its own user: it must be able to write its logs here.
    std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = write(&d, port);
    let conf_path = d.join("squid.conf");
    std::fs::write(&conf_path, conf).unwrap();
    // A service name of its own: Squid names its shared-memory segments after it, and two Squids
    // of one name started at once collide ("shm_open(/squid-cf__metadata.shm): File exists").
    let child = Command::new(bin)
        .arg("-n")
        .arg(format!("egresslab{port}"))
        .arg("-N")
        .arg("-f")
        .arg(&conf_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let squid = Squid { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(15);
    // Bounded wait for the port (squid has no readiness signal).
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "squid did not open port {port}: {}",
            squid.cache_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    squid
}

/// An Apache MD5 (`$apr1$`) hash of `password`, as htpasswd files hold it.
pub fn apr1(password: &str) -> String {
    let out = Command::new("openssl")
        .args(["passwd", "-apr1", password])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
