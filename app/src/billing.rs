//! The plan: what it allows, this month's use, upgrades through Stripe Checkout and the Billing
//! Portal. Without Stripe configured (self-hosting) payment is hidden and plans are set with
//! `llm-gateway user set-plan`.

use leptos::prelude::*;
use leptos_router::components::A;
use serde::{Deserialize, Serialize};

use crate::error::{PortalError, action_error, error_view};
use crate::i18n::{t, t_string, use_i18n};
use crate::layout::PortalPage;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRow {
    pub id: String,
    pub name: String,
    /// Limits with thousands grouped; `None` is unlimited (for providers: all of them).
    pub requests: Option<String>,
    pub keys: Option<String>,
    pub providers: Option<String>,
    pub retention_days: u32,
    pub streaming: bool,
    pub cache: bool,
    /// What the plan costs, as its Stripe price says (Free: nothing); `None` when payment is not
    /// set up or Stripe did not tell.
    pub price: Option<PriceTag>,
}

/// A price as Stripe keeps it, shown in the reader's language by `crate::format::price`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceTag {
    /// In the currency's minor unit (cents).
    pub unit_amount: i64,
    /// ISO 4217, lowercase.
    pub currency: String,
    /// `month`, `year`, …; `None` for a one-off price.
    pub interval: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingView {
    pub plan: String,
    pub plan_name: String,
    pub billing_enabled: bool,
    pub has_customer: bool,
    pub status: Option<String>,
    /// "2026-12-01 00:00 UTC" when the plan ends at the period's end.
    pub ends_at: Option<String>,
    pub requests_this_month: u64,
    pub quota: Option<String>,
    pub plans: Vec<PlanRow>,
}

#[server(prefix = "/api", endpoint = "billing_overview")]
pub async fn billing_overview() -> Result<BillingView, PortalError> {
    use crate::server::state;
    use gateway::plans::{Plan, format_utc, month_bounds_utc};

    let account_id = crate::server::require(gateway::accounts::members::Action::Billing)
        .await?
        .account_id;
    let state = state()?;
    let Some(account) = gateway::accounts::account_by_id(&state.db, account_id).await? else {
        return Err(PortalError::NotLoggedIn);
    };
    let plan = Plan::stored(&account.plan);
    let (month_start, _) = month_bounds_utc(gateway::clock::now_ms());
    let requests_this_month =
        gateway::accounts::count_requests(&state.db, account_id, month_start).await?;
    let table = &state.settings.plans;
    let prices = match &state.billing {
        Some(billing) => billing.plan_prices().await,
        None => Vec::new(),
    };
    let price_of = |plan: Plan| -> Option<PriceTag> {
        if state.billing.is_none() {
            return None;
        }
        if plan == Plan::Free {
            return Some(PriceTag {
                unit_amount: 0,
                currency: "usd".into(),
                interval: None,
            });
        }
        prices
            .iter()
            .find(|price| price.plan == plan)
            .map(|price| PriceTag {
                unit_amount: price.unit_amount,
                currency: price.currency.clone(),
                interval: price.interval.clone(),
            })
    };
    let plans = Plan::ALL
        .iter()
        .map(|&plan| {
            let limits = table.limits(plan);
            PlanRow {
                id: plan.id().into(),
                name: plan.display_name().into(),
                requests: limits.requests_per_month.shown(),
                keys: limits.gateway_keys.shown(),
                providers: limits.providers.shown(),
                retention_days: limits.retention_days,
                streaming: limits.streaming,
                cache: limits.response_cache,
                price: price_of(plan),
            }
        })
        .collect();
    Ok(BillingView {
        plan: plan.id().into(),
        plan_name: plan.display_name().into(),
        billing_enabled: state.billing.is_some(),
        has_customer: account.stripe_customer_id.is_some(),
        status: account.billing_status,
        ends_at: account
            .cancel_at_period_end
            .then_some(account.current_period_end)
            .flatten()
            .map(format_utc),
        requests_this_month,
        quota: table.limits(plan).requests_per_month.shown(),
        plans,
    })
}

#[cfg(feature = "ssr")]
mod ssr {
    use crate::error::{PortalError, Problem};

    /// Where the portal is reached: the configured public URL, else this request's host.
    pub async fn public_url(state: &gateway::state::GatewayState) -> String {
        if let Some(url) = &state.settings.public_url {
            return url.clone();
        }
        let headers: Result<axum::http::HeaderMap, _> = leptos_axum::extract().await;
        let host = headers.ok().and_then(|h| {
            h.get("host")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
        format!("http://{}", host.unwrap_or_else(|| "127.0.0.1:3000".into()))
    }

    pub fn billing_failed(err: gateway::billing::BillingError) -> PortalError {
        use gateway::billing::BillingError::*;
        match err {
            NotForSale(plan) => PortalError::Refused(Problem::NotForSale { plan: plan.into() }),
            NoCustomer => PortalError::Refused(Problem::NoCustomer),
            Stripe(_) | Database(_) => {
                tracing::error!(error = %err, "billing call failed");
                PortalError::Refused(Problem::PaymentUnavailable)
            }
        }
    }
}

/// Starts Stripe Checkout for `plan` and sends the browser there.
#[server(prefix = "/api", endpoint = "start_checkout")]
pub async fn start_checkout(plan: String) -> Result<(), PortalError> {
    use crate::server::state;
    use gateway::plans::Plan;

    let account_id = crate::server::require(gateway::accounts::members::Action::Billing)
        .await?
        .account_id;
    let state = state()?;
    let Some(billing) = state.billing.clone() else {
        return Err(PortalError::Refused(crate::error::Problem::BillingDisabled));
    };
    let Some(plan) = Plan::parse(&plan).filter(|plan| *plan != Plan::Free) else {
        return Err(PortalError::Refused(crate::error::Problem::ChoosePaidPlan));
    };
    let Some(account) = gateway::accounts::account_by_id(&state.db, account_id).await? else {
        return Err(PortalError::NotLoggedIn);
    };
    if account.plan == plan.id() {
        return Err(PortalError::Refused(crate::error::Problem::AlreadyOnPlan {
            plan: plan.display_name().into(),
        }));
    }
    // A paying customer changes plans in the Billing Portal, not with a second subscription.
    let url = if account.stripe_subscription_id.is_some() {
        let return_url = format!("{}/billing", ssr::public_url(&state).await);
        billing.portal_url(&account, &return_url).await
    } else {
        billing
            .checkout_url(&state.db, &account, plan, &ssr::public_url(&state).await)
            .await
    }
    .map_err(ssr::billing_failed)?;
    leptos_axum::redirect(&url);
    Ok(())
}

/// Opens the Stripe Billing Portal (change card, switch plan, cancel).
#[server(prefix = "/api", endpoint = "manage_billing")]
pub async fn manage_billing() -> Result<(), PortalError> {
    use crate::server::state;

    let account_id = crate::server::require(gateway::accounts::members::Action::Billing)
        .await?
        .account_id;
    let state = state()?;
    let Some(billing) = state.billing.clone() else {
        return Err(PortalError::Refused(crate::error::Problem::BillingDisabled));
    };
    let Some(account) = gateway::accounts::account_by_id(&state.db, account_id).await? else {
        return Err(PortalError::NotLoggedIn);
    };
    let return_url = format!("{}/billing", ssr::public_url(&state).await);
    let url = billing
        .portal_url(&account, &return_url)
        .await
        .map_err(ssr::billing_failed)?;
    leptos_axum::redirect(&url);
    Ok(())
}

#[component]
pub fn BillingPage() -> impl IntoView {
    let checkout = ServerAction::<StartCheckout>::new();
    let manage = ServerAction::<ManageBilling>::new();
    let overview = Resource::new(|| (), |_| billing_overview());
    let i18n = use_i18n();
    view! {
        <PortalPage title=move || t_string!(i18n, billing.title)>
            {action_error(checkout.value())}
            {action_error(manage.value())}
            <Transition fallback=move || view! { <p>{t!(i18n, loading)}</p> }>
                {move || Suspend::new(async move {
                    match overview.await {
                        Ok(view) => billing_view(view, checkout, manage).into_any(),
                        Err(err) => error_view(err),
                    }
                })}
            </Transition>
        </PortalPage>
    }
}

/// A plan's limit, or "unlimited" in the reader's language.
pub fn limit_text(limit: Option<String>) -> AnyView {
    match limit {
        Some(limit) => limit.into_any(),
        None => t!(use_i18n(), billing.unlimited).into_any(),
    }
}

fn yes_no(value: bool) -> AnyView {
    let i18n = use_i18n();
    if value {
        t!(i18n, billing.yes).into_any()
    } else {
        t!(i18n, billing.no).into_any()
    }
}

fn billing_view(
    view: BillingView,
    checkout: ServerAction<StartCheckout>,
    manage: ServerAction<ManageBilling>,
) -> impl IntoView {
    let BillingView {
        plan,
        plan_name,
        billing_enabled,
        has_customer,
        status,
        ends_at,
        requests_this_month,
        quota,
        plans,
    } = view;
    let i18n = use_i18n();
    view! {
        <div class="cards">
            <div class="card"><span class="label">{t!(i18n, billing.plan)}</span><span class="value" data-testid="current-plan">{plan_name}</span></div>
            <div class="card">
                <span class="label">{t!(i18n, requests_this_month)}</span>
                <span class="value">{crate::format::count_view(requests_this_month as f64)}</span>
                <span class="label">{t!(i18n, billing.of_quota, quota = move || limit_text(quota.clone()))}</span>
            </div>
        </div>
        {status.filter(|s| s != "active").map(|status| view! { <p class="form-error" role="alert">{billing_status_message(status)}</p> })}
        {ends_at.map(|at| view! { <p class="notice">{t!(i18n, billing.ends, at)}</p> })}
        <table class="list plans">
            <thead>
                <tr><th></th>{billing_enabled.then(|| view! { <th>{t!(i18n, billing.col_price)}</th> })}<th>{t!(i18n, billing.col_requests)}</th><th>{t!(i18n, billing.col_keys)}</th><th>{t!(i18n, billing.col_providers)}</th><th>{t!(i18n, billing.col_analytics)}</th><th>{t!(i18n, billing.col_streaming)}</th><th>{t!(i18n, billing.col_cache)}</th><th></th></tr>
            </thead>
            <tbody>
                {plans.into_iter().map(|row| {
                    let current = row.id == plan;
                    let buyable = billing_enabled && !current && row.id != "free";
                    let name = row.name.clone();
                    let days = row.retention_days;
                    view! {
                        <tr class:current=current>
                            <th>{row.name.clone()}</th>
                            {billing_enabled.then(|| {
                                let price = row.price.clone();
                                view! { <td data-testid="plan-price">{move || match &price {
                                    Some(price) => crate::format::price(price.unit_amount, &price.currency, price.interval.as_deref(), i18n.get_locale()),
                                    None => "—".to_owned(),
                                }}</td> }
                            })}
                            <td>{limit_text(row.requests)}</td>
                            <td>{limit_text(row.keys)}</td>
                            <td>{match row.providers {
                                Some(count) => count.into_any(),
                                None => t!(i18n, billing.all).into_any(),
                            }}</td>
                            <td>{t!(i18n, billing.days, days)}</td>
                            <td>{yes_no(row.streaming)}</td>
                            <td>{yes_no(row.cache)}</td>
                            <td>
                                {current.then(|| view! { <span class="badge">{t!(i18n, billing.current)}</span> })}
                                {buyable.then(|| view! {
                                    <ActionForm action=checkout>
                                        <input type="hidden" name="plan" value=row.id.clone()/>
                                        <button type="submit">{t!(i18n, billing.upgrade_to, plan = name.clone())}</button>
                                    </ActionForm>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        {if !billing_enabled {
            view! { <p class="muted">{t!(i18n, billing.no_payment)} <code>"llm-gateway user set-plan"</code> "."</p> }.into_any()
        } else if has_customer {
            view! {
                <ActionForm action=manage>
                    <button type="submit">{t!(i18n, billing.manage)}</button>
                </ActionForm>
                <p class="muted">{t!(i18n, billing.manage_hint)}</p>
            }
            .into_any()
        } else {
            ().into_any()
        }}
    }
}

/// Where Stripe Checkout sends the person back after paying.
#[component]
pub fn BillingSuccessPage() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <PortalPage title=move || t_string!(i18n, billing.thanks_title)>
            <p role="status">{t!(i18n, billing.thanks)}</p>
            <p><A href="/billing">{t!(i18n, billing.see_plan)}</A></p>
        </PortalPage>
    }
}

#[component]
pub fn BillingCancelPage() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <PortalPage title=move || t_string!(i18n, billing.cancelled_title)>
            <p>{t!(i18n, billing.cancelled)}</p>
            <p><A href="/billing">{t!(i18n, billing.back_to_plans)}</A></p>
        </PortalPage>
    }
}

/// What a subscription's status means for the person paying.
fn billing_status_message(status: String) -> AnyView {
    let i18n = use_i18n();
    match status.as_str() {
        "past_due" | "payment_failed" => t!(i18n, billing.past_due).into_any(),
        "unpaid" | "canceled" | "incomplete_expired" => t!(i18n, billing.ended).into_any(),
        _ => t!(i18n, billing.status, status).into_any(),
    }
}
