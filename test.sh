#!/usr/bin/env bash
# The project's whole test run, on a fresh machine or an old one:
#   1. installs what the tests drive (curl, openssl, dig, squid, tshark, Node.js, Chromium and
#      chromedriver; Python requests, toxiproxy-python, haralyzer, selenium; npm toxiproxy-node-client,
#      har-validator, axe-core) and what the toxiproxy_rust crate builds with
#      (pkg-config, libssl-dev),
#   2. checks formatting and lints,
#   3. runs every test of the workspace (unit, integration, real-client, doc), compiles the benches,
#      and runs tests/clients/toxiproxy-rust, a crate of its own, against the built egresslab.
# Needs the Rust toolchain and either root or sudo for apt-get.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
command -v curl >/dev/null || missing+=(curl)
command -v openssl >/dev/null || missing+=(openssl)
command -v dig >/dev/null || missing+=(dnsutils)
# tshark (the Wireshark engine) judges the lab's pcapng captures in tests/real_capture_tshark.rs.
command -v tshark >/dev/null || missing+=(tshark)
command -v squid >/dev/null || [ -x /usr/sbin/squid ] || missing+=(squid)
# Dante, a real SOCKS5 server, for the reply-code differential in tests/real_socks.rs.
command -v danted >/dev/null || [ -x /usr/sbin/danted ] || missing+=(dante-server)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
# reqwest 0.11, under toxiproxy_rust, links OpenSSL through openssl-sys.
command -v pkg-config >/dev/null || missing+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
# The web view's browser test (tests/real_web.rs): headless Chromium and its WebDriver.
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
# tests/real_netns.rs creates network namespaces and veth pairs with iproute2's `ip`.
command -v ip >/dev/null || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # tshark's package asks whether non-root users may capture; answer no, without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian package starts a system squid on port 3128; the tests start their own.
  if [[ " ${missing[*]} " == *" squid "* ]]; then
    $sudo systemctl disable --now squid >/dev/null 2>&1 || $sudo service squid stop >/dev/null 2>&1 || true
  fi
  # Its package may start a system danted; the tests start their own.
  if [[ " ${missing[*]} " == *" dante-server "* ]]; then
    $sudo systemctl disable --now danted >/dev/null 2>&1 || $sudo service danted stop >/dev/null 2>&1 || true
  fi
fi
python3 -c 'import requests' 2>/dev/null || python3 -m pip install -q requests
# A PAC-aware client (tests/real_netns.rs discovers the wpad-pac lab's proxy with it).
python3 -c 'import pacparser' 2>/dev/null || python3 -m pip install -q pacparser
# The published Toxiproxy client the control API is tested with.
python3 -c 'import toxiproxy' 2>/dev/null || python3 -m pip install -q toxiproxy-python
# A HAR reader written elsewhere, for the HAR files the lab writes.
python3 -c 'import haralyzer' 2>/dev/null || python3 -m pip install -q haralyzer
# Selenium drives Debian's chromedriver in the web view's browser test.
python3 -c 'import selenium' 2>/dev/null || python3 -m pip install -q selenium
# NTLM and SPNEGO clients the proxy's authentication is tested with (tests/real_proxy_auth.rs).
python3 -c 'import spnego, requests_ntlm' 2>/dev/null || python3 -m pip install -q pyspnego requests-ntlm
# PySocks: requests' socks5:// and socks5h:// proxies (tests/real_socks.rs).
python3 -c 'import socks' 2>/dev/null || python3 -m pip install -q pysocks
# The published Node packages, at the versions tests/clients/package.json pins, into
# tests/clients/node_modules: any one missing or at another version installs them all.
node_stale=$(node -e '
  const pins = require("./tests/clients/package.json").dependencies;
  const stale = Object.entries(pins).filter(([name, pin]) => {
    try { return require(`./tests/clients/node_modules/${name}/package.json`).version !== pin; }
    catch { return true; }
  });
  console.log(stale.length);')
if [ "$node_stale" != "0" ]; then
  npm install --prefix tests/clients --no-save --no-package-lock --no-audit --no-fund --loglevel=error
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --all-targets
cargo test --workspace --doc

# The published Rust client, toxiproxy_rust, in its own crate (reqwest 0.11 and OpenSSL stay out of the
# workspace), sharing the workspace's target folder and driving the egresslab binary its tests built.
rust_client=tests/clients/toxiproxy-rust/Cargo.toml
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export CARGO_TARGET_DIR="$target_dir"
cargo fmt --manifest-path "$rust_client" -- --check
cargo clippy --manifest-path "$rust_client" --all-targets -- -D warnings
EGRESSLAB_BIN="$target_dir/debug/egresslab" cargo test --manifest-path "$rust_client"
