//! Model tiers: what auto-routing picks between, cheapest first.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Cheap,
    Standard,
    Strong,
}

impl Tier {
    /// Cheapest first.
    pub const ALL: [Tier; 3] = [Tier::Cheap, Tier::Standard, Tier::Strong];

    /// The name in configuration, headers and the portal: `cheap`, `standard`, `strong`.
    pub fn id(self) -> &'static str {
        match self {
            Tier::Cheap => "cheap",
            Tier::Standard => "standard",
            Tier::Strong => "strong",
        }
    }

    pub fn parse(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|tier| tier.id() == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_back_and_match_serde() {
        for tier in Tier::ALL {
            assert_eq!(Tier::parse(tier.id()), Some(tier));
            assert_eq!(serde_json::to_value(tier).unwrap(), tier.id());
        }
        assert_eq!(Tier::parse("premium"), None);
        assert!(Tier::Cheap < Tier::Standard && Tier::Standard < Tier::Strong);
    }
}
