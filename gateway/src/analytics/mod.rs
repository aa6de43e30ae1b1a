//! Analytics: the reports the portal charts, read from the hourly roll-ups that the usage writer
//! keeps ([`crate::usage::rollup`]); the export of raw events ([`export`]) and retention by plan
//! ([`retention`]). Metadata only: there is nothing else to read.
//!
//! Every query is clamped to the plan's retention, so events older than it never show, even
//! before the retention job has deleted them.

mod export;
mod log;
mod retention;

pub use crate::clock::{DAY_MS, HOUR_MS};
pub use crate::usage::rollup::{LATENCY_BOUNDS_MS, latency_bucket};
pub use export::{
    EXPORT_COLUMNS, EXPORT_PAGE, csv_stream, events_page, events_since, export_row, to_csv,
};
pub use log::{LOG_PAGE, LogFilter, StatusFilter, events_of_requests, log_page};
pub use retention::{delete_expired, delete_expired_in_batches, spawn_retention_job};

use std::collections::{BTreeMap, HashMap};

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};

use crate::entities::usage_hourly;
use crate::usage::rollup::{BUCKETS, Rollup};

/// The latency under which `quantile` of the requests fall, as the upper bound of its bucket.
pub fn percentile(histogram: &[i64; BUCKETS], quantile: f64) -> Option<u32> {
    let total: i64 = histogram.iter().sum();
    if total == 0 {
        return None;
    }
    let wanted = (quantile * total as f64).ceil().max(1.0) as i64;
    let mut seen = 0;
    for (bucket, count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= wanted {
            return Some(LATENCY_BOUNDS_MS.get(bucket).copied().unwrap_or(30_000));
        }
    }
    None
}

/// A time range the portal and the CLI accept: `1h`, `24h`, `7d`, `30d`, `90d`, `365d`….
pub fn parse_range(text: &str) -> Option<i64> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let number: i64 = number.parse().ok().filter(|n| *n > 0)?;
    // A range past what an i64 of milliseconds holds is no range (not an overflow).
    match unit {
        "h" => number.checked_mul(HOUR_MS),
        "d" => number.checked_mul(DAY_MS),
        _ => None,
    }
}

/// The earliest instant the account may see: `now - range`, but never past the plan's retention.
pub fn clamp_since(now: i64, range_ms: i64, retention_days: u32) -> i64 {
    now.saturating_sub(range_ms)
        .max(now.saturating_sub(i64::from(retention_days).saturating_mul(DAY_MS)))
}

/// The ranges the portal offers, shortest first.
pub const RANGES: &[&str] = &["24h", "7d", "30d", "90d", "365d"];

/// What an analytics view or export shows: the range asked for when the plan's retention
/// allows it, else the longest offered range it allows (24 hours at least); and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub range: String,
    pub range_ms: i64,
    pub since: i64,
}

/// Whether a plan keeping `retention_days` of analytics shows the range `value`.
pub fn range_allowed(value: &str, retention_days: u32) -> bool {
    parse_range(value).is_some_and(|ms| ms <= i64::from(retention_days).saturating_mul(DAY_MS))
}

/// How far back an account may read its analytics, and the window of the range it asked for
/// (`None`: the longest its plan keeps): its plan's retention, read once for the analytics
/// page, the CSV export and the request log alike. `None` when the account is gone.
#[derive(Debug, Clone, PartialEq)]
pub struct Reach {
    pub plan: crate::plans::Plan,
    pub retention_days: u32,
    pub window: Window,
}

pub async fn reach(
    db: &DatabaseConnection,
    plans: &crate::plans::PlanTable,
    account_id: i32,
    asked: Option<&str>,
    now: i64,
) -> Result<Option<Reach>, DbErr> {
    let Some(account) = crate::accounts::account_by_id(db, account_id).await? else {
        return Ok(None);
    };
    let plan = crate::plans::Plan::stored(&account.plan);
    let retention_days = plans.limits(plan).retention_days;
    // A range longer than any plan keeps falls back to the longest this one does.
    let asked = asked.unwrap_or(RANGES[RANGES.len() - 1]);
    Ok(Some(Reach {
        plan,
        retention_days,
        window: window(asked, retention_days, now),
    }))
}

/// The one rule for the analytics page and the CSV export alike.
pub fn window(asked: &str, retention_days: u32, now: i64) -> Window {
    let allowed = |value: &str| range_allowed(value, retention_days);
    let range = if allowed(asked) {
        asked.trim().to_owned()
    } else {
        RANGES
            .iter()
            .rev()
            .copied()
            .find(|value| allowed(value))
            .unwrap_or("24h")
            .to_owned()
    };
    let range_ms = parse_range(&range).unwrap_or(DAY_MS);
    Window {
        since: clamp_since(now, range_ms, retention_days),
        range,
        range_ms,
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub requests: i64,
    pub errors: i64,
    pub cache_hits: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
    pub saving_usd: f64,
    /// Requests a saving is claimed for (routed by the gateway, or served from the cache), and
    /// what they would have cost without it: `saving_usd / saving_base_usd` is "saved x %", on
    /// `saving_requests` of `requests`.
    pub saving_requests: i64,
    pub saving_base_usd: f64,
    /// Requests to a model without a price: counted here and in tokens, not in costs.
    pub unpriced_requests: i64,
    pub p50_ms: Option<u32>,
    pub p95_ms: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Start of the bucket (ms).
    pub at: i64,
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slice {
    pub name: String,
    pub totals: Totals,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub since: i64,
    pub until: i64,
    pub bucket_ms: i64,
    pub totals: Totals,
    pub series: Vec<Point>,
    pub by_model: Vec<Slice>,
    pub by_provider: Vec<Slice>,
    pub by_key: Vec<Slice>,
    pub by_tier: Vec<Slice>,
}

/// Sums of roll-up rows: the same measures a batch's roll-up carries.
impl Rollup {
    fn add(&mut self, row: &usage_hourly::Model) {
        self.requests += row.requests;
        self.errors += row.errors;
        self.cache_hits += row.cache_hits;
        self.prompt_tokens += row.prompt_tokens;
        self.completion_tokens += row.completion_tokens;
        self.cost_usd += row.cost_usd;
        self.saving_usd += row.saving_usd;
        self.saving_requests += row.saving_requests;
        self.saving_base_usd += row.saving_base_usd;
        self.unpriced_requests += row.unpriced_requests;
        let buckets = [
            row.l00, row.l01, row.l02, row.l03, row.l04, row.l05, row.l06, row.l07, row.l08,
            row.l09, row.l10, row.l11, row.l12, row.l13, row.l14, row.l15,
        ];
        for (sum, count) in self.latency.iter_mut().zip(buckets) {
            *sum += count;
        }
    }

    fn totals(&self) -> Totals {
        Totals {
            requests: self.requests,
            errors: self.errors,
            cache_hits: self.cache_hits,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cost_usd: self.cost_usd,
            saving_usd: self.saving_usd,
            saving_requests: self.saving_requests,
            saving_base_usd: self.saving_base_usd,
            unpriced_requests: self.unpriced_requests,
            p50_ms: percentile(&self.latency, 0.5),
            p95_ms: percentile(&self.latency, 0.95),
        }
    }
}

fn slices(groups: HashMap<String, Rollup>) -> Vec<Slice> {
    let mut slices: Vec<Slice> = groups
        .into_iter()
        .map(|(name, acc)| Slice {
            name,
            totals: acc.totals(),
        })
        .collect();
    slices.sort_by(|a, b| {
        b.totals
            .requests
            .cmp(&a.totals.requests)
            .then(a.name.cmp(&b.name))
    });
    slices
}

/// The account's report over `[since, until)`, from the hourly roll-ups, in buckets of
/// `bucket_ms` (a multiple of an hour). `key_names` labels the per-key breakdown.
pub async fn report(
    db: &DatabaseConnection,
    account_id: i32,
    since: i64,
    until: i64,
    bucket_ms: i64,
    key_names: &HashMap<i32, String>,
) -> Result<Report, DbErr> {
    let bucket_ms = (bucket_ms / HOUR_MS).max(1) * HOUR_MS;
    let first_hour = since.div_euclid(HOUR_MS) * HOUR_MS;
    // Summed per bucket in the database: a 90-day view reads a few hundred rows, not every hour.
    use usage_hourly::Column as C;
    let bucket_of_hour = Expr::cust(format!("(hour / {bucket_ms}) * {bucket_ms}"));
    let mut query = usage_hourly::Entity::find()
        .select_only()
        .column(C::AccountId)
        .column_as(bucket_of_hour.clone(), "hour")
        .column(C::KeyId)
        .column(C::Provider)
        .column(C::Model)
        .column(C::Tier);
    // Integer sums are NUMERIC on PostgreSQL: cast them back.
    for column in [
        "requests",
        "errors",
        "cache_hits",
        "prompt_tokens",
        "completion_tokens",
        "saving_requests",
        "unpriced_requests",
    ] {
        query = query.column_as(Expr::cust(format!("CAST(SUM({column}) AS BIGINT)")), column);
    }
    for column in ["cost_usd", "saving_usd", "saving_base_usd"] {
        query = query.column_as(Expr::cust(format!("SUM({column})")), column);
    }
    for bucket in 0..BUCKETS {
        query = query.column_as(
            Expr::cust(format!("CAST(SUM(l{bucket:02}) AS BIGINT)")),
            format!("l{bucket:02}"),
        );
    }
    let rows = query
        .filter(C::AccountId.eq(account_id))
        .filter(C::Hour.gte(first_hour))
        .filter(C::Hour.lt(until))
        .group_by(C::AccountId)
        .group_by(bucket_of_hour)
        .group_by(C::KeyId)
        .group_by(C::Provider)
        .group_by(C::Model)
        .group_by(C::Tier)
        .into_model::<usage_hourly::Model>()
        .all(db)
        .await?;
    let mut total = Rollup::default();
    let mut series: BTreeMap<i64, Rollup> = BTreeMap::new();
    let first_bucket = first_hour.div_euclid(bucket_ms) * bucket_ms;
    let mut at = first_bucket;
    while at < until {
        series.entry(at).or_default();
        at += bucket_ms;
    }
    let mut by_model: HashMap<String, Rollup> = HashMap::new();
    let mut by_provider: HashMap<String, Rollup> = HashMap::new();
    let mut by_key: HashMap<String, Rollup> = HashMap::new();
    let mut by_tier: HashMap<String, Rollup> = HashMap::new();
    for row in &rows {
        total.add(row);
        series
            .entry(row.hour.div_euclid(bucket_ms) * bucket_ms)
            .or_default()
            .add(row);
        by_model
            .entry(format!("{}/{}", row.provider, row.model))
            .or_default()
            .add(row);
        by_provider
            .entry(row.provider.clone())
            .or_default()
            .add(row);
        let key = key_names
            .get(&row.key_id)
            .cloned()
            .unwrap_or_else(|| format!("key {}", row.key_id));
        by_key.entry(key).or_default().add(row);
        by_tier
            .entry(if row.tier.is_empty() {
                "unknown".to_owned()
            } else {
                row.tier.clone()
            })
            .or_default()
            .add(row);
    }
    Ok(Report {
        since,
        until,
        bucket_ms,
        totals: total.totals(),
        series: series
            .into_iter()
            .map(|(at, acc)| Point {
                at,
                totals: acc.totals(),
            })
            .collect(),
        by_model: slices(by_model),
        by_provider: slices(by_provider),
        by_key: slices(by_key),
        by_tier: slices(by_tier),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_what_was_asked_within_the_retention_else_the_longest_allowed() {
        let now = 400 * DAY_MS;
        let asked = window("30d", 90, now);
        assert_eq!(
            (asked.range.as_str(), asked.since),
            ("30d", now - 30 * DAY_MS)
        );
        // Past the retention, or not a range: the longest offered range the plan keeps.
        for past in ["365d", "nonsense", ""] {
            let w = window(past, 7, now);
            assert_eq!((w.range.as_str(), w.range_ms), ("7d", 7 * DAY_MS), "{past}");
            assert_eq!(w.since, now - 7 * DAY_MS);
        }
        // A range inside the retention that the portal does not offer is still honoured.
        assert_eq!(window("2h", 7, now).since, now - 2 * HOUR_MS);
        // A retention shorter than any offered range: a day, clamped to the retention.
        let short = window("7d", 0, now);
        assert_eq!((short.range.as_str(), short.since), ("24h", now));
    }

    #[test]
    fn ranges_and_retention_clamp() {
        assert_eq!(parse_range("24h"), Some(DAY_MS));
        assert_eq!(parse_range("7d"), Some(7 * DAY_MS));
        // Ranges too long for milliseconds are refused, not overflowed.
        assert_eq!(parse_range("106751991167301d"), None);
        assert_eq!(parse_range("9223372036854775807h"), None);
        assert_eq!(
            clamp_since(0, i64::MAX, u32::MAX),
            -i64::from(u32::MAX) * DAY_MS
        );
        assert_eq!(clamp_since(i64::MIN, 1, 7), i64::MIN);
        assert_eq!(parse_range("0d"), None);
        assert_eq!(parse_range("7w"), None);
        assert_eq!(parse_range("d"), None);
        let now = 1_000 * DAY_MS;
        assert_eq!(clamp_since(now, 30 * DAY_MS, 7), now - 7 * DAY_MS);
        assert_eq!(clamp_since(now, DAY_MS, 7), now - DAY_MS);
    }

    #[test]
    fn latency_buckets_and_percentiles() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(25), 0);
        assert_eq!(latency_bucket(26), 1);
        assert_eq!(latency_bucket(60_000), 15);
        let mut histogram = [0i64; BUCKETS];
        histogram[latency_bucket(90)] = 90; // ≤ 100 ms
        histogram[latency_bucket(1800)] = 10; // ≤ 2000 ms
        assert_eq!(percentile(&histogram, 0.5), Some(100));
        assert_eq!(percentile(&histogram, 0.95), Some(2000));
        assert_eq!(percentile(&[0; BUCKETS], 0.5), None);
    }
}
