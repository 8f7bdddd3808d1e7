//! SOCKS5 on the wire (RFC 1928) with the username/password sub-negotiation (RFC 1929), both sides:
//! the lab's `socks5` proxy reads with it and the checks' client writes with it, so neither looks
//! inside the other.
//!
//! Hand-written rather than taken from a crate (fast-socks5 was considered): SOCKS5 is five
//! fixed-layout messages, and the lab must answer each failure with its own reply code, inject
//! faults between the steps, route through the lab's own table and record each step, so it keeps
//! every step in its own hands. Every decoder works on a byte slice, never reads past a field's length byte, and bounds
//! the message to [`MAX_MESSAGE`], so a hostile peer can make it fail but not panic or grow memory
//! (proptest below).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt};

/// The protocol version byte of every SOCKS5 message but the RFC 1929 ones.
pub const VERSION: u8 = 5;
/// The version byte of the RFC 1929 username/password sub-negotiation.
pub const USERPASS_VERSION: u8 = 1;
/// Method `X'00'`: no authentication required.
pub const METHOD_NO_AUTH: u8 = 0x00;
/// Method `X'02'`: username/password (RFC 1929).
pub const METHOD_USERPASS: u8 = 0x02;
/// The method choice `X'FF'`: no acceptable methods (the client must close).
pub const NO_ACCEPTABLE_METHODS: u8 = 0xFF;
/// The longest message either side reads (an RFC 1929 request: 3 + 255 + 255 bytes).
pub const MAX_MESSAGE: usize = 513;

/// What went wrong reading a SOCKS5 message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SocksError {
    /// A version byte other than the one the message must carry.
    #[error("version {got} where SOCKS expects {expected}")]
    Version {
        /// The version the message must carry.
        expected: u8,
        /// The byte received.
        got: u8,
    },
    /// A greeting listing no method at all.
    #[error("the greeting lists no authentication method")]
    NoMethods,
    /// An address type other than IPv4 (1), domain name (3) or IPv6 (4).
    #[error("address type {0} is none of IPv4 (1), domain name (3), IPv6 (4)")]
    AddressType(u8),
    /// A domain name of length zero or not printable ASCII.
    #[error("the domain name is empty or not printable ASCII")]
    Domain,
    /// A user name or password longer than the 255 bytes RFC 1929 allows.
    #[error("{what} is {len} bytes; RFC 1929 allows at most 255")]
    TooLong {
        /// `user name` or `password`.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// The peer closed before the message was complete.
    #[error("closed after {got} bytes of a SOCKS message")]
    Closed {
        /// Bytes of the message received.
        got: usize,
    },
    /// Reading from the peer failed.
    #[error("read failed")]
    Io(#[source] std::io::Error),
}

/// The result of decoding a message from the bytes received so far: the message and its length,
/// `None` when more bytes are needed, or why the bytes are not that message.
pub type Decoded<T> = Result<Option<(T, usize)>, SocksError>;

/// A SOCKS5 command (RFC 1928 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `X'01'` CONNECT: a TCP tunnel to the address.
    Connect,
    /// `X'02'` BIND: a listening socket on the proxy.
    Bind,
    /// `X'03'` UDP ASSOCIATE.
    UdpAssociate,
    /// Any other byte.
    Other(u8),
}

impl Command {
    fn from_byte(byte: u8) -> Command {
        match byte {
            1 => Command::Connect,
            2 => Command::Bind,
            3 => Command::UdpAssociate,
            other => Command::Other(other),
        }
    }

    fn byte(self) -> u8 {
        match self {
            Command::Connect => 1,
            Command::Bind => 2,
            Command::UdpAssociate => 3,
            Command::Other(other) => other,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Connect => f.write_str("CONNECT"),
            Command::Bind => f.write_str("BIND"),
            Command::UdpAssociate => f.write_str("UDP ASSOCIATE"),
            Command::Other(byte) => write!(f, "command {byte:#04x}"),
        }
    }
}

/// A destination as SOCKS5 carries it: an address the client resolved, or a name for the proxy
/// to resolve (what `socks5h://` sends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// ATYP 1 or 4: an IPv4 or IPv6 address and port.
    Ip(SocketAddr),
    /// ATYP 3: a domain name and port.
    Domain(String, u16),
}

impl Address {
    /// The host as the lab's routing table takes it (a name, or an address without brackets).
    pub fn host(&self) -> String {
        match self {
            Address::Ip(address) => address.ip().to_string(),
            Address::Domain(name, _) => name.clone(),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        match self {
            Address::Ip(address) => address.port(),
            Address::Domain(_, port) => *port,
        }
    }

    /// The address type in words (`IPv4`, `IPv6`, `domain name`).
    pub fn kind(&self) -> &'static str {
        match self {
            Address::Ip(SocketAddr::V4(_)) => "IPv4",
            Address::Ip(SocketAddr::V6(_)) => "IPv6",
            Address::Domain(..) => "domain name",
        }
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), SocksError> {
        match self {
            Address::Ip(SocketAddr::V4(v4)) => {
                out.push(1);
                out.extend_from_slice(&v4.ip().octets());
            }
            Address::Ip(SocketAddr::V6(v6)) => {
                out.push(4);
                out.extend_from_slice(&v6.ip().octets());
            }
            Address::Domain(name, _) => {
                let len = u8::try_from(name.len()).map_err(|_| SocksError::Domain)?;
                if len == 0 {
                    return Err(SocksError::Domain);
                }
                out.push(3);
                out.push(len);
                out.extend_from_slice(name.as_bytes());
            }
        }
        out.extend_from_slice(&self.port().to_be_bytes());
        Ok(())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Ip(address) => write!(f, "{address}"),
            Address::Domain(name, port) => write!(f, "{name}:{port}"),
        }
    }
}

/// A SOCKS5 reply code (RFC 1928 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `X'00'` succeeded.
    Succeeded,
    /// `X'01'` general SOCKS server failure.
    GeneralFailure,
    /// `X'02'` connection not allowed by ruleset.
    NotAllowed,
    /// `X'03'` network unreachable.
    NetworkUnreachable,
    /// `X'04'` host unreachable.
    HostUnreachable,
    /// `X'05'` connection refused.
    ConnectionRefused,
    /// `X'06'` TTL expired.
    TtlExpired,
    /// `X'07'` command not supported.
    CommandNotSupported,
    /// `X'08'` address type not supported.
    AddressTypeNotSupported,
    /// `X'09'` to `X'FF'`, unassigned.
    Unassigned(u8),
}

impl Reply {
    /// The reply's byte.
    pub fn byte(self) -> u8 {
        match self {
            Reply::Succeeded => 0,
            Reply::GeneralFailure => 1,
            Reply::NotAllowed => 2,
            Reply::NetworkUnreachable => 3,
            Reply::HostUnreachable => 4,
            Reply::ConnectionRefused => 5,
            Reply::TtlExpired => 6,
            Reply::CommandNotSupported => 7,
            Reply::AddressTypeNotSupported => 8,
            Reply::Unassigned(byte) => byte,
        }
    }

    /// The reply for a byte.
    pub fn from_byte(byte: u8) -> Reply {
        match byte {
            0 => Reply::Succeeded,
            1 => Reply::GeneralFailure,
            2 => Reply::NotAllowed,
            3 => Reply::NetworkUnreachable,
            4 => Reply::HostUnreachable,
            5 => Reply::ConnectionRefused,
            6 => Reply::TtlExpired,
            7 => Reply::CommandNotSupported,
            8 => Reply::AddressTypeNotSupported,
            other => Reply::Unassigned(other),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = match self {
            Reply::Succeeded => "succeeded",
            Reply::GeneralFailure => "general SOCKS server failure",
            Reply::NotAllowed => "connection not allowed by ruleset",
            Reply::NetworkUnreachable => "network unreachable",
            Reply::HostUnreachable => "host unreachable",
            Reply::ConnectionRefused => "connection refused",
            Reply::TtlExpired => "TTL expired",
            Reply::CommandNotSupported => "command not supported",
            Reply::AddressTypeNotSupported => "address type not supported",
            Reply::Unassigned(_) => "unassigned reply code",
        };
        write!(f, "{:#04x} {words}", self.byte())
    }
}

/// A client's request (RFC 1928 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What it asks for.
    pub command: Command,
    /// Where to.
    pub address: Address,
}

/// An authentication method in words, for the timeline (`no-auth`, `username/password`).
pub fn method_name(method: u8) -> String {
    match method {
        METHOD_NO_AUTH => "no-auth".to_owned(),
        0x01 => "GSSAPI".to_owned(),
        METHOD_USERPASS => "username/password".to_owned(),
        NO_ACCEPTABLE_METHODS => "no acceptable methods".to_owned(),
        other => format!("method {other:#04x}"),
    }
}

fn version(got: u8, expected: u8) -> Result<(), SocksError> {
    if got == expected {
        Ok(())
    } else {
        Err(SocksError::Version { expected, got })
    }
}

/// The client's greeting: `VER NMETHODS METHODS...`; the methods it offers.
pub fn decode_greeting(bytes: &[u8]) -> Decoded<Vec<u8>> {
    let [ver, count, ..] = bytes else {
        return Ok(None);
    };
    version(*ver, VERSION)?;
    if *count == 0 {
        return Err(SocksError::NoMethods);
    }
    let end = 2 + usize::from(*count);
    Ok(bytes.get(2..end).map(|methods| (methods.to_vec(), end)))
}

/// The proxy's method choice: `VER METHOD`.
pub fn decode_choice(bytes: &[u8]) -> Decoded<u8> {
    let [ver, method, ..] = bytes else {
        return Ok(None);
    };
    version(*ver, VERSION)?;
    Ok(Some((*method, 2)))
}

/// An RFC 1929 request: `VER ULEN UNAME PLEN PASSWD`; the user name and password (bytes as sent,
/// read as UTF-8 with replacement).
pub fn decode_userpass(bytes: &[u8]) -> Decoded<(String, String)> {
    let [ver, ulen, ..] = bytes else {
        return Ok(None);
    };
    version(*ver, USERPASS_VERSION)?;
    let user_end = 2 + usize::from(*ulen);
    let Some(plen) = bytes.get(user_end) else {
        return Ok(None);
    };
    let end = user_end + 1 + usize::from(*plen);
    let (Some(user), Some(password)) = (bytes.get(2..user_end), bytes.get(user_end + 1..end))
    else {
        return Ok(None);
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok(Some(((text(user), text(password)), end)))
}

/// The proxy's RFC 1929 answer: `VER STATUS`; true when the credentials were accepted (status 0).
pub fn decode_userpass_status(bytes: &[u8]) -> Decoded<bool> {
    let [ver, status, ..] = bytes else {
        return Ok(None);
    };
    version(*ver, USERPASS_VERSION)?;
    Ok(Some((*status == 0, 2)))
}

/// `ATYP ADDR PORT` at the start of `bytes`.
fn decode_address(bytes: &[u8]) -> Decoded<Address> {
    let Some(atyp) = bytes.first() else {
        return Ok(None);
    };
    let (ip, end): (Option<IpAddr>, usize) = match atyp {
        1 => {
            let ip = bytes
                .get(1..5)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(|b| IpAddr::V4(Ipv4Addr::from(b)));
            (ip, 5)
        }
        4 => {
            let ip = bytes
                .get(1..17)
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .map(|b| IpAddr::V6(Ipv6Addr::from(b)));
            (ip, 17)
        }
        3 => {
            let Some(len) = bytes.get(1) else {
                return Ok(None);
            };
            if *len == 0 {
                return Err(SocksError::Domain);
            }
            let end = 2 + usize::from(*len);
            let Some(port) = port_at(bytes, end) else {
                return Ok(None);
            };
            let name = &bytes[2..end];
            if !name.iter().all(|b| b.is_ascii_graphic()) {
                return Err(SocksError::Domain);
            }
            let name = String::from_utf8_lossy(name).into_owned();
            return Ok(Some((Address::Domain(name, port), end + 2)));
        }
        other => return Err(SocksError::AddressType(*other)),
    };
    match (ip, port_at(bytes, end)) {
        (Some(ip), Some(port)) => Ok(Some((Address::Ip(SocketAddr::new(ip, port)), end + 2))),
        _ => Ok(None),
    }
}

fn port_at(bytes: &[u8], at: usize) -> Option<u16> {
    let pair = <[u8; 2]>::try_from(bytes.get(at..at.checked_add(2)?)?).ok()?;
    Some(u16::from_be_bytes(pair))
}

/// The client's request: `VER CMD RSV ATYP DST.ADDR DST.PORT`.
pub fn decode_request(bytes: &[u8]) -> Decoded<Request> {
    let [ver, cmd, _reserved, ..] = bytes else {
        return Ok(None);
    };
    version(*ver, VERSION)?;
    Ok(decode_address(&bytes[3..])?.map(|(address, used)| {
        let request = Request {
            command: Command::from_byte(*cmd),
            address,
        };
        (request, 3 + used)
    }))
}

/// The proxy's reply: `VER REP RSV ATYP BND.ADDR BND.PORT`; the code and the bound address.
pub fn decode_reply(bytes: &[u8]) -> Decoded<(Reply, Address)> {
    let [ver, rep, _reserved, ..] = bytes else {
        return Ok(None);
    };
    version(*ver, VERSION)?;
    Ok(decode_address(&bytes[3..])?
        .map(|(address, used)| ((Reply::from_byte(*rep), address), 3 + used)))
}

/// The client's greeting offering `methods` (at most 255).
pub fn greeting(methods: &[u8]) -> Vec<u8> {
    let methods = &methods[..methods.len().min(255)];
    let mut out = vec![VERSION, methods.len() as u8];
    out.extend_from_slice(methods);
    out
}

/// The proxy's method choice.
pub fn choice(method: u8) -> [u8; 2] {
    [VERSION, method]
}

/// An RFC 1929 request with this user name and password.
pub fn userpass(user: &str, password: &str) -> Result<Vec<u8>, SocksError> {
    let field = |what: &'static str, value: &str| {
        u8::try_from(value.len()).map_err(|_| SocksError::TooLong {
            what,
            len: value.len(),
        })
    };
    let ulen = field("user name", user)?;
    let plen = field("password", password)?;
    let mut out = vec![USERPASS_VERSION, ulen];
    out.extend_from_slice(user.as_bytes());
    out.push(plen);
    out.extend_from_slice(password.as_bytes());
    Ok(out)
}

/// The proxy's RFC 1929 answer: status 0 accepts, 1 refuses.
pub fn userpass_status(accepted: bool) -> [u8; 2] {
    [USERPASS_VERSION, u8::from(!accepted)]
}

/// A client's request.
pub fn request(request: &Request) -> Result<Vec<u8>, SocksError> {
    let mut out = vec![VERSION, request.command.byte(), 0];
    request.address.encode(&mut out)?;
    Ok(out)
}

/// The proxy's reply with `bound` as BND.ADDR and BND.PORT (`0.0.0.0:0` if `bound` is a name
/// that cannot be encoded).
pub fn reply(reply: Reply, bound: &Address) -> Vec<u8> {
    let mut out = vec![VERSION, reply.byte(), 0];
    if bound.encode(&mut out).is_err() {
        out.truncate(3);
        // An IP address always encodes.
        let _ = Address::Ip(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))).encode(&mut out);
    }
    out
}

/// Read one message with `decode` from `reader`, starting with the bytes already in `buf`; the
/// bytes after the message stay in `buf` (a client may send its next message before the answer).
pub async fn read_message<R, T>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    decode: fn(&[u8]) -> Decoded<T>,
) -> Result<T, SocksError>
where
    R: AsyncRead + Unpin,
{
    // Each pass reads at least one byte, and a message is at most MAX_MESSAGE bytes.
    for _ in 0..=MAX_MESSAGE {
        if let Some((message, used)) = decode(buf)? {
            buf.drain(..used);
            return Ok(message);
        }
        if buf.len() >= MAX_MESSAGE {
            break;
        }
        let mut chunk = [0u8; MAX_MESSAGE];
        let room = MAX_MESSAGE - buf.len();
        let n = reader
            .read(&mut chunk[..room])
            .await
            .map_err(SocksError::Io)?;
        if n == 0 {
            return Err(SocksError::Closed { got: buf.len() });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Err(SocksError::Closed { got: buf.len() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_domain_request_round_trips_and_needs_every_byte() {
        let asked = Request {
            command: Command::Connect,
            address: Address::Domain("site.egresslab.test".into(), 443),
        };
        let bytes = request(&asked).unwrap();
        assert_eq!(&bytes[..5], &[5, 1, 0, 3, 19]);
        assert_eq!(decode_request(&bytes).unwrap(), Some((asked, bytes.len())));
        for cut in 0..bytes.len() {
            assert!(decode_request(&bytes[..cut]).unwrap().is_none(), "{cut}");
        }
    }

    #[test]
    fn ip_requests_and_replies_round_trip() {
        for address in ["127.0.0.1:8443", "[::1]:443"] {
            let address = Address::Ip(address.parse().unwrap());
            let asked = Request {
                command: Command::Bind,
                address: address.clone(),
            };
            let bytes = request(&asked).unwrap();
            assert_eq!(decode_request(&bytes).unwrap().unwrap().0, asked);
            let answer = reply(Reply::ConnectionRefused, &address);
            let ((code, back), used) = decode_reply(&answer).unwrap().unwrap();
            assert_eq!(
                (code, back, used),
                (Reply::ConnectionRefused, address, answer.len())
            );
        }
    }

    #[test]
    fn bad_bytes_are_named() {
        assert!(matches!(
            decode_greeting(&[4, 1, 0]),
            Err(SocksError::Version {
                expected: 5,
                got: 4
            })
        ));
        assert!(matches!(
            decode_greeting(&[5, 0]),
            Err(SocksError::NoMethods)
        ));
        assert!(matches!(
            decode_request(&[5, 1, 0, 9, 0]),
            Err(SocksError::AddressType(9))
        ));
        assert!(matches!(
            decode_request(&[5, 1, 0, 3, 0, 0, 80]),
            Err(SocksError::Domain)
        ));
        assert!(matches!(
            userpass(&"u".repeat(256), "p"),
            Err(SocksError::TooLong { len: 256, .. })
        ));
    }

    #[test]
    fn userpass_round_trips() {
        let bytes = userpass("alice", "Summer2026!").unwrap();
        assert_eq!(
            decode_userpass(&bytes).unwrap(),
            Some((("alice".into(), "Summer2026!".into()), bytes.len()))
        );
        assert_eq!(
            decode_userpass_status(&userpass_status(false)).unwrap(),
            Some((false, 2))
        );
        assert_eq!(
            decode_greeting(&greeting(&[0, 2])).unwrap(),
            Some((vec![0, 2], 4))
        );
    }

    #[tokio::test]
    async fn read_message_keeps_what_follows_and_stops_at_close() {
        let mut wire: &[u8] = &[5, 1, 0, 1, 2, 3];
        let mut buf = Vec::new();
        let methods = read_message(&mut wire, &mut buf, decode_greeting)
            .await
            .unwrap();
        assert_eq!(methods, vec![0]);
        assert_eq!(buf, vec![1, 2, 3]);
        let mut short: &[u8] = &[5, 1, 0, 3, 10, b'a'];
        let mut buf = Vec::new();
        assert!(matches!(
            read_message(&mut short, &mut buf, decode_request).await,
            Err(SocksError::Closed { got: 6 })
        ));
    }

    proptest! {
        #[test]
        fn decoders_never_panic_and_never_claim_more_than_they_got(
            bytes in proptest::collection::vec(any::<u8>(), 0..600)
        ) {
            fn within<T>(decoded: Decoded<T>, len: usize) -> bool {
                !matches!(decoded, Ok(Some((_, used))) if used > len || used == 0)
            }
            let len = bytes.len();
            prop_assert!(within(decode_greeting(&bytes), len));
            prop_assert!(within(decode_choice(&bytes), len));
            prop_assert!(within(decode_userpass(&bytes), len));
            prop_assert!(within(decode_userpass_status(&bytes), len));
            prop_assert!(within(decode_request(&bytes), len));
            prop_assert!(within(decode_reply(&bytes), len));
        }

        #[test]
        fn every_encoded_request_decodes_to_itself(
            name in "[a-z0-9.-]{1,255}", port in any::<u16>(), cmd in any::<u8>()
        ) {
            let asked = Request { command: Command::from_byte(cmd), address: Address::Domain(name, port) };
            let bytes = request(&asked).unwrap();
            prop_assert_eq!(decode_request(&bytes).unwrap(), Some((asked, bytes.len())));
        }
    }
}
