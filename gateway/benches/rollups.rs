//! How fast the analytics page's 90-day view is over 10 million usage events.
//!
//! Feeds 10,000,000 synthetic events (90 days, 3 keys, 4 models, realistic latencies) through the
//! same roll-up upsert the usage writer runs with each batch (5,000 events a batch), into a fresh
//! SQLite database, then times the 90-day report (daily buckets, breakdowns, percentiles) read
//! from the roll-ups. For scale, it also times the same totals computed straight from raw events
//! over a 1,000,000-event table.
//!
//! Run: `cargo bench -p gateway --bench rollups` (about two minutes; release build).

use std::collections::HashMap;
use std::time::Instant;

use gateway::analytics::{self, DAY_MS};
use gateway::sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use gateway::usage::UsageEvent;
use migrations::{Migrator, MigratorTrait};

const EVENTS: u64 = 10_000_000;
const RAW_EVENTS: u64 = 1_000_000;
const BATCH: u64 = 5_000;
const DAYS: i64 = 90;
const MODELS: [(&str, &str, &str); 4] = [
    ("openai", "gpt-4o-mini", "cheap"),
    ("openai", "gpt-4o", "strong"),
    ("anthropic", "claude-3-haiku-20240307", "cheap"),
    ("groq", "llama-3.3-70b-versatile", "standard"),
];

/// A deterministic stream of events spread evenly over 90 days ending `now`.
fn event(i: u64, total: u64, now: i64) -> UsageEvent {
    let span = DAYS * DAY_MS;
    let created_at_ms = now - span + (i as i128 * span as i128 / total as i128) as i64;
    let mix = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let (provider, model, tier) = MODELS[(mix % 4) as usize];
    let latency_ms = 80 + (mix >> 8) % 900 + if (mix >> 20) % 50 == 0 { 4_000 } else { 0 };
    UsageEvent {
        account_id: 1,
        key_id: 1 + ((mix >> 4) % 3) as i32,
        provider: provider.into(),
        model: model.into(),
        prompt_tokens: 200 + ((mix >> 12) % 800) as u32,
        completion_tokens: 50 + ((mix >> 16) % 300) as u32,
        latency_ms: latency_ms as u32,
        upstream_ms: None,
        first_byte_ms: None,
        status: if (mix >> 24) % 100 == 0 { 502 } else { 200 },
        error_code: None,
        created_at_ms,
        tier: Some(tier.into()),
        baseline_model: Some("openai/gpt-4o".into()),
        cost_usd: 0.0002,
        saving_usd: 0.001,
        counted: true,
        cache_hit: (mix >> 28) % 20 == 0,
        route_reason: Some(
            "auto: difficulty 0.20: topic a small model handles -> cheap tier".into(),
        ),
        routed: true,
        priced: true,
        baseline_cost_usd: Some(0.0012),
        key_accepted: true,
        request_id: gateway::usage::RequestId(i as i64),
    }
}

async fn fresh_database(name: &str) -> (DatabaseConnection, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    let db = Database::connect(&url).await.unwrap();
    db.execute_unprepared("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    db.execute_unprepared("INSERT INTO accounts (email, password_hash, plan, created_at, updated_at) VALUES ('bench@example.com', 'x', 'enterprise', 0, 0)")
        .await
        .unwrap();
    (db, dir)
}

fn percentile(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() as f64 - 1.0) * q).round() as usize]
}

#[tokio::main]
async fn main() {
    let now = gateway::clock::now_ms();
    let (db, _dir) = fresh_database("rollups.db").await;

    let started = Instant::now();
    let mut i = 0;
    while i < EVENTS {
        let batch: Vec<UsageEvent> = (i..(i + BATCH).min(EVENTS))
            .map(|n| event(n, EVENTS, now))
            .collect();
        let txn = gateway::sea_orm::TransactionTrait::begin(&db)
            .await
            .unwrap();
        gateway::usage::rollup::add_to_rollups(&txn, &batch)
            .await
            .unwrap();
        txn.commit().await.unwrap();
        i += BATCH;
    }
    let write_secs = started.elapsed().as_secs_f64();
    let rows = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM usage_hourly",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    println!(
        "rolled up {EVENTS} events into {rows} hourly rows in {write_secs:.1} s ({:.0} events/s)",
        EVENTS as f64 / write_secs
    );

    let names: HashMap<i32, String> = (1..=3).map(|k| (k, format!("key {k}"))).collect();
    let mut timings = Vec::new();
    let mut report = None;
    for _ in 0..20 {
        let started = Instant::now();
        report = Some(
            analytics::report(&db, 1, now - DAYS * DAY_MS, now + 1, DAY_MS, &names)
                .await
                .unwrap(),
        );
        timings.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let report = report.unwrap();
    assert_eq!(
        report.totals.requests as u64, EVENTS,
        "every event is in the roll-ups"
    );
    println!(
        "90-day report from roll-ups ({} daily points, p50 latency ≤{} ms, p95 ≤{} ms): p50 {:.1} ms, p95 {:.1} ms over 20 runs",
        report.series.len(),
        report.totals.p50_ms.unwrap_or(0),
        report.totals.p95_ms.unwrap_or(0),
        percentile(&mut timings.clone(), 0.5),
        percentile(&mut timings, 0.95)
    );

    // For scale: the same totals from raw events, on a tenth of the data.
    let (raw, _raw_dir) = fresh_database("raw.db").await;
    let started = Instant::now();
    let mut i = 0;
    while i < RAW_EVENTS {
        let values: Vec<String> = (i..(i + BATCH).min(RAW_EVENTS))
            .map(|n| {
                let e = event(n, RAW_EVENTS, now);
                format!(
                    "(1,{},'{}','{}',{},{},{},{},{},'{}',{},{},1,{})",
                    e.key_id,
                    e.provider,
                    e.model,
                    e.prompt_tokens,
                    e.completion_tokens,
                    e.latency_ms,
                    e.status,
                    e.created_at_ms,
                    e.tier.unwrap_or_default(),
                    e.cost_usd,
                    e.saving_usd,
                    i32::from(e.cache_hit)
                )
            })
            .collect();
        raw.execute_unprepared(&format!(
            "INSERT INTO usage_events (account_id, key_id, provider, model, prompt_tokens, completion_tokens, latency_ms, status, created_at, tier, cost_usd, saving_usd, counted, cache_hit) VALUES {}",
            values.join(",")
        ))
        .await
        .unwrap();
        i += BATCH;
    }
    println!(
        "inserted {RAW_EVENTS} raw events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let query = format!(
        "SELECT created_at / {DAY_MS} AS day, model, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_usd), SUM(saving_usd), SUM(status >= 400), SUM(cache_hit) \
         FROM usage_events WHERE account_id = 1 AND created_at >= {} GROUP BY day, model",
        now - DAYS * DAY_MS
    );
    let mut raw_timings = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        raw.query_all(Statement::from_string(
            raw.get_database_backend(),
            query.clone(),
        ))
        .await
        .unwrap();
        raw_timings.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "the same 90-day totals straight from {RAW_EVENTS} raw events (no percentiles): p50 {:.0} ms over 5 runs",
        percentile(&mut raw_timings, 0.5)
    );
}
