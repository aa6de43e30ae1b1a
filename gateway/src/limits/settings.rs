//! What an owner sets on a key or on the account, checked.

use serde::{Deserialize, Serialize};

/// What an owner sets on a key or on the account. Every field is optional: none means no limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Spend per calendar month (UTC), in US dollars at the catalog's list prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_budget_usd: Option<f64>,
    /// Percentage of the budget at which the owner is e-mailed, once a month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_at_percent: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u32>,
}

/// Nano-dollars: spend is counted in integers so that concurrent additions are exact.
pub const NANOS_PER_USD: f64 = 1e9;

pub fn usd_to_nanos(usd: f64) -> i64 {
    (usd * NANOS_PER_USD).round() as i64
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LimitsError {
    #[error("could not read the limits: {0}")]
    Json(String),
    #[error("the monthly budget must be a number of US dollars between 0 and 1,000,000")]
    Budget,
    #[error("the alert threshold must be a percentage from 1 to 100, and needs a budget")]
    Alert,
    #[error("requests and tokens per minute must be at least 1")]
    Rate,
}

impl Limits {
    pub fn parse(json: &str) -> Result<Self, LimitsError> {
        if json.trim().is_empty() {
            return Ok(Self::default());
        }
        let limits: Self =
            serde_json::from_str(json).map_err(|err| LimitsError::Json(err.to_string()))?;
        limits.validate()?;
        Ok(limits)
    }

    pub fn validate(&self) -> Result<(), LimitsError> {
        if let Some(budget) = self.monthly_budget_usd
            && !(budget.is_finite() && (0.0..=1e6).contains(&budget))
        {
            return Err(LimitsError::Budget);
        }
        if let Some(percent) = self.alert_at_percent
            && (!(1..=100).contains(&percent) || self.monthly_budget_usd.is_none())
        {
            return Err(LimitsError::Alert);
        }
        if self.requests_per_minute == Some(0) || self.tokens_per_minute == Some(0) {
            return Err(LimitsError::Rate);
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Stored form: `None` for no limits at all.
    pub fn to_json(&self) -> Option<String> {
        (!self.is_empty()).then(|| serde_json::to_string(self).unwrap_or_default())
    }

    pub fn budget_nanos(&self) -> Option<i64> {
        self.monthly_budget_usd.map(usd_to_nanos)
    }

    /// Where the alert fires, in nano-dollars.
    pub fn alert_nanos(&self) -> Option<i64> {
        let budget = self.budget_nanos()?;
        let percent = i64::from(self.alert_at_percent?);
        Some(budget / 100 * percent + budget % 100 * percent / 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_validated() {
        assert_eq!(Limits::parse("").unwrap(), Limits::default());
        let limits = Limits::parse(
            r#"{"monthly_budget_usd": 25.5, "alert_at_percent": 80, "requests_per_minute": 60}"#,
        )
        .unwrap();
        assert_eq!(limits.budget_nanos(), Some(25_500_000_000));
        assert_eq!(limits.alert_nanos(), Some(20_400_000_000));
        assert_eq!(
            Limits::parse(r#"{"monthly_budget_usd": -1}"#),
            Err(LimitsError::Budget)
        );
        assert_eq!(
            Limits::parse(r#"{"alert_at_percent": 80}"#),
            Err(LimitsError::Alert)
        );
        assert_eq!(
            Limits::parse(r#"{"tokens_per_minute": 0}"#),
            Err(LimitsError::Rate)
        );
        assert!(matches!(
            Limits::parse(r#"{"budget": 3}"#),
            Err(LimitsError::Json(_))
        ));
        assert_eq!(Limits::default().to_json(), None);
    }
}
