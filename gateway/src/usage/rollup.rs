//! Hourly roll-ups, written in the same transaction as each batch of usage events: one row per
//! account, hour, key, provider, model and tier, with counters and a latency histogram. The
//! portal's reports read these rows ([`crate::analytics`]), never the raw events.

use std::collections::HashMap;

use sea_orm::sea_query::{Alias, Expr, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr};

use super::chunks::fixed_chunks;
use super::event::UsageEvent;
use crate::clock::HOUR_MS;
use crate::entities::usage_hourly;

/// Upper bounds (ms) of the latency buckets; the last bucket is everything above.
pub const LATENCY_BOUNDS_MS: [u32; 15] = [
    25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 8000, 13000, 20000,
];
pub const BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;

pub fn latency_bucket(latency_ms: u32) -> usize {
    LATENCY_BOUNDS_MS
        .iter()
        .position(|&bound| latency_ms <= bound)
        .unwrap_or(LATENCY_BOUNDS_MS.len())
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Rollup {
    pub requests: i64,
    pub errors: i64,
    pub cache_hits: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
    pub saving_usd: f64,
    pub saving_requests: i64,
    pub saving_base_usd: f64,
    pub unpriced_requests: i64,
    pub latency: [i64; BUCKETS],
}

pub(crate) type RollupKey = (i32, i64, i32, String, String, String);

/// The batch's roll-up rows, in key order: concurrent writers (several servers) then lock the
/// rows they share in the same order and cannot deadlock.
pub(crate) fn rollups(batch: &[UsageEvent]) -> Vec<(RollupKey, Rollup)> {
    let mut rows: Vec<_> = rollup_map(batch).into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

fn rollup_map(batch: &[UsageEvent]) -> HashMap<RollupKey, Rollup> {
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
        if event.claims_saving() {
            row.saving_requests += 1;
            row.saving_base_usd += event.cost_usd + event.saving_usd;
        }
        row.unpriced_requests += i64::from(!event.priced);
        row.latency[latency_bucket(event.latency_ms)] += 1;
    }
    rows
}

fn latency_column(bucket: usize) -> Alias {
    Alias::new(format!("l{bucket:02}"))
}

/// Adds a batch's events to the hourly roll-ups, inside the caller's transaction (what the usage
/// writer does with each batch; the roll-up benchmark calls it directly).
pub async fn add_to_rollups(txn: &impl ConnectionTrait, batch: &[UsageEvent]) -> Result<(), DbErr> {
    let rows = rollups(batch);
    for chunk in fixed_chunks(&rows) {
        upsert_rollups(txn, chunk).await?;
    }
    Ok(())
}

/// Adds roll-up rows to the hourly roll-ups (one upsert statement), inside the batch's
/// transaction.
async fn upsert_rollups(
    txn: &impl ConnectionTrait,
    rows: &[(RollupKey, Rollup)],
) -> Result<(), DbErr> {
    use usage_hourly::Column as C;
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
        C::SavingRequests,
        C::SavingBaseUsd,
        C::UnpricedRequests,
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
            (*account_id).into(),
            (*hour).into(),
            (*key_id).into(),
            provider.clone().into(),
            model.clone().into(),
            tier.clone().into(),
            row.requests.into(),
            row.errors.into(),
            row.cache_hits.into(),
            row.prompt_tokens.into(),
            row.completion_tokens.into(),
            row.cost_usd.into(),
            row.saving_usd.into(),
            row.saving_requests.into(),
            row.saving_base_usd.into(),
            row.unpriced_requests.into(),
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
