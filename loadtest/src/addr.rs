//! Source addresses for the generator's clients. Every address is in 127.0.0.0/8: Linux
//! routes the whole block to the loopback interface, so a socket bound to 127.20.3.4 reaches a
//! server on 127.0.0.1 and the server sees a distinct client, with no traffic leaving the
//! machine.

use std::net::Ipv4Addr;
use std::str::FromStr;

/// A block of IPv4 addresses inside 127.0.0.0/8, written as CIDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    first: u32,
    size: u32,
}

impl Block {
    /// The `index`-th address of the block, wrapping around at its end.
    pub fn nth(&self, index: u64) -> Ipv4Addr {
        Ipv4Addr::from(self.first + (index % u64::from(self.size)) as u32)
    }
}

impl FromStr for Block {
    type Err = String;

    /// Parses `127.16.0.0/12`; refuses anything outside 127.0.0.0/8, so the generator
    /// cannot be pointed at another network by mistake.
    fn from_str(text: &str) -> Result<Block, String> {
        let (address, prefix) = text.split_once('/').unwrap_or((text, "32"));
        let address: Ipv4Addr = address
            .parse()
            .map_err(|_| format!("`{text}` is not an IPv4 CIDR block"))?;
        let prefix: u32 = match prefix.parse() {
            Ok(prefix) if (8..=32).contains(&prefix) => prefix,
            _ => return Err(format!("`{text}`: the prefix must be between 8 and 32")),
        };
        if address.octets()[0] != 127 {
            return Err(format!("`{text}` is outside 127.0.0.0/8 (loopback only)"));
        }
        let size = 1u64 << (32 - prefix);
        let mask = !((size - 1) as u32);
        Ok(Block {
            first: u32::from(address) & mask,
            size: size.min(u64::from(u32::MAX)) as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_parse_and_wrap() {
        let block: Block = "127.16.0.9/12".parse().unwrap();
        assert_eq!(block.size, 1 << 20);
        assert_eq!(block.nth(0), Ipv4Addr::new(127, 16, 0, 0));
        assert_eq!(block.nth(1 << 20), Ipv4Addr::new(127, 16, 0, 0));
    }

    #[test]
    fn addresses_beyond_loopback_are_refused() {
        assert!("10.0.0.0/8".parse::<Block>().is_err());
        assert!("127.0.0.0/4".parse::<Block>().is_err());
        assert!("127.0.0.1".parse::<Block>().is_ok());
    }
}
