//! What the checks found, for the portal: the share of judged answers that were adequate, with
//! its 95 % confidence interval and the number judged, overall, per tier, per key and per day.

use std::collections::BTreeMap;

use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};

use crate::entities::quality_verdict;

/// Adequate answers among those judged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub judged: u64,
    pub adequate: u64,
    /// Checks that ended without a verdict (the judge or the baseline failed): not in `judged`.
    pub no_verdict: u64,
    /// What the checks cost, apart from the traffic.
    pub eval_cost_usd: f64,
}

impl Share {
    fn add(&mut self, verdict: &quality_verdict::Model) {
        match verdict.adequate {
            Some(adequate) => {
                self.judged += 1;
                self.adequate += u64::from(adequate);
            }
            None => self.no_verdict += 1,
        }
        self.eval_cost_usd += verdict.eval_cost_usd;
    }

    /// The adequate share, `None` before anything was judged.
    pub fn rate(&self) -> Option<f64> {
        (self.judged > 0).then(|| self.adequate as f64 / self.judged as f64)
    }

    /// Wilson's 95 % interval for the adequate share: unlike the normal approximation it stays
    /// within 0..1 and is honest about small samples (3 of 3 is not "100 %").
    pub fn interval_95(&self) -> Option<(f64, f64)> {
        wilson(self.adequate, self.judged, 1.959_963_984_540_054)
    }
}

pub fn wilson(successes: u64, trials: u64, z: f64) -> Option<(f64, f64)> {
    if trials == 0 {
        return None;
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    pub overall: Share,
    /// By the tier the request was routed to.
    pub by_tier: Vec<(String, Share)>,
    /// By key id.
    pub by_key: Vec<(i32, Share)>,
    /// By UTC day (`2026-12-06`), oldest first.
    pub by_day: Vec<(String, Share)>,
}

/// The account's checks in `[since, until)`.
pub async fn report(
    db: &DatabaseConnection,
    account_id: i32,
    since: i64,
    until: i64,
) -> Result<QualityReport, DbErr> {
    let verdicts = quality_verdict::Entity::find()
        .filter(quality_verdict::Column::AccountId.eq(account_id))
        .filter(quality_verdict::Column::CreatedAt.gte(since))
        .filter(quality_verdict::Column::CreatedAt.lt(until))
        .all(db)
        .await?;
    Ok(summarise(&verdicts))
}

pub fn summarise(verdicts: &[quality_verdict::Model]) -> QualityReport {
    let mut report = QualityReport::default();
    let (mut tiers, mut keys, mut days) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for verdict in verdicts {
        report.overall.add(verdict);
        tiers
            .entry(verdict.tier.clone().unwrap_or_default())
            .or_insert_with(Share::default)
            .add(verdict);
        keys.entry(verdict.key_id.unwrap_or(0))
            .or_insert_with(Share::default)
            .add(verdict);
        let day = gateway_types::time::format_utc(verdict.created_at)[..10].to_owned();
        days.entry(day).or_insert_with(Share::default).add(verdict);
    }
    report.by_tier = tiers.into_iter().collect();
    report.by_key = keys.into_iter().collect();
    report.by_day = days.into_iter().collect();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_textbook_and_stays_in_bounds() {
        // 95 of 100: (0.8883, 0.9785) in Newcombe (1998), table I.
        let (low, high) = wilson(95, 100, 1.959_963_984_540_054).unwrap();
        assert!(
            (low - 0.8883).abs() < 1e-3 && (high - 0.9785).abs() < 1e-3,
            "{low} {high}"
        );
        let (low, high) = wilson(3, 3, 1.959_963_984_540_054).unwrap();
        assert!(
            high <= 1.0 && low < 0.5,
            "three of three is not certainty: {low}"
        );
        assert_eq!(wilson(0, 0, 1.96), None);
    }
}
