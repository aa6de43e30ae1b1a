//! The analytics page: SVG charts drawn on the server (readable without JavaScript), the
//! breakdowns, the savings claim and the quality checks of the range.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::report::{AnalyticsView, Bucket, QualityRow, QualityView, analytics_report};
use crate::error::error_view;
use crate::format::count_view;
use crate::i18n::{Locale, t, t_string, td_string, use_i18n};
use crate::layout::PortalPage;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 160.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 20.0;

/// A chart of one or more series over the buckets: the first series as bars, the others as
/// lines. Server-rendered SVG with a `<title>` per point, so it reads without JavaScript.
pub(crate) fn chart(
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
    // New requests show without a reload (the roll-ups it reads are written with each batch of
    // usage events, within a second or two).
    let tick = crate::live::ticks(std::time::Duration::from_secs(10));
    let report = Resource::new(
        move || (range(), tick.get()),
        |(range, _)| analytics_report(range),
    );
    let i18n = use_i18n();
    view! {
        <PortalPage title=move || t_string!(i18n, nav_analytics)>
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
                let label = crate::format::range_label(locale, &value);
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
            <div class="card"><span class="label">{t!(i18n, analytics.requests)}</span><span class="value" data-testid="total-requests">{count_view(totals.requests as f64)}</span></div>
            <div class="card"><span class="label">{t!(i18n, analytics.tokens)}</span><span class="value">{count_view(totals.tokens as f64)}</span></div>
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
                                    <tr><td>{if by == "tier" { crate::routing::tier_name(row.name).into_any() } else { row.name.into_any() }}</td><td>{count_view(row.requests as f64)}</td><td>{count_view(row.tokens as f64)}</td><td>{crate::format::money_view(row.cost_usd)}</td><td>{crate::format::money_view(row.saving_usd)}</td><td>{crate::format::saved_percent_view(row.saving_usd, row.saving_base_usd)}</td></tr>
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
                        <tr><td>{row.name.clone()}</td><td class="num">{count_view(row.judged as f64)}</td><td class="num">{percent(&row)}</td><td class="num">{count_view(row.no_verdict as f64)}</td></tr>
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
