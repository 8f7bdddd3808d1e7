//! `egresslab inspect` on files as Windows writes them: netsh output in UTF-16LE with a BOM and CRLF
//! (PowerShell's `>`), in Japanese, German and French, a UTF-16LE .exe.config with useDefaultCredentials,
//! a bypass list and bypassonlocal, and a file of no known kind (an error listing the kinds tried).

use std::path::Path;
use std::process::Command;

fn inspect(file: &str) -> (i32, String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inspect")
        .join(file);
    let out = Command::new(env!("CARGO_BIN_EXE_egresslab"))
        .arg("inspect")
        .arg(&path)
        .output()
        .expect("egresslab runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn netsh_output_in_every_language_and_encoding_names_the_proxy() {
    let cases = [
        (
            "netsh-en-utf16le.txt",
            "UTF-16LE with BOM, CRLF, English",
            Some("proxy.corp.example:8080 (bypass: <local>;*.corp.example)"),
        ),
        (
            "netsh-ja-utf16le.txt",
            "UTF-16LE with BOM, CRLF, Japanese",
            Some("proxy.corp.example:8080 (bypass: none)"),
        ),
        (
            "netsh-de-utf8bom.txt",
            "UTF-8 with BOM, CRLF, German",
            Some("proxy.corp.example:3128 (bypass: <local>)"),
        ),
        ("netsh-ja-direct.txt", "UTF-8, CRLF, Japanese", None),
        (
            "netsh-fr-direct.txt",
            "UTF-16LE with BOM, CRLF, French",
            None,
        ),
    ];
    for (file, how, proxy) in cases {
        let (code, out, err) = inspect(file);
        assert_eq!(code, 0, "{file}: {out}{err}");
        assert!(
            out.contains(&format!("NetshWinhttp ({how})")),
            "{file}: {out}"
        );
        match proxy {
            Some(p) => {
                assert!(out.contains("config.netsh_overrides"), "{file}: {out}");
                assert!(
                    out.contains(&format!("netsh winhttp sets proxy {p}")),
                    "{file}: {out}"
                );
            }
            None => assert!(out.contains("config.proxy_direct"), "{file}: {out}"),
        }
    }
}

#[test]
fn the_exe_config_reports_default_credentials_bypass_list_and_bypassonlocal() {
    let (code, out, err) = inspect("connector.exe.config");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("ServiceConfig (UTF-16LE with BOM, CRLF)"),
        "{out}"
    );
    assert!(
        out.contains("names proxy http://proxy.corp.example:8080"),
        "{out}"
    );
    assert!(out.contains("bypassonlocal=true"), "{out}");
    assert!(out.contains("useDefaultCredentials=true"), "{out}");
    assert!(
        out.contains(r"bypasslist=[a-z]+\.corp\.example;10\.\d+\.\d+\.\d+"),
        "{out}"
    );
}

#[test]
fn a_file_of_no_known_kind_is_an_error_naming_the_kinds_tried() {
    let (code, out, err) = inspect("unknown.txt");
    assert_eq!(code, 2, "{out}{err}");
    assert!(!out.contains("event."), "read as an event log: {out}");
    assert!(
        err.contains("cannot tell what kind of file this is; tried"),
        "{err}"
    );
    for kind in [
        "service .exe.config",
        "TrustSettings.xml",
        "VPN ProfileXML",
        "netsh winhttp show proxy",
        "NPS accounting log",
        "connector event-log text",
    ] {
        assert!(err.contains(kind), "{kind} not named: {err}");
    }
}
