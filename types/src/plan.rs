//! The plans an account can be on. What each allows is configuration (the engine's `PlanTable`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Pro,
    Enterprise,
}

impl Plan {
    pub const ALL: [Plan; 3] = [Plan::Free, Plan::Pro, Plan::Enterprise];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "free" => Some(Plan::Free),
            "pro" => Some(Plan::Pro),
            "enterprise" => Some(Plan::Enterprise),
            _ => None,
        }
    }

    /// The plan as an account row stores it; text no plan has reads as Free, the plan that
    /// allows least.
    pub fn stored(name: &str) -> Self {
        Self::parse(name).unwrap_or(Plan::Free)
    }

    pub fn id(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Plan::Free => "Free",
            Plan::Pro => "Pro",
            Plan::Enterprise => "Enterprise",
        }
    }
}

impl PartialOrd for Plan {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Plan {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let rank = |plan: &Plan| Plan::ALL.iter().position(|p| p == plan);
        rank(self).cmp(&rank(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parse_back_and_rank_in_order() {
        for plan in Plan::ALL {
            assert_eq!(Plan::parse(plan.id()), Some(plan));
            assert_eq!(serde_json::to_value(plan).unwrap(), plan.id());
        }
        assert!(Plan::Free < Plan::Pro && Plan::Pro < Plan::Enterprise);
        assert_eq!(Plan::parse("gold"), None);
    }
}
