//! The `socks5` proxy kind: one SOCKS5 exchange per client connection (RFC 1928), with no-auth or
//! RFC 1929 username/password against the plan's user table, then the same rules, faults, routing
//! and relay as the HTTP proxy's CONNECT.
//!
//! Reply codes follow Dante's `errno2reply()`: refused or reset → 0x05, host unreachable → 0x04,
//! network unreachable → 0x03, time-out → 0x06 (TTL expired), anything else → 0x01. A name the
//! proxy cannot resolve is 0x04, as Dante 1.4.2 answers. A
//! denial by rule, and an IP literal the lab never declared, are 0x02; BIND and UDP ASSOCIATE 0x07;
//! an unknown address type closes without a reply, as Dante 1.4.2 does (tests/real_socks.rs runs
//! the same sequences against a real Dante).

use std::net::{Ipv4Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::lab::timeline::EventKind;
use crate::socks::{self, Address, Command, Reply, SocksError};

use super::answers::Failure;
use super::auth::known_user;
use super::faults::FaultStep;
use super::tcp_relay::AsTcp;
use super::tunnel::{self, Relayed};
use super::{rules, upstream, Proxy};

/// Errno values Dante's `errno2reply()` distinguishes.
const ENETUNREACH: i32 = 101;
const ECONNRESET: i32 = 104;
const ECONNREFUSED: i32 = 111;
const EHOSTUNREACH: i32 = 113;

/// The reply a failure to reach the destination gets.
fn reply_for(failure: &Failure) -> Reply {
    match failure {
        Failure::Denied | Failure::Undeclared | Failure::AccessRefused { .. } => Reply::NotAllowed,
        Failure::DnsFail => Reply::HostUnreachable,
        Failure::ConnectFail { errno, .. } => match *errno {
            ENETUNREACH => Reply::NetworkUnreachable,
            EHOSTUNREACH => Reply::HostUnreachable,
            ECONNREFUSED | ECONNRESET => Reply::ConnectionRefused,
            _ => Reply::GeneralFailure,
        },
        Failure::ConnectTimeout => Reply::TtlExpired,
        _ => Reply::GeneralFailure,
    }
}

/// What the timeline's `socks` event says, filled in as the exchange goes.
#[derive(Default)]
struct Exchange {
    methods: Vec<String>,
    chosen: Option<String>,
    user: Option<String>,
    authenticated: Option<bool>,
    command: Option<String>,
    address_type: Option<String>,
    target: Option<String>,
    reply: Option<u8>,
}

impl Exchange {
    fn event(self, outcome: String) -> EventKind {
        EventKind::Socks {
            methods: self.methods,
            chosen: self.chosen,
            user: self.user,
            authenticated: self.authenticated,
            command: self.command,
            address_type: self.address_type,
            target: self.target,
            reply: self.reply,
            outcome,
        }
    }
}

/// How an exchange ended before a tunnel: why, for the `socks` event and the close.
struct Ended(String);

impl Proxy {
    /// Serve one SOCKS5 client connection: the exchange, then the relay. Returns the record of
    /// the connection's end.
    pub(super) async fn socks<S>(&self, client: &mut S, peer: SocketAddr) -> Relayed
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + AsTcp,
    {
        let mut exchange = Exchange::default();
        let mut buf = Vec::new();
        let opened = self
            .socks_exchange(client, peer, &mut buf, &mut exchange)
            .await;
        let (origin, target) = match opened {
            Ok(opened) => opened,
            Err(Ended(why)) => {
                self.record(exchange.event(why.clone()));
                return Relayed::gone(&why);
            }
        };
        self.record(exchange.event(format!("succeeded: tunnel to {target}")));
        let mut origin = origin;
        if !buf.is_empty() && origin.write_all(&buf).await.is_err() {
            return Relayed::gone("origin closed before the early data");
        }
        let mut relayed = match client.as_tcp() {
            Some(tcp) => self.relay_blind(tcp, origin).await,
            None => tunnel::relay(client, origin, &self.shutdown).await,
        };
        relayed.up += buf.len() as u64;
        relayed
    }

    /// Greeting, method, credentials, request, admission and the origin leg; the origin and the
    /// target in words once the success reply is sent.
    async fn socks_exchange<S>(
        &self,
        client: &mut S,
        peer: SocketAddr,
        buf: &mut Vec<u8>,
        exchange: &mut Exchange,
    ) -> Result<(TcpStream, String), Ended>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let offered = self.socks_read(client, buf, socks::decode_greeting).await?;
        exchange.methods = offered.iter().map(|m| socks::method_name(*m)).collect();
        let wanted = if self.plan.auth.is_some() {
            socks::METHOD_USERPASS
        } else {
            socks::METHOD_NO_AUTH
        };
        let chosen = if offered.contains(&wanted) {
            wanted
        } else {
            socks::NO_ACCEPTABLE_METHODS
        };
        exchange.chosen = Some(socks::method_name(chosen));
        write(client, &socks::choice(chosen)).await?;
        if chosen == socks::NO_ACCEPTABLE_METHODS {
            return Err(Ended(format!(
                "no acceptable methods: the proxy wants {}",
                socks::method_name(wanted)
            )));
        }
        let mut user = None;
        if let Some(plan) = self.plan.auth.as_ref() {
            let (name, password) = self.socks_read(client, buf, socks::decode_userpass).await?;
            let accepted = known_user(plan, name.as_bytes(), password.as_bytes());
            exchange.user = Some(name.clone());
            exchange.authenticated = Some(accepted);
            write(client, &socks::userpass_status(accepted)).await?;
            if !accepted {
                return Err(Ended(format!(
                    "username/password refused for user {name:?} (unknown user or wrong password)"
                )));
            }
            user = Some(name);
        }
        let request = match self
            .socks_read_raw(client, buf, socks::decode_request)
            .await?
        {
            Ok(request) => request,
            // RFC 1928 would answer 0x08; Dante 1.4.2 closes without a reply, and so does the lab.
            Err(error @ SocksError::AddressType(_)) => {
                return Err(Ended(format!("closed without a reply: {error}")));
            }
            Err(error) => return Err(not_socks(error)),
        };
        let (host, port) = (request.address.host(), request.address.port());
        let target = request.address.to_string();
        exchange.command = Some(request.command.to_string());
        exchange.address_type = Some(request.address.kind().to_owned());
        exchange.target = Some(target.clone());
        self.record(EventKind::Request {
            peer,
            method: format!("SOCKS5 {}", request.command),
            target: target.clone(),
            user,
        });
        if request.command != Command::Connect {
            return Err(self
                .socks_refuse(
                    client,
                    exchange,
                    Reply::CommandNotSupported,
                    &request.address,
                )
                .await);
        }
        match self.fault(client).await {
            FaultStep::Continue => {}
            FaultStep::Answer(failure) => {
                return Err(self
                    .socks_refuse(client, exchange, reply_for(&failure), &request.address)
                    .await)
            }
            FaultStep::Close(reason) => return Err(Ended(reason.to_owned())),
        }
        let decision = rules::decide(&self.plan, true, &host, port);
        self.record_rule(decision.rule, decision.allow, &target);
        if !decision.allow {
            return Err(self
                .socks_refuse(client, exchange, Reply::NotAllowed, &request.address)
                .await);
        }
        let opened = tokio::select! {
            () = self.shutdown.cancelled() => return Err(Ended("shutdown".to_owned())),
            opened = upstream::open_tunnel(self, self.plan.upstream.as_deref(), &host, port) => opened,
        };
        let origin = match opened {
            Ok(origin) => origin,
            Err(failure) => {
                return Err(self
                    .socks_refuse(client, exchange, reply_for(&failure), &request.address)
                    .await)
            }
        };
        let bound = origin.local_addr().unwrap_or_else(|_| unbound());
        exchange.reply = Some(Reply::Succeeded.byte());
        write(client, &socks::reply(Reply::Succeeded, &Address::Ip(bound))).await?;
        Ok((origin, target))
    }

    /// Send a failure reply and say why the exchange ended. BND.ADDR echoes the requested
    /// destination, as Dante 1.4.2 does.
    async fn socks_refuse<S: AsyncWrite + Unpin>(
        &self,
        client: &mut S,
        exchange: &mut Exchange,
        reply: Reply,
        target: &Address,
    ) -> Ended {
        exchange.reply = Some(reply.byte());
        match write(client, &socks::reply(reply, target)).await {
            Ok(()) => Ended(format!("replied {reply} for {target}")),
            Err(ended) => ended,
        }
    }

    /// Read one SOCKS message within the header time-out, yielding to shutdown.
    async fn socks_read<S, T>(
        &self,
        client: &mut S,
        buf: &mut Vec<u8>,
        decode: fn(&[u8]) -> socks::Decoded<T>,
    ) -> Result<T, Ended>
    where
        S: AsyncRead + Unpin,
    {
        self.socks_read_raw(client, buf, decode)
            .await?
            .map_err(not_socks)
    }

    /// [`Proxy::socks_read`] keeping the decoding error, for the request whose address type
    /// gets its own reply.
    async fn socks_read_raw<S, T>(
        &self,
        client: &mut S,
        buf: &mut Vec<u8>,
        decode: fn(&[u8]) -> socks::Decoded<T>,
    ) -> Result<Result<T, SocksError>, Ended>
    where
        S: AsyncRead + Unpin,
    {
        let read = tokio::time::timeout(
            self.plan.header_timeout,
            socks::read_message(client, buf, decode),
        );
        tokio::select! {
            () = self.shutdown.cancelled() => Err(Ended("shutdown".to_owned())),
            read = read => read.map_err(|_| Ended("header time-out".to_owned())),
        }
    }
}

/// Why a message that is not SOCKS5 (or cut short) ended the exchange.
fn not_socks(error: SocksError) -> Ended {
    match error {
        SocksError::Closed { got: 0 } => Ended("client closed".to_owned()),
        error => Ended(format!("not SOCKS5: {error}")),
    }
}

/// BND.ADDR of a failure reply: `0.0.0.0:0`.
fn unbound() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
}

async fn write<S: AsyncWrite + Unpin>(client: &mut S, bytes: &[u8]) -> Result<(), Ended> {
    client
        .write_all(bytes)
        .await
        .and(client.flush().await)
        .map_err(|error| Ended(format!("client error: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_danted_reply_codes() {
        let connect = |errno| Failure::ConnectFail {
            errno,
            text: String::new(),
        };
        assert_eq!(reply_for(&Failure::DnsFail), Reply::HostUnreachable);
        assert_eq!(reply_for(&connect(111)), Reply::ConnectionRefused);
        assert_eq!(reply_for(&connect(104)), Reply::ConnectionRefused);
        assert_eq!(reply_for(&connect(101)), Reply::NetworkUnreachable);
        assert_eq!(reply_for(&connect(113)), Reply::HostUnreachable);
        assert_eq!(reply_for(&connect(0)), Reply::GeneralFailure);
        assert_eq!(reply_for(&Failure::ConnectTimeout), Reply::TtlExpired);
        assert_eq!(reply_for(&Failure::Undeclared), Reply::NotAllowed);
        assert_eq!(reply_for(&Failure::Injected(502)), Reply::GeneralFailure);
    }
}
