//! TLS secrets of the lab's own handshakes in the NSS key log format: rustls hands each secret to
//! [`Secrets`], which appends it to the key log file and to the pcapng as a Decryption Secrets
//! Block, written before the packets that need it (the secret exists before the records it
//! protects are sent or read on).

use std::fmt::Write as _;
use std::sync::Arc;

use rustls::{ClientConfig, KeyLog, ServerConfig};

use super::Capture;

/// rustls's key log hook for one lab.
#[derive(Debug)]
struct Secrets(Capture);

impl KeyLog for Secrets {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        self.0.secret(&nss_line(label, client_random, secret));
    }

    fn will_log(&self, _label: &str) -> bool {
        true
    }
}

/// One line of the NSS key log format: `LABEL <client random hex> <secret hex>\n`.
fn nss_line(label: &str, client_random: &[u8], secret: &[u8]) -> String {
    let mut line =
        String::with_capacity(label.len() + 2 * (client_random.len() + secret.len()) + 3);
    line.push_str(label);
    line.push(' ');
    line.push_str(&hex::encode(client_random));
    line.push(' ');
    line.push_str(&hex::encode(secret));
    let _ = writeln!(line);
    line
}

impl Capture {
    /// `config` logging its secrets to this capture, or `config` itself when no secrets are wanted.
    pub(crate) fn server_config(&self, config: Arc<ServerConfig>) -> Arc<ServerConfig> {
        if !self.wants_secrets() {
            return config;
        }
        let mut logged = (*config).clone();
        logged.key_log = Arc::new(Secrets(self.clone()));
        Arc::new(logged)
    }

    /// `config` logging its secrets to this capture, or `config` itself when no secrets are wanted.
    pub(crate) fn client_config(&self, config: Arc<ClientConfig>) -> Arc<ClientConfig> {
        if !self.wants_secrets() {
            return config;
        }
        let mut logged = (*config).clone();
        logged.key_log = Arc::new(Secrets(self.clone()));
        Arc::new(logged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_nss_format() {
        assert_eq!(
            nss_line("CLIENT_TRAFFIC_SECRET_0", &[0xab, 0x01], &[0xff]),
            "CLIENT_TRAFFIC_SECRET_0 ab01 ff\n"
        );
    }
}
