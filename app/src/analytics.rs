//! Analytics: requests, tokens, cost and savings, latency, errors and cache hits over time, as SVG
//! charts drawn on the server (readable without JavaScript), with breakdowns and a CSV export.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::error::{PortalError, error_view};
use crate::i18n::{Locale, t, td_string, use_i18n};
use crate::layout::PortalPage;

/// The ranges the picker offers.

/// A range's name in `locale`.
fn range_label(locale: Locale, range: &str) -> &'static str {
    match range {
        "24h" => td_string!(locale, analytics.range_24h),
        "7d" => td_string!(locale, analytics.range_7d),
        "30d" => td_string!(locale, analytics.range_30d),
        "90d" => td_string!(locale, analytics.range_90d),
        _ => td_string!(locale, analytics.range_365d),
    }
}

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
    use gateway::plans::Plan;

    let account_id = crate::server::require(gateway::accounts::members::Action::ReadAnalytics)
        .await?
        .account_id;
    let state = state()?;
    let Some(account) = gateway::accounts::account_by_id(&state.db, account_id).await? else {
        return Err(PortalError::NotLoggedIn);
    };
    let plan = Plan::parse(&account.plan).unwrap_or(Plan::Free);
    let retention_days = state.settings.plans.limits(plan).retention_days;
    let now = gateway::clock::now_ms();
    let analytics::Window {
        range,
        range_ms,
        since,
    } = analytics::window(&range, retention_days, now);
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

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 160.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 20.0;

/// A chart of one or more series over the buckets: the first series as bars, the others as
/// lines. Server-rendered SVG with a `<title>` per point, so it reads without JavaScript.
fn chart(
    id: &'static str,
    title: &'static str,
    labels: Vec<String>,
    series: Vec<(&'static str, &'static str, Vec<f64>)>,
    format: impl Fn(f64) -> String,
) -> impl IntoView {
    let count = labels.len().max(1);
    let max = series
        .iter()
        .flat_map(|(_, _, values)| values.iter().copied())
        .fold(0.0_f64, f64::max);
    let scale = if max > 0.0 {
        (HEIGHT - BOTTOM - 8.0) / max
    } else {
        0.0
    };
    let step = (WIDTH - LEFT) / count as f64;
    let y = move |value: f64| HEIGHT - BOTTOM - value * scale;
    let x = move |index: usize| LEFT + step * index as f64 + step / 2.0;
    let first = labels.first().cloned().unwrap_or_default();
    let last = labels.last().cloned().unwrap_or_default();
    let testid = format!("chart-{id}");
    let legend: Vec<(&'static str, &'static str)> = series
        .iter()
        .map(|(name, color, _)| (*name, *color))
        .collect();
    let mut shapes = Vec::new();
    for (position, (name, color, values)) in series.into_iter().enumerate() {
        if position == 0 {
            for (index, value) in values.iter().enumerate() {
                let height = value * scale;
                let tip = format!("{} {}: {}", labels[index], name, format(*value));
                shapes.push(
                    view! {
                        <rect class="bar" x=format!("{:.1}", x(index) - step * 0.35) y=format!("{:.1}", y(*value)) width=format!("{:.1}", step * 0.7)
                              height=format!("{:.1}", height) fill=color data-value=value.to_string()>
                            <title>{tip}</title>
                        </rect>
                    }
                    .into_any(),
                );
            }
        } else {
            let points: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(index, value)| format!("{:.1},{:.1}", x(index), y(*value)))
                .collect();
            shapes.push(view! { <polyline points=points.join(" ") fill="none" stroke=color stroke-width="2"><title>{name}</title></polyline> }.into_any());
        }
    }
    view! {
        <figure class="chart" data-testid=testid>
            <figcaption>
                {title}
                {legend.into_iter().map(|(name, color)| view! { <span class="legend"><i style=format!("background:{color}")></i>{name}</span> }).collect_view()}
            </figcaption>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=title>
                <line x1=LEFT y1=HEIGHT - BOTTOM x2=WIDTH y2=HEIGHT - BOTTOM class="axis"/>
                <text x="2" y="14" class="tick">{format(max)}</text>
                <text x="2" y=HEIGHT - BOTTOM class="tick">{format(0.0)}</text>
                <text x=LEFT y=HEIGHT - 4.0 class="tick">{first}</text>
                <text x=WIDTH y=HEIGHT - 4.0 class="tick" text-anchor="end">{last}</text>
                {shapes}
            </svg>
        </figure>
    }
}

#[component]
pub fn AnalyticsPage() -> impl IntoView {
    let query = use_query_map();
    let range = move || query.with(|q| q.get("range").unwrap_or_else(|| "7d".into()));
    let report = Resource::new(range, analytics_report);
    let i18n = use_i18n();
    view! {
        <PortalPage title=t!(i18n, nav_analytics)>
            <Transition fallback=move || view! { <p>{t!(i18n, loading)}</p> }>
                {move || {
                    // The charts' texts are plain strings: read the language here so a switch
                    // draws them again.
                    let locale = i18n.get_locale();
                    Suspend::new(async move {
                        match report.await {
                            Ok(view) => analytics_view(view, locale).into_any(),
                            Err(err) => error_view(err),
                        }
                    })
                }}
            </Transition>
        </PortalPage>
    }
}

fn analytics_view(view: AnalyticsView, locale: Locale) -> impl IntoView {
    let AnalyticsView {
        range,
        ranges,
        retention_days,
        plan,
        daily,
        totals,
        series,
        breakdowns,
        claim,
        quality,
    } = view;
    let i18n = use_i18n();
    // Days with requests, newest first, under the cost chart.
    let savings_by_day: Vec<Bucket> = if daily {
        series
            .iter()
            .rev()
            .filter(|b| b.requests > 0)
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let labels: Vec<String> = series.iter().map(|b| b.label.clone()).collect();
    let pick = |f: fn(&Bucket) -> f64| series.iter().map(f).collect::<Vec<f64>>();
    let count = |value: f64| format!("{value:.0}");
    let ms = |value: f64| format!("{value:.0} ms");
    let requests = chart(
        "requests",
        td_string!(locale, analytics.requests),
        labels.clone(),
        vec![
            (
                td_string!(locale, analytics.series_requests),
                "#4a7bd0",
                pick(|b| b.requests as f64),
            ),
            (
                td_string!(locale, analytics.series_errors),
                "#c0392b",
                pick(|b| b.errors as f64),
            ),
            (
                td_string!(locale, analytics.series_cache_hits),
                "#27ae60",
                pick(|b| b.cache_hits as f64),
            ),
        ],
        count,
    );
    let tokens = chart(
        "tokens",
        td_string!(locale, analytics.tokens),
        labels.clone(),
        vec![(
            td_string!(locale, analytics.series_tokens),
            "#8e6fd0",
            pick(|b| b.tokens as f64),
        )],
        count,
    );
    let money_chart = chart(
        "cost-and-savings",
        td_string!(locale, analytics.chart_money),
        labels.clone(),
        vec![
            (
                td_string!(locale, analytics.series_cost),
                "#d08a4a",
                pick(|b| b.cost_usd),
            ),
            (
                td_string!(locale, analytics.series_saving),
                "#27ae60",
                pick(|b| b.saving_usd),
            ),
        ],
        move |value| crate::format::money(value, locale),
    );
    let latency = chart(
        "latency",
        td_string!(locale, analytics.chart_latency),
        labels,
        vec![
            ("p50", "#4a7bd0", pick(|b| f64::from(b.p50_ms.unwrap_or(0)))),
            ("p95", "#c0392b", pick(|b| f64::from(b.p95_ms.unwrap_or(0)))),
        ],
        ms,
    );
    let export = format!("/analytics/export.csv?range={range}");
    view! {
        <nav class="scopes" aria-label=td_string!(locale, analytics.time_range)>
            {ranges.into_iter().map(|(value, allowed)| {
                let current = value == range;
                let label = range_label(locale, &value);
                if allowed {
                    view! { <a href=format!("/analytics?range={value}") class:current=current aria-current=current.then_some("page")>{label}</a> }.into_any()
                } else {
                    // Past the plan's retention; the note under the page says how long it keeps.
                    view! { <span class="disabled" aria-disabled="true">{label}</span> }.into_any()
                }
            }).collect_view()}
            <a href=export.clone() download="" data-testid="export-csv">{t!(i18n, analytics.export_csv)}</a>
        </nav>
        <div class="cards">
            <div class="card"><span class="label">{t!(i18n, analytics.requests)}</span><span class="value" data-testid="total-requests">{totals.requests}</span></div>
            <div class="card"><span class="label">{t!(i18n, analytics.tokens)}</span><span class="value">{totals.tokens}</span></div>
            <div class="card"><span class="label">{t!(i18n, analytics.cost)}</span><span class="value">{crate::format::money_view(totals.cost_usd)}</span></div>
            <div class="card"><span class="label">{t!(i18n, analytics.saved_vs_baseline)}</span><span class="value">{crate::format::money_view(totals.saving_usd)}</span>{crate::savings::claim_text(&claim)}</div>
            <div class="card"><span class="label">{t!(i18n, analytics.latency_p50_p95)}</span><span class="value small">{format!("{} / {}", totals.p50_ms.map_or("–".into(), |v| format!("≤{v} ms")), totals.p95_ms.map_or("–".into(), |v| format!("≤{v} ms")))}</span></div>
            <div class="card"><span class="label">{t!(i18n, analytics.errors_cache_hits)}</span><span class="value small">{format!("{} / {}", totals.errors, totals.cache_hits)}</span></div>
        </div>
        {requests}
        {tokens}
        {money_chart}
        {(!savings_by_day.is_empty()).then(|| view! {
            <table class="list compact" data-testid="savings-by-day">
                <caption>{t!(i18n, analytics.per_day)}</caption>
                <thead><tr><th>{t!(i18n, analytics.col_day_utc)}</th><th class="num">{t!(i18n, analytics.cost)}</th><th class="num">{t!(i18n, analytics.col_baseline_cost)}</th><th class="num">{t!(i18n, analytics.col_saved)}</th><th class="num">{t!(i18n, analytics.col_saved_percent)}</th></tr></thead>
                <tbody>
                    {savings_by_day.into_iter().map(|b| view! {
                        <tr>
                            <td>{gateway_types::time::format_utc(b.at)[..10].to_owned()}</td>
                            <td class="num">{crate::format::money_view(b.cost_usd)}</td>
                            <td class="num">{crate::format::money_view(b.saving_base_usd)}</td>
                            <td class="num">{crate::format::money_view(b.saving_usd)}</td>
                            <td class="num">{crate::format::saved_percent_view(b.saving_usd, b.saving_base_usd)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        })}
        {quality_section(quality)}
        {latency}
        {breakdowns.into_iter().map(|(by, rows)| {
            let (heading, column) = match by.as_str() {
                "model" => (td_string!(locale, analytics.by_model), td_string!(locale, analytics.model)),
                "provider" => (td_string!(locale, analytics.by_provider), td_string!(locale, analytics.provider)),
                "key" => (td_string!(locale, analytics.by_key), td_string!(locale, analytics.key)),
                _ => (td_string!(locale, analytics.by_tier), td_string!(locale, analytics.tier)),
            };
            view! {
                <h2>{heading}</h2>
                {if rows.is_empty() {
                    view! { <p class="empty">{t!(i18n, analytics.no_requests)}</p> }.into_any()
                } else {
                    view! {
                        <table class="list">
                            <thead><tr><th>{column}</th><th>{t!(i18n, analytics.requests)}</th><th>{t!(i18n, analytics.tokens)}</th><th>{t!(i18n, analytics.cost)}</th><th>{t!(i18n, analytics.col_saved)}</th><th>{t!(i18n, analytics.col_saved_percent)}</th></tr></thead>
                            <tbody>
                                {rows.into_iter().map(|row| view! {
                                    <tr><td>{row.name}</td><td>{row.requests}</td><td>{row.tokens}</td><td>{crate::format::money_view(row.cost_usd)}</td><td>{crate::format::money_view(row.saving_usd)}</td><td>{crate::format::saved_percent_view(row.saving_usd, row.saving_base_usd)}</td></tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }}
            }
        }).collect_view()}
        <p class="muted">{t!(i18n, analytics.footer, plan, days = retention_days)}</p>
    }
}

/// Measured quality: the adequate share of judged answers with its 95 % interval, overall and
/// per tier, key and day; or how to switch the checks on.
fn quality_section(quality: QualityView) -> impl IntoView {
    let i18n = use_i18n();
    let percent = |row: &QualityRow| match row.rate {
        Some((rate, low, high)) => format!("{rate:.1} % ({low:.1}–{high:.1} %)"),
        None => "–".to_owned(),
    };
    let table = move |heading: AnyView, rows: Vec<QualityRow>| {
        (!rows.is_empty()).then(|| view! {
            <table class="list compact">
                <caption>{heading}</caption>
                <thead><tr><th></th><th class="num">{t!(i18n, analytics.quality_judged)}</th><th class="num">{t!(i18n, analytics.quality_adequate)}</th><th class="num">{t!(i18n, analytics.quality_no_verdict)}</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|row| view! {
                        <tr><td>{row.name.clone()}</td><td class="num">{row.judged}</td><td class="num">{percent(&row)}</td><td class="num">{row.no_verdict}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        })
    };
    let overall = quality.overall.clone();
    view! {
        <section class="quality" data-testid="quality">
            <h2>{t!(i18n, analytics.quality_title)}</h2>
            {if overall.judged + overall.no_verdict == 0 {
                if quality.enabled {
                    view! { <p class="empty">{t!(i18n, analytics.quality_none_yet)}</p> }.into_any()
                } else {
                    view! { <p class="muted">{t!(i18n, analytics.quality_off)} " " <code>"quality_checks"</code></p> }.into_any()
                }
            } else {
                view! {
                    <p data-testid="quality-overall">
                        {t!(i18n, analytics.quality_overall, share = percent(&overall), judged = overall.judged, no_verdict = overall.no_verdict, cost = crate::format::money(overall.eval_cost_usd, i18n.get_locale()))}
                    </p>
                    {table(t!(i18n, analytics.by_tier).into_any(), quality.by_tier)}
                    {table(t!(i18n, analytics.by_key).into_any(), quality.by_key)}
                    {table(t!(i18n, analytics.quality_by_day).into_any(), quality.by_day)}
                }.into_any()
            }}
        </section>
    }
}
