//! Address restrictions of a token: the networks a token
//! may be used from, parsed once, and the one check every verification path
//! makes against the caller's address.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// Networks one token may list.
pub const MAX_ALLOWED_NETWORKS: usize = 16;

/// The networks a token may be used from: at least one, at most
/// [`MAX_ALLOWED_NETWORKS`], each in canonical form (host bits cleared, a
/// bare address as a `/32` or `/128`), without duplicates, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AllowedIps(Networks);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowedIpsError {
    #[error("allowedIps lists no address; give at least one, or null to allow any address")]
    Empty,
    #[error("allowedIps lists {0} networks; at most {MAX_ALLOWED_NETWORKS} are allowed")]
    TooMany(usize),
    #[error("allowedIps entry {0:?} is not an IPv4 or IPv6 address or CIDR network")]
    Malformed(String),
}

impl AllowedIps {
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, AllowedIpsError> {
        if entries.is_empty() {
            return Err(AllowedIpsError::Empty);
        }
        if entries.len() > MAX_ALLOWED_NETWORKS {
            return Err(AllowedIpsError::TooMany(entries.len()));
        }
        let mut networks: Vec<IpNet> = Vec::with_capacity(entries.len());
        for entry in entries {
            let network = parse_network(entry.as_ref())
                .ok_or_else(|| AllowedIpsError::Malformed(entry.as_ref().to_owned()))?;
            if !networks.contains(&network) {
                networks.push(network);
            }
        }
        Ok(Self(Networks(networks)))
    }

    /// Whether `address` is in one of the networks (see [`Networks::contains`]).
    pub fn admits(&self, address: IpAddr) -> bool {
        self.0.contains(address)
    }

    /// The networks as CIDR strings, as documents and the store show them.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.0.iter().map(ToString::to_string).collect()
    }
}

/// The rule every verification path applies: a token
/// without a restriction is admitted from anywhere; a restricted one only
/// from a known address among its networks — an unknown address fails
/// closed.
pub fn admitted(allowed: Option<&AllowedIps>, origin: Option<IpAddr>) -> bool {
    match (allowed, origin) {
        (None, _) => true,
        (Some(allowed), Some(address)) => allowed.admits(address),
        (Some(_), None) => false,
    }
}

impl fmt::Display for AllowedIps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_strings().join(", "))
    }
}

/// `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a single host). A
/// prefix length is a plain decimal (`/8`, not `/08`), one spelling each.
fn parse_network(text: &str) -> Option<IpNet> {
    if let Some((_, prefix)) = text.split_once('/') {
        if prefix.len() > 1 && prefix.starts_with('0') {
            return None;
        }
        return text.parse::<IpNet>().ok().map(|network| network.trunc());
    }
    text.parse::<IpAddr>().ok().map(IpNet::from)
}

/// A list of networks (`server.trusted_proxies`, and what [`AllowedIps`]
/// holds); may be empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Networks(Vec<IpNet>);

/// A configured network that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IPv4 or IPv6 address or CIDR network")]
pub struct InvalidNetwork(pub String);

impl Networks {
    /// Blank entries are skipped (an empty environment variable is an
    /// empty list).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, InvalidNetwork> {
        entries
            .iter()
            .map(|entry| entry.as_ref().trim())
            .filter(|entry| !entry.is_empty())
            .map(|entry| parse_network(entry).ok_or_else(|| InvalidNetwork(entry.to_owned())))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether `address` is in one of the networks. An IPv4 address that
    /// reaches the service as IPv4-mapped IPv6 (`::ffff:10.0.0.1`, a
    /// dual-stack listener) counts as the IPv4 address.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn networks_and_bare_addresses_are_kept_in_canonical_form() {
        let allowed = AllowedIps::parse(&["10.1.2.3/8", "192.168.1.5", "2001:db8::1/32", "::1"])
            .expect("valid");
        assert_eq!(
            allowed.to_strings(),
            ["10.0.0.0/8", "192.168.1.5/32", "2001:db8::/32", "::1/128"]
        );
    }

    #[test]
    fn duplicates_collapse_in_the_order_given() {
        let allowed = AllowedIps::parse(&["10.0.0.1", "10.0.0.1/32", "10.0.0.2"]).expect("valid");
        assert_eq!(allowed.to_strings(), ["10.0.0.1/32", "10.0.0.2/32"]);
    }

    #[test]
    fn only_listed_addresses_are_admitted() {
        let allowed = AllowedIps::parse(&["10.0.0.0/8", "2001:db8::/32"]).expect("valid");
        assert!(allowed.admits(ip("10.200.0.1")));
        assert!(allowed.admits(ip("::ffff:10.0.0.1")), "IPv4-mapped");
        assert!(allowed.admits(ip("2001:db8::42")));
        assert!(!allowed.admits(ip("11.0.0.1")));
        assert!(!allowed.admits(ip("2001:db9::1")));
        assert!(!allowed.admits(ip("127.0.0.1")));
    }

    #[test]
    fn empty_too_long_and_malformed_lists_are_refused() {
        assert_eq!(AllowedIps::parse::<&str>(&[]), Err(AllowedIpsError::Empty));
        let seventeen: Vec<String> = (0..17).map(|i| format!("10.0.0.{i}")).collect();
        assert_eq!(
            AllowedIps::parse(&seventeen),
            Err(AllowedIpsError::TooMany(17))
        );
        assert!(AllowedIps::parse(&seventeen[..16]).is_ok());
        for bad in [
            "",
            "10.0.0",
            "10.0.0.0/33",
            "example.com",
            "10.0.0.1 ",
            "::/129",
            "1.2.3.4/-1",
        ] {
            assert_eq!(
                AllowedIps::parse(&[bad]),
                Err(AllowedIpsError::Malformed(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn trusted_networks_may_be_empty() {
        let none = Networks::parse::<&str>(&[]).expect("empty is fine");
        assert!(none.is_empty());
        assert!(Networks::parse(&[""]).expect("blank is nothing").is_empty());
        assert_eq!(
            Networks::parse(&["10.0.0.0/8", "proxy"]),
            Err(InvalidNetwork("proxy".to_owned()))
        );
        let spaced = Networks::parse(&[" 10.0.0.1", "10.0.0.2 "]).expect("trimmed");
        assert!(spaced.contains(ip("10.0.0.2")));
        assert!(!none.contains(ip("127.0.0.1")));
        let proxies = Networks::parse(&["172.16.0.0/12"]).expect("valid");
        assert!(proxies.contains(ip("172.17.0.2")));
    }
}
