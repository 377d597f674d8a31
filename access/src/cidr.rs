//! IPv4 and IPv6 network ranges (`10.0.0.0/8`, `2001:db8::/32`) and containment.

use std::fmt;
use std::net::IpAddr;

use crate::PolicyError;

/// A network range. The address has no bits set past the prefix (a typo such as
/// `10.0.0.1/8` is refused rather than silently widened). A bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Reads `<address>/<prefix>` or a bare address.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let bad = |why: String| PolicyError::BadCidr {
            given: text.to_owned(),
            why,
        };
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| bad(format!("{addr:?} is not an IPv4 or IPv6 address")))?;
        let max = max_prefix(network);
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| bad(format!("the prefix must be 0..={max}")))?,
        };
        let cidr = Cidr { network, prefix };
        if bits(network) & !cidr.mask() != 0 {
            return Err(bad(format!(
                "host bits set past /{prefix}; the network is {}",
                Cidr::from_bits(bits(network) & cidr.mask(), network, prefix)
            )));
        }
        Ok(cidr)
    }

    /// Whether `addr` lies inside this range. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`)
    /// count as the IPv4 address they carry; otherwise families never match each other.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        addr.is_ipv4() == self.network.is_ipv4() && bits(addr) & self.mask() == bits(self.network)
    }

    fn mask(&self) -> u128 {
        let width = u32::from(max_prefix(self.network));
        let host = width - u32::from(self.prefix);
        let all: u128 = if width == 128 {
            u128::MAX
        } else {
            (1u128 << width) - 1
        };
        // A /0 has no network bits at all; `checked_shl` covers the 128-bit shift.
        all & all.checked_shl(host).unwrap_or(0)
    }

    fn from_bits(b: u128, like: IpAddr, prefix: u8) -> String {
        let addr = match like {
            IpAddr::V4(_) => IpAddr::from(std::net::Ipv4Addr::from(
                u32::try_from(b).unwrap_or_default(),
            )),
            IpAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::from(b)),
        };
        format!("{addr}/{prefix}")
    }
}

fn max_prefix(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

fn bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl TryFrom<String> for Cidr {
    type Error = PolicyError;
    fn try_from(text: String) -> Result<Self, PolicyError> {
        Cidr::parse(&text)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v4_boundaries() {
        let n = c("192.168.4.0/22");
        assert!(!n.contains(ip("192.168.3.255")));
        assert!(n.contains(ip("192.168.4.0")));
        assert!(n.contains(ip("192.168.7.255")));
        assert!(!n.contains(ip("192.168.8.0")));
        assert!(c("10.1.2.3/32").contains(ip("10.1.2.3")));
        assert!(!c("10.1.2.3/32").contains(ip("10.1.2.4")));
        assert!(
            c("10.1.2.3").contains(ip("10.1.2.3")),
            "a bare address is a /32"
        );
        assert!(c("0.0.0.0/0").contains(ip("255.255.255.255")));
    }

    #[test]
    fn v6_boundaries() {
        let n = c("2001:db8::/32");
        assert!(n.contains(ip("2001:db8::")));
        assert!(n.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(!n.contains(ip("2001:db9::")));
        assert!(!n.contains(ip("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(c("::/0").contains(ip("ffff::1")));
        assert!(c("fe80::1/128").contains(ip("fe80::1")));
        assert!(!c("fe80::1/128").contains(ip("fe80::2")));
    }

    #[test]
    fn families_and_mapped_addresses() {
        assert!(!c("0.0.0.0/0").contains(ip("::1")));
        assert!(!c("::/0").contains(ip("127.0.0.1")));
        assert!(c("10.0.0.0/8").contains(ip("::ffff:10.9.8.7")));
    }

    #[test]
    fn refused_ranges_say_why() {
        let err = Cidr::parse("10.0.0.1/8").unwrap_err().to_string();
        assert!(err.contains("10.0.0.0/8"), "{err}");
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/x",
            "host/8",
            "",
        ] {
            let err = Cidr::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn display() {
        assert_eq!(c("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(c("2001:db8::").to_string(), "2001:db8::/128");
    }
}
