//! Analytics: hourly roll-ups written with each usage batch, the reports the portal charts, the
//! export of raw events, and retention by plan. Metadata only: there is nothing else to read.
//!
//! Every query is clamped to the plan's retention, so events older than it never show, even
//! before the retention job has deleted them.

use std::collections::{BTreeMap, HashMap};

use sea_orm::sea_query::{Alias, Expr, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};

use crate::clock::now_ms;
use crate::entities::{account, usage_event, usage_hourly};
use crate::plans::{Plan, PlanTable};
use crate::usage::UsageEvent;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Upper bounds (ms) of the latency buckets; the last bucket is everything above.
pub const LATENCY_BOUNDS_MS: [u32; 15] = [
    25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 8000, 13000, 20000,
];
const BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;

pub fn latency_bucket(latency_ms: u32) -> usize {
    LATENCY_BOUNDS_MS
        .iter()
        .position(|&bound| latency_ms <= bound)
        .unwrap_or(LATENCY_BOUNDS_MS.len())
}

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

#[derive(Debug, Clone, Default, PartialEq)]
struct Rollup {
    requests: i64,
    errors: i64,
    cache_hits: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    cost_usd: f64,
    saving_usd: f64,
    latency: [i64; BUCKETS],
}

type RollupKey = (i32, i64, i32, String, String, String);

fn rollups(batch: &[UsageEvent]) -> HashMap<RollupKey, Rollup> {
    let mut rows: HashMap<RollupKey, Rollup> = HashMap::new();
    for event in batch {
        let hour = event.created_at_ms.div_euclid(HOUR_MS) * HOUR_MS;
        let key = (
            event.account_id,
            hour,
            event.key_id,
            event.provider.clone(),
            event.model.clone(),
            event.tier.clone().unwrap_or_default(),
        );
        let row = rows.entry(key).or_default();
        row.requests += 1;
        row.errors += i64::from(event.status >= 400);
        row.cache_hits += i64::from(event.cache_hit);
        row.prompt_tokens += i64::from(event.prompt_tokens);
        row.completion_tokens += i64::from(event.completion_tokens);
        row.cost_usd += event.cost_usd;
        row.saving_usd += event.saving_usd;
        row.latency[latency_bucket(event.latency_ms)] += 1;
    }
    rows
}

fn latency_column(bucket: usize) -> Alias {
    Alias::new(format!("l{bucket:02}"))
}

/// Adds a batch of events to the hourly roll-ups (one upsert statement), inside the batch's
/// transaction.
pub async fn add_to_rollups(txn: &impl ConnectionTrait, batch: &[UsageEvent]) -> Result<(), DbErr> {
    use usage_hourly::Column as C;
    let rows = rollups(batch);
    if rows.is_empty() {
        return Ok(());
    }
    let counters = [
        C::Requests,
        C::Errors,
        C::CacheHits,
        C::PromptTokens,
        C::CompletionTokens,
        C::CostUsd,
        C::SavingUsd,
    ];
    let mut insert = Query::insert();
    insert.into_table(usage_hourly::Entity);
    let mut columns: Vec<Alias> = ["account_id", "hour", "key_id", "provider", "model", "tier"]
        .into_iter()
        .map(Alias::new)
        .collect();
    columns.extend(
        counters
            .iter()
            .map(|c| Alias::new(sea_orm::IdenStatic::as_str(c))),
    );
    columns.extend((0..BUCKETS).map(latency_column));
    insert.columns(columns);
    for ((account_id, hour, key_id, provider, model, tier), row) in rows {
        let mut values: Vec<sea_orm::sea_query::SimpleExpr> = vec![
            account_id.into(),
            hour.into(),
            key_id.into(),
            provider.into(),
            model.into(),
            tier.into(),
            row.requests.into(),
            row.errors.into(),
            row.cache_hits.into(),
            row.prompt_tokens.into(),
            row.completion_tokens.into(),
            row.cost_usd.into(),
            row.saving_usd.into(),
        ];
        values.extend(row.latency.iter().map(|&count| count.into()));
        insert.values_panic(values);
    }
    let excluded = Alias::new("excluded");
    let table = Alias::new("usage_hourly");
    let mut updates: Vec<(Alias, sea_orm::sea_query::SimpleExpr)> = counters
        .iter()
        .map(|c| {
            let name = Alias::new(sea_orm::IdenStatic::as_str(c));
            (
                name.clone(),
                Expr::col((table.clone(), name.clone())).add(Expr::col((excluded.clone(), name))),
            )
        })
        .collect();
    updates.extend((0..BUCKETS).map(|bucket| {
        let name = latency_column(bucket);
        (
            name.clone(),
            Expr::col((table.clone(), name.clone())).add(Expr::col((excluded.clone(), name))),
        )
    }));
    insert.on_conflict(
        OnConflict::columns([
            C::AccountId,
            C::Hour,
            C::KeyId,
            C::Provider,
            C::Model,
            C::Tier,
        ])
        .values(updates)
        .to_owned(),
    );
    txn.execute(txn.get_database_backend().build(&insert))
        .await?;
    Ok(())
}

/// A time range the portal and the CLI accept: `1h`, `24h`, `7d`, `30d`, `90d`, `365d`….
pub fn parse_range(text: &str) -> Option<i64> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let number: i64 = number.parse().ok().filter(|n| *n > 0)?;
    match unit {
        "h" => Some(number * HOUR_MS),
        "d" => Some(number * DAY_MS),
        _ => None,
    }
}

/// The earliest instant the account may see: `now - range`, but never past the plan's retention.
pub fn clamp_since(now: i64, range_ms: i64, retention_days: u32) -> i64 {
    (now - range_ms).max(now - i64::from(retention_days) * DAY_MS)
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
    ] {
        query = query.column_as(Expr::cust(format!("CAST(SUM({column}) AS BIGINT)")), column);
    }
    for column in ["cost_usd", "saving_usd"] {
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

/// The account's events since `since`, oldest first (for CSV and JSON export).
pub async fn events_since(
    db: &DatabaseConnection,
    account_id: i32,
    since: i64,
) -> Result<Vec<usage_event::Model>, DbErr> {
    usage_event::Entity::find()
        .filter(usage_event::Column::AccountId.eq(account_id))
        .filter(usage_event::Column::CreatedAt.gte(since))
        .order_by_asc(usage_event::Column::CreatedAt)
        .order_by_asc(usage_event::Column::Id)
        .all(db)
        .await
}

pub const EXPORT_COLUMNS: [&str; 16] = [
    "time",
    "key_id",
    "provider",
    "model",
    "tier",
    "status",
    "error_code",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "cost_usd",
    "baseline_cost_usd",
    "saving_usd",
    "baseline_model",
    "cache_hit",
    "counted",
];

/// What the request would have cost on the account's baseline model: its cost plus what routing
/// (or the cache) saved. Equal to the cost when nothing was saved.
pub fn baseline_cost_usd(event: &usage_event::Model) -> f64 {
    event.cost_usd + event.saving_usd
}

/// One event as an export row, in `EXPORT_COLUMNS` order.
pub fn export_row(event: &usage_event::Model) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::json;
    let values = [
        json!(crate::plans::format_iso(event.created_at)),
        json!(event.key_id),
        json!(event.provider),
        json!(event.model),
        json!(event.tier),
        json!(event.status),
        json!(event.error_code),
        json!(event.prompt_tokens),
        json!(event.completion_tokens),
        json!(event.latency_ms),
        json!(event.cost_usd),
        json!(baseline_cost_usd(event)),
        json!(event.saving_usd),
        json!(event.baseline_model),
        json!(event.cache_hit),
        json!(event.counted),
    ];
    EXPORT_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .zip(values)
        .collect()
}

/// CSV (RFC 4180) of the events, with a header row.
pub fn to_csv(events: &[usage_event::Model]) -> String {
    let mut out = EXPORT_COLUMNS.join(",");
    out.push_str("\r\n");
    for event in events {
        let row = export_row(event);
        let cells: Vec<String> = EXPORT_COLUMNS
            .iter()
            .map(|column| match &row[*column] {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(text) => csv_escape(text),
                other => other.to_string(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

fn csv_escape(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Deletes events and roll-ups older than each plan's retention. Returns the events deleted.
pub async fn delete_expired(
    db: &DatabaseConnection,
    plans: &PlanTable,
    now: i64,
) -> Result<u64, DbErr> {
    let mut deleted = 0;
    for plan in Plan::ALL {
        let cutoff = now - i64::from(plans.limits(plan).retention_days) * DAY_MS;
        let on_plan = Query::select()
            .column(account::Column::Id)
            .from(account::Entity)
            .and_where(account::Column::Plan.eq(plan.id()))
            .to_owned();
        deleted += usage_event::Entity::delete_many()
            .filter(usage_event::Column::CreatedAt.lt(cutoff))
            .filter(usage_event::Column::AccountId.in_subquery(on_plan.clone()))
            .exec(db)
            .await?
            .rows_affected;
        // An hour is dropped once it has wholly passed the cutoff.
        usage_hourly::Entity::delete_many()
            .filter(usage_hourly::Column::Hour.lt(cutoff - HOUR_MS))
            .filter(usage_hourly::Column::AccountId.in_subquery(on_plan))
            .exec(db)
            .await?;
    }
    Ok(deleted)
}

/// Runs [`delete_expired`] every `interval` until aborted.
pub fn spawn_retention_job(
    db: DatabaseConnection,
    plans: PlanTable,
    interval: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match delete_expired(&db, &plans, now_ms()).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(
                    deleted,
                    "retention: deleted usage events past their plan's retention"
                ),
                Err(err) => tracing::warn!(error = %err, "retention job failed; will retry"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_retention_clamp() {
        assert_eq!(parse_range("24h"), Some(DAY_MS));
        assert_eq!(parse_range("7d"), Some(7 * DAY_MS));
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

    fn routed_event() -> usage_event::Model {
        usage_event::Model {
            id: 1,
            account_id: 1,
            key_id: Some(2),
            provider: "openai".into(),
            model: "gpt-4.1-nano".into(),
            prompt_tokens: 10,
            completion_tokens: 20,
            latency_ms: 30,
            status: 200,
            error_code: None,
            created_at: 0,
            tier: Some("cheap".into()),
            baseline_model: Some("openai/gpt-4o".into()),
            cost_usd: 0.125,
            saving_usd: 0.375,
            counted: true,
            cache_hit: false,
            route_reason: Some("auto: difficulty 0.10 -> cheap tier".into()),
        }
    }

    #[test]
    fn the_export_has_the_baseline_cost_after_the_cost() {
        let at = |name: &str| EXPORT_COLUMNS.iter().position(|c| *c == name).unwrap();
        assert_eq!(at("baseline_cost_usd"), at("cost_usd") + 1);
        assert_eq!(at("saving_usd"), at("baseline_cost_usd") + 1);
        let event = routed_event();
        let row = export_row(&event);
        assert_eq!(row.len(), EXPORT_COLUMNS.len());
        assert_eq!(row["baseline_cost_usd"], serde_json::json!(0.5));
        assert_eq!(row["cost_usd"], serde_json::json!(0.125));
        let unrouted = usage_event::Model {
            saving_usd: 0.0,
            ..routed_event()
        };
        assert_eq!(
            export_row(&unrouted)["baseline_cost_usd"],
            serde_json::json!(0.125)
        );
        let csv = to_csv(&[event]);
        let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
        assert_eq!(
            lines[0],
            "time,key_id,provider,model,tier,status,error_code,prompt_tokens,completion_tokens,\
             latency_ms,cost_usd,baseline_cost_usd,saving_usd,baseline_model,cache_hit,counted"
        );
        assert_eq!(
            lines[1],
            "1970-01-01T00:00:00.000Z,2,openai,gpt-4.1-nano,cheap,200,,10,20,30,0.125,0.5,0.375,\
             openai/gpt-4o,false,true"
        );
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_escape("plain"), "plain");
        assert_eq!(csv_escape("a,b"), "\"a,b\"");
        assert_eq!(csv_escape("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
