//! The dashboard: what the gateway did for this account this month.

use leptos::prelude::*;
use leptos_router::components::A;
use serde::{Deserialize, Serialize};

use crate::error::PortalError;
use crate::layout::{PortalPage, error_view};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardSummary {
    pub email: String,
    pub plan: String,
    pub requests_this_month: u64,
    /// The plan's monthly requests, "10,000" or "unlimited".
    pub quota: String,
    pub cost_this_month: f64,
    pub saving_this_month: f64,
    pub active_keys: usize,
    pub providers: usize,
}

#[server(prefix = "/api", endpoint = "dashboard_stats")]
pub async fn dashboard_stats() -> Result<DashboardSummary, PortalError> {
    use crate::server::{require_account, state};
    use gateway::accounts;

    let account_id = require_account().await?;
    let state = state()?;
    let Some(account) = accounts::account_by_id(&state.db, account_id).await? else {
        return Err(PortalError::NotLoggedIn);
    };
    let (month_start, _) = gateway::plans::month_bounds_utc(gateway::clock::now_ms());
    let requests_this_month = accounts::count_requests(&state.db, account_id, month_start).await?;
    let keys = accounts::list_gateway_keys(&state.db, account_id).await?;
    let providers = accounts::list_providers(&state.db, account_id).await?;
    let plan = gateway::plans::Plan::parse(&account.plan).unwrap_or(gateway::plans::Plan::Free);
    let now = gateway::clock::now_ms();
    let month = gateway::analytics::report(
        &state.db,
        account_id,
        month_start,
        now + 1,
        31 * gateway::analytics::DAY_MS,
        &Default::default(),
    )
    .await?;
    Ok(DashboardSummary {
        email: account.email,
        plan: plan.display_name().to_owned(),
        requests_this_month,
        quota: state
            .settings
            .plans
            .limits(plan)
            .requests_per_month
            .describe(),
        cost_this_month: month.totals.cost_usd,
        saving_this_month: month.totals.saving_usd,
        active_keys: keys.iter().filter(|key| key.revoked_at.is_none()).count(),
        providers: providers.len(),
    })
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    let stats = Resource::new(|| (), |_| dashboard_stats());
    view! {
        <PortalPage title="Dashboard">
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match stats.await {
                        Ok(stats) => view! {
                            <p class="muted">{format!("{} · {} plan", stats.email, stats.plan)}</p>
                            <div class="cards">
                                <div class="card">
                                    <span class="label">"Requests this month"</span>
                                    <span class="value" data-testid="request-count">{stats.requests_this_month}</span>
                                    <span class="label">{format!("of {} on the {} plan", stats.quota, stats.plan)}</span>
                                </div>
                                <div class="card">
                                    <span class="label">"Cost this month"</span>
                                    <span class="value">{crate::analytics::money(stats.cost_this_month)}</span>
                                </div>
                                <div class="card">
                                    <span class="label">"Saved this month"</span>
                                    <span class="value" data-testid="saving">{crate::analytics::money(stats.saving_this_month)}</span>
                                    <A href="/analytics">"Analytics"</A>
                                </div>
                                <div class="card">
                                    <span class="label">"Active gateway keys"</span>
                                    <span class="value">{stats.active_keys}</span>
                                </div>
                                <div class="card">
                                    <span class="label">"Providers"</span>
                                    <span class="value">{stats.providers}</span>
                                </div>
                            </div>
                            {(stats.providers == 0 || stats.active_keys == 0).then(|| view! {
                                <p class="hint">
                                    "To send a first request, "
                                    <A href="/providers">"add a provider key"</A>
                                    " and "
                                    <A href="/keys">"create a gateway key"</A>
                                    ", then point the OpenAI SDK's base_url at this server's /v1."
                                </p>
                            })}
                        }
                        .into_any(),
                        Err(err) => error_view(err),
                    }
                })}
            </Transition>
        </PortalPage>
    }
}
