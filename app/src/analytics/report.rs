//! What the analytics page shows, read on the server: the range's totals, series, breakdowns,
//! savings claim and quality checks.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::PortalError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Start of the bucket (ms).
    pub at: i64,
    pub label: String,
    pub requests: i64,
    pub errors: i64,
    pub cache_hits: i64,
    pub tokens: i64,
    pub cost_usd: f64,
    pub saving_usd: f64,
    /// What the requests a saving is claimed for would have cost without the gateway.
    pub saving_base_usd: f64,
    pub p50_ms: Option<u32>,
    pub p95_ms: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakdownRow {
    pub name: String,
    pub requests: i64,
    pub tokens: i64,
    pub cost_usd: f64,
    pub saving_usd: f64,
    pub saving_base_usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyticsView {
    pub range: String,
    /// (value, allowed by the plan's retention).
    pub ranges: Vec<(String, bool)>,
    pub retention_days: u32,
    pub plan: String,
    /// The series is in days (not hours).
    pub daily: bool,
    pub totals: Bucket,
    pub series: Vec<Bucket>,
    /// By `model`, `provider`, `key` and `tier`.
    pub breakdowns: Vec<(String, Vec<BreakdownRow>)>,
    /// What the range's savings are measured against, and on what share of the traffic.
    pub claim: crate::savings::SavingsClaim,
    /// What the quality checks found in the range, beside the savings it goes with.
    pub quality: QualityView,
}

/// The adequate share of judged answers, its 95 % interval and the counts behind it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityRow {
    pub name: String,
    pub judged: u64,
    pub adequate: u64,
    pub no_verdict: u64,
    /// Percent, with the interval's bounds; `None` before anything was judged.
    pub rate: Option<(f64, f64, f64)>,
    pub eval_cost_usd: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityView {
    /// The account's policy asks for checks.
    pub enabled: bool,
    pub overall: QualityRow,
    pub by_tier: Vec<QualityRow>,
    pub by_key: Vec<QualityRow>,
    pub by_day: Vec<QualityRow>,
}

#[cfg(feature = "ssr")]
fn quality_row(name: String, share: &gateway::quality::report::Share) -> QualityRow {
    QualityRow {
        name,
        judged: share.judged,
        adequate: share.adequate,
        no_verdict: share.no_verdict,
        rate: share
            .rate()
            .zip(share.interval_95())
            .map(|(rate, (low, high))| (rate * 100.0, low * 100.0, high * 100.0)),
        eval_cost_usd: share.eval_cost_usd,
    }
}

#[server(prefix = "/api", endpoint = "analytics_report")]
pub async fn analytics_report(range: String) -> Result<AnalyticsView, PortalError> {
    use crate::server::state;
    use gateway::analytics::{self, DAY_MS, HOUR_MS};

    let account_id = crate::server::require(gateway::accounts::members::Action::ReadAnalytics)
        .await?
        .account_id;
    let state = state()?;
    let now = gateway::clock::now_ms();
    let Some(analytics::Reach {
        plan,
        retention_days,
        window:
            analytics::Window {
                range,
                range_ms,
                since,
            },
    }) = analytics::reach(
        &state.db,
        &state.settings.plans,
        account_id,
        Some(&range),
        now,
    )
    .await?
    else {
        return Err(PortalError::NotLoggedIn);
    };
    let bucket_ms = if range_ms <= 2 * DAY_MS {
        HOUR_MS
    } else {
        DAY_MS
    };
    let key_names = gateway::accounts::list_gateway_keys(&state.db, account_id)
        .await?
        .into_iter()
        .map(|key| (key.id, format!("{} ({}…)", key.name, key.prefix)))
        .collect();
    let report =
        analytics::report(&state.db, account_id, since, now + 1, bucket_ms, &key_names).await?;
    let bucket = |at: i64, label: String, t: &analytics::Totals| Bucket {
        at,
        label,
        requests: t.requests,
        errors: t.errors,
        cache_hits: t.cache_hits,
        tokens: t.prompt_tokens + t.completion_tokens,
        cost_usd: t.cost_usd,
        saving_usd: t.saving_usd,
        saving_base_usd: t.saving_base_usd,
        p50_ms: t.p50_ms,
        p95_ms: t.p95_ms,
    };
    let label = |at: i64| {
        let text = gateway_types::time::format_utc(at);
        if bucket_ms == HOUR_MS {
            // `11-26 14:00`
            text[5..16].to_owned()
        } else {
            text[5..10].to_owned()
        }
    };
    let rows = |slices: &[analytics::Slice]| {
        slices
            .iter()
            .map(|s| BreakdownRow {
                name: s.name.clone(),
                requests: s.totals.requests,
                tokens: s.totals.prompt_tokens + s.totals.completion_tokens,
                cost_usd: s.totals.cost_usd,
                saving_usd: s.totals.saving_usd,
                saving_base_usd: s.totals.saving_base_usd,
            })
            .collect::<Vec<_>>()
    };
    let baseline = crate::server::baseline_of(&state, account_id, None).await?;
    let checked = gateway::quality::report::report(&state.db, account_id, since, now + 1).await?;
    let key_label = |id: i32| {
        key_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("#{id}"))
    };
    let enabled = gateway::accounts::routing_policies(&state.db, account_id)
        .await?
        .account
        .quality_checks
        .is_some_and(|checks| checks.sample_rate > 0.0);
    let quality = QualityView {
        enabled,
        overall: quality_row(String::new(), &checked.overall),
        by_tier: checked
            .by_tier
            .iter()
            .map(|(tier, share)| quality_row(tier.clone(), share))
            .collect(),
        by_key: checked
            .by_key
            .iter()
            .map(|(id, share)| quality_row(key_label(*id), share))
            .collect(),
        by_day: checked
            .by_day
            .iter()
            .map(|(day, share)| quality_row(day.clone(), share))
            .collect(),
    };
    Ok(AnalyticsView {
        quality,
        claim: crate::savings::SavingsClaim::of(&report.totals, baseline),
        ranges: analytics::RANGES
            .iter()
            .map(|value| {
                (
                    value.to_string(),
                    analytics::range_allowed(value, retention_days),
                )
            })
            .collect(),
        range,
        retention_days,
        plan: plan.display_name().into(),
        daily: bucket_ms == DAY_MS,
        totals: bucket(since, "total".into(), &report.totals),
        series: report
            .series
            .iter()
            .map(|p| bucket(p.at, label(p.at), &p.totals))
            .collect(),
        breakdowns: vec![
            ("model".into(), rows(&report.by_model)),
            ("provider".into(), rows(&report.by_provider)),
            ("key".into(), rows(&report.by_key)),
            ("tier".into(), rows(&report.by_tier)),
        ],
    })
}
