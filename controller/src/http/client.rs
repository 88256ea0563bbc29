//! Who a request comes from, for the per-client budget of private-key operations.
//!
//! The client is the TCP peer. Only when the peer is one of `--trusted-proxies` does the
//! controller read `X-Forwarded-For`, and then only its last entry: the hop that proxy appended
//! (the address it saw the request come from). Entries before it were written by whoever sent
//! the request to the proxy and prove nothing. Upstream keyed its limiter on the whole
//! client-supplied header, so any client could pick a fresh bucket per request, and all clients
//! without the header shared one.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The peers whose `X-Forwarded-For` is believed (`--trusted-proxies`).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// These networks (a single address is a /32 or /128).
    pub fn new(nets: Vec<IpNet>) -> Self {
        TrustedProxies(nets)
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// Parses one `--trusted-proxies` entry: an address or a CIDR network.
pub fn parse_net(text: &str) -> Result<IpNet, String> {
    let t = text.trim();
    t.parse::<IpNet>()
        .or_else(|_| t.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{t:?} is neither an IP address nor a CIDR network"))
}

/// The client of a request from `peer` with `headers`.
pub fn client_of(peer: SocketAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.ip().to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(parse_hop)
        .map_or(peer, |ip| ip.to_canonical())
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(text: &str) -> Option<IpAddr> {
    let t = text.trim();
    t.parse::<IpAddr>()
        .ok()
        .or_else(|| t.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            t.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append(
                "x-forwarded-for",
                v.parse().unwrap_or_else(|_| panic!("{v}")),
            );
        }
        h
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap_or_else(|_| panic!("{ip}")), 1234)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|_| panic!("{text}"))
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let none = TrustedProxies::default();
        assert_eq!(
            client_of(peer("10.0.0.9"), &headers(&["1.1.1.1"]), &none),
            ip("10.0.0.9")
        );
        let other = TrustedProxies::new(vec![
            parse_net("192.168.0.0/16").unwrap_or_else(|e| panic!("{e}")),
        ]);
        assert_eq!(
            client_of(peer("10.0.0.9"), &headers(&["1.1.1.1"]), &other),
            ip("10.0.0.9")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_in_the_hop_it_appended() {
        let trusted = TrustedProxies::new(vec![
            parse_net("10.0.0.0/8").unwrap_or_else(|e| panic!("{e}")),
            parse_net("fd00::1").unwrap_or_else(|e| panic!("{e}")),
        ]);
        // Only the last entry counts: the ones before it are the client's own claims.
        let h = headers(&["6.6.6.6, 7.7.7.7, 203.0.113.5"]);
        assert_eq!(client_of(peer("10.1.2.3"), &h, &trusted), ip("203.0.113.5"));
        let h = headers(&["6.6.6.6", "203.0.113.6"]);
        assert_eq!(client_of(peer("10.1.2.3"), &h, &trusted), ip("203.0.113.6"));
        let h = headers(&["[2001:db8::7]:443"]);
        assert_eq!(client_of(peer("fd00::1"), &h, &trusted), ip("2001:db8::7"));
        let h = headers(&["203.0.113.8:5555"]);
        assert_eq!(client_of(peer("10.1.2.3"), &h, &trusted), ip("203.0.113.8"));
        // No header, or garbage in the last hop: the proxy itself.
        assert_eq!(
            client_of(peer("10.1.2.3"), &headers(&[]), &trusted),
            ip("10.1.2.3")
        );
        let h = headers(&["203.0.113.5, unknown"]);
        assert_eq!(client_of(peer("10.1.2.3"), &h, &trusted), ip("10.1.2.3"));
        // An IPv4 peer seen on a dual-stack socket is the same client.
        assert_eq!(
            client_of(
                peer("::ffff:10.9.9.9"),
                &headers(&["203.0.113.9"]),
                &trusted
            ),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn entries_are_addresses_or_networks() {
        assert!(parse_net("10.0.0.1").is_ok());
        assert!(parse_net(" 10.0.0.0/8 ").is_ok());
        assert!(parse_net("::1").is_ok());
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("proxy.example").is_err());
    }
}
