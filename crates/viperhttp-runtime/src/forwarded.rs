//! The client behind trusted proxies: `forwarded_allow_ips` (docs/internals/http.md, "Behind a
//! proxy"). A request whose TCP peer is a trusted proxy takes its client address from
//! `X-Forwarded-For` and its scheme from `X-Forwarded-Proto`, by the rule uvicorn and gunicorn
//! apply: walking `X-Forwarded-For` from the right, the first address that is not itself a
//! trusted proxy is the client (all trusted: the leftmost). The rate limiter keys on that
//! address and the app sees it as `request.client`. Written here because the rule is a few
//! lines over `http`'s header map; no crate does only this.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;

/// The trusted proxies: `*`, addresses and CIDR blocks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForwardedAllow {
    all: bool,
    nets: Vec<(IpAddr, u8)>,
}

/// What the trusted headers say about one request (a request extension, read where the
/// runtime hands the request's peer and scheme to Python).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForwardedClient {
    /// The client's address (port 0: a proxy does not forward it), or the peer's when
    /// `X-Forwarded-For` named nothing usable.
    pub addr: SocketAddr,
    /// `X-Forwarded-Proto`: `Some(true)` for `https`/`wss`, `Some(false)` for `http`/`ws`.
    pub https: Option<bool>,
}

impl ForwardedAllow {
    /// Parses a comma-separated list (`"127.0.0.1, 10.0.0.0/8, ::1"`, or `"*"`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut out = Self::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "*" {
                out.all = true;
                continue;
            }
            let (ip, prefix) = match item.split_once('/') {
                Some((ip, bits)) => (ip, Some(bits)),
                None => (item, None),
            };
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| format!("forwarded_allow_ips: invalid address {item:?}"))?;
            let ip = ip.to_canonical();
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => max,
                Some(bits) => bits
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("forwarded_allow_ips: invalid prefix in {item:?}"))?,
            };
            out.nets.push((ip, prefix));
        }
        Ok(out)
    }

    /// Whether nothing is trusted.
    pub fn is_empty(&self) -> bool {
        !self.all && self.nets.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        if self.all {
            return true;
        }
        let ip = ip.to_canonical();
        self.nets.iter().any(|&(net, prefix)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n).into(), u32::from(a).into(), prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => masked(u128::from(n), u128::from(a), prefix, 128),
            _ => false,
        })
    }

    /// The forwarded client of a request from `peer`, or None when `peer` is not trusted or
    /// the request carries neither header.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> Option<ForwardedClient> {
        if !self.trusts(peer.ip()) {
            return None;
        }
        let https = headers
            .get_all("x-forwarded-proto")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|p| {
                let p = p.trim();
                let is = |s: &str| p.eq_ignore_ascii_case(s);
                if is("https") || is("wss") {
                    Some(true)
                } else if is("http") || is("ws") {
                    Some(false)
                } else {
                    None
                }
            });
        // Right to left over every `X-Forwarded-For` line, without collecting them.
        let mut hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .rev()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.rsplit(','))
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .peekable();
        if hops.peek().is_none() && https.is_none() {
            return None;
        }
        let mut client = None;
        for hop in hops {
            let Some(ip) = parse_hop(hop) else {
                break; // not an address (`unknown`, an obfuscated name): keep the peer's
            };
            client = Some(ip);
            if !self.trusts(ip) {
                break;
            }
        }
        let addr = client.map_or(peer, |ip| SocketAddr::new(ip.to_canonical(), 0));
        Some(ForwardedClient { addr, https })
    }
}

/// The peer address and TLS bit the IPC record carries for a request: its forwarded client
/// when a trusted proxy named one ([`ForwardedClient`] in its extensions), else the connection's.
pub(crate) fn peer_and_tls(
    conn: &crate::service::ConnInfo,
    extensions: &http::Extensions,
) -> (SocketAddr, bool) {
    match extensions.get::<ForwardedClient>() {
        Some(client) => (client.addr, client.https.unwrap_or(conn.tls)),
        None => (conn.peer, conn.tls),
    }
}

fn masked(net: u128, addr: u128, prefix: u8, bits: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = u32::from(bits - prefix);
    (net >> shift) == (addr >> shift)
}

/// One `X-Forwarded-For` entry: an address, maybe with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    hop.parse::<SocketAddr>().ok().map(|s| s.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 40000)
    }

    #[test]
    fn only_a_trusted_peer_is_believed() {
        let allow = ForwardedAllow::parse("127.0.0.1").unwrap();
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-proto", "https"),
        ]);
        let got = allow.client(peer("127.0.0.1"), &h).unwrap();
        assert_eq!(got.addr, "203.0.113.7:0".parse().unwrap());
        assert_eq!(got.https, Some(true));
        assert_eq!(allow.client(peer("10.0.0.1"), &h), None);
        assert_eq!(allow.client(peer("127.0.0.1"), &HeaderMap::new()), None);
        // an IPv4-mapped peer (a dual-stack listener) is the same address
        assert!(allow.client(peer("::ffff:127.0.0.1"), &h).is_some());
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let allow = ForwardedAllow::parse("10.0.0.0/8, 127.0.0.1").unwrap();
        // a spoofed first entry, then the real client, then two of our proxies
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1, 198.51.100.2"),
            ("x-forwarded-for", "10.1.2.3"),
        ]);
        assert_eq!(
            allow.client(peer("127.0.0.1"), &h).unwrap().addr.ip(),
            "198.51.100.2".parse::<IpAddr>().unwrap()
        );
        let all_ours = headers(&[("x-forwarded-for", "10.9.9.9, 10.1.1.1")]);
        assert_eq!(
            allow
                .client(peer("127.0.0.1"), &all_ours)
                .unwrap()
                .addr
                .ip(),
            "10.9.9.9".parse::<IpAddr>().unwrap()
        );
        let ported = headers(&[("x-forwarded-for", "[2001:db8::1]:443")]);
        assert_eq!(
            allow.client(peer("127.0.0.1"), &ported).unwrap().addr.ip(),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        let junk = headers(&[
            ("x-forwarded-for", "unknown"),
            ("x-forwarded-proto", "gopher"),
        ]);
        let got = allow.client(peer("127.0.0.1"), &junk).unwrap();
        assert_eq!((got.addr, got.https), (peer("127.0.0.1"), None));
    }

    #[test]
    fn lists_parse_and_refuse_what_is_not_an_address() {
        assert!(ForwardedAllow::parse("").unwrap().is_empty());
        let star = ForwardedAllow::parse("*").unwrap();
        assert!(star.trusts("8.8.8.8".parse().unwrap()) && !star.is_empty());
        let v6 = ForwardedAllow::parse("2001:db8::/32").unwrap();
        assert!(
            v6.trusts("2001:db8:1::5".parse().unwrap())
                && !v6.trusts("2001:db9::1".parse().unwrap())
        );
        assert!(ForwardedAllow::parse("10.0.0.0/33").is_err());
        assert!(ForwardedAllow::parse("localhost").is_err());
        assert!(ForwardedAllow::parse("0.0.0.0/0")
            .unwrap()
            .trusts("8.8.8.8".parse().unwrap()));
    }
}
