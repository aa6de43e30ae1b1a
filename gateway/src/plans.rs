//! Plans and what each allows. The table is configuration (`[plans.free]` … in the config file);
//! these are the defaults.

use chrono::{Datelike as _, TimeZone as _, Utc};
use serde::{Deserialize, Deserializer, Serialize};

pub use gateway_types::Plan;
pub use gateway_types::time::format_utc;

/// A count limit; `None` is unlimited. In configuration: a number or `"unlimited"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<u64>);

impl Serialize for Limit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(n) => serializer.serialize_u64(n),
            None => serializer.serialize_str("unlimited"),
        }
    }
}

impl Limit {
    pub const UNLIMITED: Limit = Limit(None);

    /// Whether `used` more would still be within the limit after adding one.
    pub fn allows_one_more(self, used: u64) -> bool {
        self.0.is_none_or(|limit| used < limit)
    }

    pub fn describe(self) -> String {
        self.shown().unwrap_or_else(|| "unlimited".into())
    }

    /// The limit with thousands grouped, or `None` when unlimited (the portal words that).
    pub fn shown(self) -> Option<String> {
        self.0.map(group_thousands)
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(Limit(Some(n))),
            Raw::Text(text) if text == "unlimited" => Ok(Limit(None)),
            Raw::Text(text) => Err(serde::de::Error::custom(format!(
                "expected a number or \"unlimited\", got {text:?}"
            ))),
        }
    }
}

/// `10000` → `10,000`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    pub requests_per_month: Limit,
    pub gateway_keys: Limit,
    pub providers: Limit,
    pub retention_days: u32,
    pub streaming: bool,
    pub response_cache: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanTable {
    pub free: PlanLimits,
    pub pro: PlanLimits,
    pub enterprise: PlanLimits,
}

impl Default for PlanTable {
    fn default() -> Self {
        Self {
            free: PlanLimits {
                requests_per_month: Limit(Some(10_000)),
                gateway_keys: Limit(Some(2)),
                providers: Limit(Some(2)),
                retention_days: 7,
                streaming: false,
                response_cache: false,
            },
            pro: PlanLimits {
                requests_per_month: Limit(Some(1_000_000)),
                gateway_keys: Limit(Some(50)),
                providers: Limit::UNLIMITED,
                retention_days: 90,
                streaming: true,
                response_cache: true,
            },
            enterprise: PlanLimits {
                requests_per_month: Limit::UNLIMITED,
                gateway_keys: Limit::UNLIMITED,
                providers: Limit::UNLIMITED,
                retention_days: 365,
                streaming: true,
                response_cache: true,
            },
        }
    }
}

impl PlanTable {
    pub fn limits(&self, plan: Plan) -> &PlanLimits {
        match plan {
            Plan::Free => &self.free,
            Plan::Pro => &self.pro,
            Plan::Enterprise => &self.enterprise,
        }
    }

    /// The cheapest plan above `plan` that streams, to name in an error.
    pub fn streaming_plan_above(&self, plan: Plan) -> Option<Plan> {
        Plan::ALL
            .into_iter()
            .filter(|p| *p > plan)
            .find(|p| self.limits(*p).streaming)
    }
}

/// The calendar month (UTC) containing `ms`, as [start, next start) in milliseconds: the period a
/// monthly quota counts.
pub fn month_bounds_utc(ms: i64) -> (i64, i64) {
    let now = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let (next_year, next_month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    let next = Utc
        .with_ymd_and_hms(next_year, next_month, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    (start.timestamp_millis(), next.timestamp_millis())
}

/// `2026-12-01T00:00:00.000Z`, for exports.
pub fn format_iso(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_published_table() {
        let table = PlanTable::default();
        assert_eq!(table.free.requests_per_month, Limit(Some(10_000)));
        assert_eq!(
            (table.free.gateway_keys, table.free.providers),
            (Limit(Some(2)), Limit(Some(2)))
        );
        assert!(!table.free.streaming && !table.free.response_cache);
        assert_eq!(table.pro.requests_per_month, Limit(Some(1_000_000)));
        assert_eq!(table.pro.gateway_keys, Limit(Some(50)));
        assert_eq!(table.enterprise.requests_per_month, Limit::UNLIMITED);
        assert_eq!(
            [
                table.free.retention_days,
                table.pro.retention_days,
                table.enterprise.retention_days
            ],
            [7, 90, 365]
        );
        assert_eq!(table.streaming_plan_above(Plan::Free), Some(Plan::Pro));
    }

    #[test]
    fn the_table_reads_from_configuration() {
        let json = serde_json::json!({
            "free": {"requests_per_month": 5, "gateway_keys": 1, "providers": 1, "retention_days": 1, "streaming": false, "response_cache": false},
            "pro": {"requests_per_month": "unlimited", "gateway_keys": 50, "providers": "unlimited", "retention_days": 90, "streaming": true, "response_cache": true},
            "enterprise": {"requests_per_month": "unlimited", "gateway_keys": "unlimited", "providers": "unlimited", "retention_days": 365, "streaming": true, "response_cache": true}
        });
        let table: PlanTable = serde_json::from_value(json).unwrap();
        assert_eq!(table.free.requests_per_month, Limit(Some(5)));
        assert_eq!(table.pro.requests_per_month, Limit::UNLIMITED);
        assert_eq!(
            serde_json::from_value::<PlanTable>(serde_json::to_value(&table).unwrap()).unwrap(),
            table
        );
        let bad = serde_json::from_value::<Limit>(serde_json::json!("lots")).unwrap_err();
        assert!(bad.to_string().contains("unlimited"), "{bad}");
    }

    #[test]
    fn limits_and_months() {
        assert!(Limit(Some(2)).allows_one_more(1));
        assert!(!Limit(Some(2)).allows_one_more(2));
        assert!(Limit::UNLIMITED.allows_one_more(u64::MAX));
        assert_eq!(group_thousands(1_000_000), "1,000,000");
        assert_eq!(group_thousands(999), "999");
        // 2026-11-26 23:46 UTC → November 2026.
        let (start, next) = month_bounds_utc(1_795_736_771_000);
        assert_eq!(start, 1_793_491_200_000);
        assert_eq!(
            format_utc(month_bounds_utc(951_782_400_000).0),
            "2000-02-01 00:00 UTC"
        );
        assert_eq!(format_utc(start), "2026-11-01 00:00 UTC");
        assert_eq!(format_utc(next), "2026-12-01 00:00 UTC");
        let (start, next) = month_bounds_utc(next - 1 + 31 * 86_400_000);
        assert_eq!(
            (format_utc(start), format_utc(next)),
            ("2026-12-01 00:00 UTC".into(), "2027-01-01 00:00 UTC".into())
        );
    }
}
