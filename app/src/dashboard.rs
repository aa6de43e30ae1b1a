//! The dashboard: what the gateway did for this account this month.

use leptos::prelude::*;
use leptos_router::components::A;
use serde::{Deserialize, Serialize};

use crate::error::{PortalError, error_view};
use crate::i18n::{t, t_string, td_string, use_i18n};
use crate::layout::PortalPage;
use crate::snippets::Snippets;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardSummary {
    pub email: String,
    pub plan: String,
    pub requests_this_month: u64,
    /// The plan's monthly requests ("10,000"); `None` is unlimited.
    pub quota: Option<String>,
    pub cost_this_month: f64,
    pub saving_this_month: f64,
    /// The month's savings, in the terms a customer can check.
    pub claim: crate::savings::SavingsClaim,
    pub active_keys: usize,
    pub providers: usize,
    /// The account's address is confirmed (keys can be created).
    pub email_confirmed: bool,
    /// Requests ever recorded for the account (the checklist's last step).
    pub any_request: bool,
    /// This server's address, for the first request's snippets.
    pub root: String,
    /// The last seven days (UTC), newest first.
    pub savings_by_day: Vec<SavingsDay>,
    /// This month, per gateway key, most requests first.
    pub savings_by_key: Vec<SavingsKey>,
}

/// One day of what routing saved against the account's baseline model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavingsDay {
    /// `2026-11-26` (UTC).
    pub day: String,
    pub requests: i64,
    pub cost_usd: f64,
    /// What the same requests would have cost without the gateway's choices (cost + saving).
    pub baseline_cost_usd: f64,
    pub saving_usd: f64,
}

/// One gateway key's requests this month and what routing saved on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavingsKey {
    pub name: String,
    pub requests: i64,
    pub cost_usd: f64,
    pub saving_usd: f64,
}

#[server(prefix = "/api", endpoint = "dashboard_stats")]
pub async fn dashboard_stats() -> Result<DashboardSummary, PortalError> {
    use crate::server::state;
    use gateway::accounts;
    use gateway::analytics::DAY_MS;

    let actor = crate::server::require(gateway::accounts::members::Action::ReadAnalytics).await?;
    let account_id = actor.account_id;
    let state = state()?;
    let Some(account) = accounts::account_by_id(&state.db, account_id).await? else {
        return Err(PortalError::NotLoggedIn);
    };
    let (month_start, _) = gateway::plans::month_bounds_utc(gateway::clock::now_ms());
    let requests_this_month = accounts::count_requests(&state.db, account_id, month_start).await?;
    let keys = accounts::list_gateway_keys(&state.db, account_id).await?;
    let providers = accounts::list_providers(&state.db, account_id).await?;
    let plan = gateway::plans::Plan::stored(&account.plan);
    let now = gateway::clock::now_ms();
    let key_names = keys
        .iter()
        .map(|key| (key.id, format!("{} ({}…)", key.name, key.prefix)))
        .collect();
    let month = gateway::analytics::report(
        &state.db,
        account_id,
        month_start,
        now + 1,
        31 * DAY_MS,
        &key_names,
    )
    .await?;
    // Today and the six days before it, in whole UTC days.
    let week_start = now.div_euclid(DAY_MS) * DAY_MS - 6 * DAY_MS;
    let week = gateway::analytics::report(
        &state.db,
        account_id,
        week_start,
        now + 1,
        DAY_MS,
        &Default::default(),
    )
    .await?;
    let baseline = crate::server::baseline_of(&state, account_id, None).await?;
    let savings_by_day = week
        .series
        .iter()
        .rev()
        .map(|point| SavingsDay {
            day: gateway_types::time::format_utc(point.at)[..10].to_owned(),
            requests: point.totals.requests,
            cost_usd: point.totals.cost_usd,
            baseline_cost_usd: point.totals.cost_usd + point.totals.saving_usd,
            saving_usd: point.totals.saving_usd,
        })
        .collect();
    let savings_by_key = month
        .by_key
        .iter()
        .map(|slice| SavingsKey {
            name: slice.name.clone(),
            requests: slice.totals.requests,
            cost_usd: slice.totals.cost_usd,
            saving_usd: slice.totals.saving_usd,
        })
        .collect();
    Ok(DashboardSummary {
        // Who is signed in: a member sees their own address, not the owner's.
        email: actor.email,
        plan: plan.display_name().to_owned(),
        requests_this_month,
        quota: state.settings.plans.limits(plan).requests_per_month.shown(),
        cost_this_month: month.totals.cost_usd,
        saving_this_month: month.totals.saving_usd,
        claim: crate::savings::SavingsClaim::of(&month.totals, baseline),
        active_keys: keys.iter().filter(|key| key.revoked_at.is_none()).count(),
        providers: providers.len(),
        email_confirmed: account.email_verified_at.is_some(),
        any_request: requests_this_month > 0 || keys.iter().any(|key| key.last_used_at.is_some()),
        root: state.settings.link_base.clone(),
        savings_by_day,
        savings_by_key,
    })
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    // New requests show without a reload.
    let tick = crate::live::ticks(REFRESH);
    let stats = Resource::new(move || tick.get(), |_| dashboard_stats());
    let i18n = use_i18n();
    view! {
        <PortalPage title=move || t_string!(i18n, dashboard_title)>
            <Transition fallback=move || view! { <p>{t!(i18n, loading)}</p> }>
                {move || Suspend::new(async move {
                    match stats.await {
                        Ok(stats) => view! {
                            <p class="muted">{t!(i18n, misc.email_plan, email = stats.email.clone(), plan = stats.plan.clone())}</p>
                            {first_run(&stats)}
                            <div class="cards">
                                <div class="card">
                                    <span class="label">{t!(i18n, requests_this_month)}</span>
                                    <span class="value" data-testid="request-count">{crate::format::count_view(stats.requests_this_month as f64)}</span>
                                    <span class="label">{t!(i18n, of_quota, quota = { let quota = stats.quota.clone(); move || crate::billing::limit_text(quota.clone()) }, plan = stats.plan.clone())}</span>
                                </div>
                                <div class="card">
                                    <span class="label">{t!(i18n, cost_this_month)}</span>
                                    <span class="value">{crate::format::money_view(stats.cost_this_month)}</span>
                                </div>
                                <div class="card">
                                    <span class="label">{t!(i18n, saved_this_month)}</span>
                                    <span class="value" data-testid="saving">{crate::format::money_view(stats.saving_this_month)}</span>
                                    {crate::savings::claim_text(&stats.claim)}
                                    <A href="/analytics">{t!(i18n, nav_analytics)}</A>
                                </div>
                                <div class="card">
                                    <span class="label">{t!(i18n, active_keys)}</span>
                                    <span class="value">{stats.active_keys}</span>
                                </div>
                                <div class="card">
                                    <span class="label">{t!(i18n, providers_title)}</span>
                                    <span class="value">{stats.providers}</span>
                                </div>
                            </div>
                            {savings_tables(stats.savings_by_day, stats.savings_by_key)}
                        }
                        .into_any(),
                        Err(err) => error_view(err),
                    }
                })}
            </Transition>
        </PortalPage>
    }
}

/// How often the open dashboard asks for new numbers.
const REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// The first-run checklist (confirm the address, add a provider, create a key, send a request),
/// ticked from the account's state, with the snippets for the first request; gone once done.
fn first_run(stats: &DashboardSummary) -> Option<AnyView> {
    let i18n = use_i18n();
    let steps = [
        (stats.email_confirmed, "confirm", None),
        (stats.providers > 0, "provider", Some("/providers")),
        (stats.active_keys > 0, "key", Some("/keys")),
        (stats.any_request, "request", None),
    ];
    if steps.iter().all(|(done, _, _)| *done) {
        return None;
    }
    let label = move |step: &str| match step {
        "confirm" => t!(i18n, misc.step_confirm).into_any(),
        "provider" => t!(i18n, misc.step_provider).into_any(),
        "key" => t!(i18n, misc.step_key).into_any(),
        _ => t!(i18n, misc.step_request).into_any(),
    };
    let root = stats.root.clone();
    Some(
        view! {
            <section class="checklist" data-testid="first-run">
                <h2>{t!(i18n, misc.first_run_title)}</h2>
                <ol>
                    {steps
                        .into_iter()
                        .map(|(done, step, link)| view! {
                            <li class:done=done data-testid=format!("step-{step}") data-done=done.to_string()>
                                <span class="tick" aria-hidden="true">{if done { "✓" } else { "○" }}</span>
                                {match link {
                                    Some(href) if !done => view! { <A href=href>{label(step)}</A> }.into_any(),
                                    _ => label(step),
                                }}
                            </li>
                        })
                        .collect_view()}
                </ol>
                <Snippets root/>
            </section>
        }
        .into_any(),
    )
}

/// What routing saved against the baseline model: per day over the last week, per key this month.
fn savings_tables(by_day: Vec<SavingsDay>, by_key: Vec<SavingsKey>) -> impl IntoView {
    let i18n = use_i18n();
    let week_requests: i64 = by_day.iter().map(|day| day.requests).sum();
    view! {
        <section class="savings" data-testid="savings-by-day">
            <h2>{t!(i18n, saved_last_7_days)}</h2>
            {if week_requests == 0 {
                view! { <p class="empty">{t!(i18n, no_requests_7_days)}</p> }.into_any()
            } else {
                // The week as a chart, oldest day first, redrawn in the reader's language.
                let days: Vec<(String, f64, f64)> = by_day
                    .iter()
                    .rev()
                    .map(|day| (day.day[5..].to_owned(), day.requests as f64, day.saving_usd))
                    .collect();
                let week_chart = move || {
                    let locale = i18n.get_locale();
                    crate::analytics::page::chart(
                        "week",
                        td_string!(locale, analytics.requests),
                        days.iter().map(|(label, _, _)| label.clone()).collect(),
                        vec![(
                            td_string!(locale, analytics.series_requests),
                            "#4a7bd0",
                            days.iter().map(|(_, requests, _)| *requests).collect(),
                        )],
                        |value| format!("{value:.0}"),
                    )
                };
                view! {
                    {week_chart}
                    <table class="list compact">
                        <thead><tr><th>{t!(i18n, col_day)}</th><th class="num">{t!(i18n, col_requests)}</th><th class="num">{t!(i18n, col_cost)}</th><th class="num">{t!(i18n, col_baseline_cost)}</th><th class="num">{t!(i18n, col_saved)}</th></tr></thead>
                        <tbody>
                            {by_day.into_iter().map(|day| view! {
                                <tr data-testid="savings-day" data-day=day.day.clone()>
                                    <td data-testid="day">{day.day.clone()}</td>
                                    <td class="num" data-testid="day-requests">{crate::format::count_view(day.requests as f64)}</td>
                                    <td class="num" data-testid="day-cost" data-usd=day.cost_usd.to_string()>{crate::format::money_view(day.cost_usd)}</td>
                                    <td class="num" data-testid="day-baseline-cost" data-usd=day.baseline_cost_usd.to_string()>{crate::format::money_view(day.baseline_cost_usd)}</td>
                                    <td class="num" data-testid="day-saved" data-usd=day.saving_usd.to_string()>{crate::format::money_view(day.saving_usd)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
        <section class="savings" data-testid="savings-by-key">
            <h2>{t!(i18n, saved_per_key)}</h2>
            {if by_key.is_empty() {
                view! { <p class="empty">{t!(i18n, no_requests_month)}</p> }.into_any()
            } else {
                view! {
                    <table class="list compact">
                        <thead><tr><th>{t!(i18n, col_key)}</th><th class="num">{t!(i18n, col_requests)}</th><th class="num">{t!(i18n, col_cost)}</th><th class="num">{t!(i18n, col_saved)}</th></tr></thead>
                        <tbody>
                            {by_key.into_iter().map(|key| view! {
                                <tr data-testid="savings-key">
                                    <td data-testid="key-name">{key.name}</td>
                                    <td class="num" data-testid="key-requests">{crate::format::count_view(key.requests as f64)}</td>
                                    <td class="num" data-testid="key-cost" data-usd=key.cost_usd.to_string()>{crate::format::money_view(key.cost_usd)}</td>
                                    <td class="num" data-testid="key-saved" data-usd=key.saving_usd.to_string()>{crate::format::money_view(key.saving_usd)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}
