//! The published `toxiproxy_rust` crate drives `egresslab up --control` unchanged.
//!
//! test.sh runs this with `EGRESSLAB_BIN` naming a built `egresslab`. The crate's `TOXIPROXY` static
//! talks to 127.0.0.1:8474, so every call here goes through `Client::new(control address)` instead.
//! The crate has no call to create one link (populate does that), none to update a toxic, and it
//! reads no HTTP status: an error answer surfaces only as a body it cannot decode.

#[allow(dead_code)]
#[path = "../../../common/control_lab.rs"]
mod control_lab;

use std::collections::{BTreeSet, HashMap};
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

use control_lab::ControlLab;
use toxiproxy_rust::client::Client;
use toxiproxy_rust::proxy::{Proxy, ProxyPack};
use toxiproxy_rust::toxic::ToxicPack;

fn lab() -> ControlLab {
    let binary = std::env::var_os("EGRESSLAB_BIN")
        .expect("EGRESSLAB_BIN names a built egresslab binary (test.sh sets it)");
    ControlLab::start(Path::new(&binary), "tls-healthy", 7).expect("the lab starts")
}

fn pack(name: &str, upstream: &str) -> ProxyPack {
    ProxyPack::new(name.into(), "127.0.0.1:0".into(), upstream.into())
}

fn listen(proxy: &Proxy) -> SocketAddr {
    let address: SocketAddr = proxy
        .proxy_pack
        .listen
        .parse()
        .expect("listen is an address");
    assert_ne!(address.port(), 0, "port 0 answered with the real port");
    address
}

/// The link's toxics sorted by name, as the server lists them.
fn toxics(proxy: &Proxy) -> Vec<ToxicPack> {
    let mut list = proxy.toxics().expect("toxics listed");
    list.sort_by(|a, b| a.name.cmp(&b.name));
    list
}

fn attributes(pairs: &[(&str, u32)]) -> HashMap<String, u32> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// The links' names. The lab's own listeners are listed too, with an upstream that names their
/// kind (`endpoint site`); they are left out here, and checked once in `populate_all_find_and_delete`.
fn names(client: &Client) -> BTreeSet<String> {
    client
        .all()
        .expect("all")
        .into_iter()
        .filter(|(_, proxy)| !is_lab_listener(&proxy.proxy_pack.upstream))
        .map(|(name, _)| name)
        .collect()
}

fn is_lab_listener(upstream: &str) -> bool {
    ["endpoint ", "proxy ", "route ", "udp "]
        .iter()
        .any(|kind| upstream.starts_with(kind))
}

fn connect(address: SocketAddr) -> Result<(), ErrorKind> {
    TcpStream::connect(address).map(drop).map_err(|e| e.kind())
}

#[test]
fn populate_all_find_and_delete() {
    let lab = lab();
    let client = Client::new(lab.control());
    assert!(client.is_running());
    let version = client.version().expect("version");
    assert!(version.contains("egresslab"), "{version}");

    let populated = client
        .populate(vec![
            pack("site-rust", "site"),
            pack("site-host", "site.egresslab.test:443"),
        ])
        .expect("populate");
    let got: Vec<_> = populated
        .iter()
        .map(|p| {
            let pack = &p.proxy_pack;
            (pack.name.as_str(), pack.upstream.as_str(), pack.enabled)
        })
        .collect();
    assert_eq!(
        got,
        [
            ("site-rust", "site", true),
            ("site-host", "site.egresslab.test:443", true)
        ]
    );
    let first = listen(&populated[0]);
    assert!(populated.iter().all(|p| p.proxy_pack.toxics.is_empty()));
    connect(first).expect("a new link accepts");

    // The same name, upstream and any port again: the link is kept where it listens.
    let again = client
        .populate(vec![pack("site-rust", "site")])
        .expect("populate again");
    assert_eq!(listen(&again[0]), first);

    let all = client.all().expect("all");
    assert_eq!(
        all.get("site").map(|p| p.proxy_pack.upstream.as_str()),
        Some("endpoint site"),
        "the lab's own endpoint is listed beside the links"
    );
    assert_eq!(
        names(&client),
        BTreeSet::from(["site-host".to_owned(), "site-rust".to_owned()])
    );
    let found = client.find_proxy("site-host").expect("found");
    assert_eq!(found.proxy_pack.upstream, "site.egresslab.test:443");
    assert_eq!(listen(&found), listen(&populated[1]));

    // An upstream outside the lab is refused (403); the crate sees only a body it cannot read.
    let refused = client.populate(vec![pack("site-far", "example.com:443")]);
    assert!(refused.is_err(), "an outside upstream was accepted");
    assert!(!names(&client).contains("site-far"));

    found.delete().expect("deleted");
    assert_eq!(names(&client), BTreeSet::from(["site-rust".to_owned()]));
    let missing = client.find_proxy("site-host");
    assert!(
        missing.is_err(),
        "a deleted link was found: {:?}",
        missing.map(|p| p.proxy_pack)
    );
    assert_eq!(
        connect(listen(&found)),
        Err(ErrorKind::ConnectionRefused),
        "a deleted link frees its port"
    );
    assert!(lab.stop().expect("stopped").success());
}

#[test]
fn toxics_enable_disable_apply_and_reset() {
    let lab = lab();
    let client = Client::new(lab.control());
    client
        .populate(vec![pack("site-rust", "site")])
        .expect("populate");
    let proxy = client.find_proxy("site-rust").expect("found");
    let address = listen(&proxy);

    proxy
        .with_latency("downstream".into(), 100, 10, 1.0)
        .with_limit_data("upstream".into(), 2048, 0.5);
    let list = toxics(&proxy);
    let shape: Vec<_> = list
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.r#type.as_str(),
                t.stream.as_str(),
                t.toxicity,
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("latency_downstream", "latency", "downstream", 1.0),
            ("limit_data_upstream", "limit_data", "upstream", 0.5)
        ]
    );
    assert_eq!(
        list[0].attributes,
        attributes(&[("latency", 100), ("jitter", 10)])
    );
    assert_eq!(list[1].attributes, attributes(&[("bytes", 2048)]));
    let seen = client.find_proxy("site-rust").expect("found");
    assert_eq!(seen.proxy_pack.toxics.len(), 2, "a link carries its toxics");

    proxy.disable().expect("disabled");
    assert!(
        !client
            .find_proxy("site-rust")
            .expect("found")
            .proxy_pack
            .enabled
    );
    assert_eq!(connect(address), Err(ErrorKind::ConnectionRefused));
    proxy.enable().expect("enabled");
    assert!(
        client
            .find_proxy("site-rust")
            .expect("found")
            .proxy_pack
            .enabled
    );
    connect(address).expect("an enabled link accepts");

    let mut inside = None;
    proxy
        .with_down(|| inside = Some(connect(address)))
        .expect("with_down");
    assert_eq!(inside, Some(Err(ErrorKind::ConnectionRefused)));
    connect(address).expect("enabled again after with_down");

    // apply() runs the closure with the toxics in place, then removes every toxic of the link.
    let mut during = Vec::new();
    proxy
        .with_bandwidth("downstream".into(), 500, 1.0)
        .apply(|| during = toxics(&proxy).into_iter().map(|t| t.name).collect())
        .expect("apply");
    assert_eq!(
        during,
        [
            "bandwidth_downstream",
            "latency_downstream",
            "limit_data_upstream"
        ]
    );
    assert!(toxics(&proxy).is_empty(), "apply removed the toxics");

    proxy
        .with_slicer("downstream".into(), 1024, 128, 500, 1.0)
        .with_slow_close("upstream".into(), 300, 1.0);
    proxy.disable().expect("disabled");
    client
        .find_and_reset_proxy("site-rust")
        .expect("found and reset");
    let after = client.find_proxy("site-rust").expect("found");
    assert!(after.proxy_pack.enabled && after.proxy_pack.toxics.is_empty());

    proxy.with_timeout("downstream".into(), 1000, 1.0);
    assert_eq!(
        toxics(&proxy)[0].attributes,
        attributes(&[("timeout", 1000)])
    );
    proxy.disable().expect("disabled");
    client.reset().expect("reset");
    let after = client.find_proxy("site-rust").expect("found");
    assert!(
        after.proxy_pack.enabled && after.proxy_pack.toxics.is_empty(),
        "reset enables every link and removes every toxic: {:?}",
        after.proxy_pack
    );

    proxy.delete().expect("deleted");
    assert!(names(&client).is_empty());
    assert!(lab.stop().expect("stopped").success());
}
