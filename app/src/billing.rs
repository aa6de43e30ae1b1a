//! The plan: what it allows, this month's use, upgrades through Stripe Checkout and the Billing
//! Portal. Without Stripe configured (self-hosting) payment is hidden and plans are set with
//! `llm-gateway user set-plan`.

use leptos::prelude::*;
use leptos_router::components::A;
use serde::{Deserialize, Serialize};

use crate::error::{PortalError, action_error, error_view};
use crate::layout::PortalPage;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRow {
    pub id: String,
    pub name: String,
    pub requests: String,
    pub keys: String,
    pub providers: String,
    pub retention_days: u32,
    pub streaming: bool,
    pub cache: bool,
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
    pub quota: String,
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
    let plan = Plan::parse(&account.plan).unwrap_or(Plan::Free);
    let (month_start, _) = month_bounds_utc(gateway::clock::now_ms());
    let requests_this_month =
        gateway::accounts::count_requests(&state.db, account_id, month_start).await?;
    let table = &state.settings.plans;
    let plans = Plan::ALL
        .iter()
        .map(|&plan| {
            let limits = table.limits(plan);
            PlanRow {
                id: plan.id().into(),
                name: plan.display_name().into(),
                requests: limits.requests_per_month.describe(),
                keys: limits.gateway_keys.describe(),
                providers: if limits.providers.0.is_none() {
                    "all".into()
                } else {
                    limits.providers.describe()
                },
                retention_days: limits.retention_days,
                streaming: limits.streaming,
                cache: limits.response_cache,
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
        quota: table.limits(plan).requests_per_month.describe(),
        plans,
    })
}

#[cfg(feature = "ssr")]
mod ssr {
    use crate::error::PortalError;

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
            NotForSale(_) | NoCustomer => PortalError::Invalid(err.to_string()),
            Stripe(_) | Database(_) => {
                tracing::error!(error = %err, "billing call failed");
                PortalError::Invalid(
                    "Payment is unavailable right now. Please try again in a minute.".into(),
                )
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
        return Err(PortalError::Invalid(
            "Billing is not enabled on this server.".into(),
        ));
    };
    let Some(plan) = Plan::parse(&plan).filter(|plan| *plan != Plan::Free) else {
        return Err(PortalError::Invalid("Choose Pro or Enterprise.".into()));
    };
    let Some(account) = gateway::accounts::account_by_id(&state.db, account_id).await? else {
        return Err(PortalError::NotLoggedIn);
    };
    if account.plan == plan.id() {
        return Err(PortalError::Invalid(format!(
            "This account is already on {}.",
            plan.display_name()
        )));
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
        return Err(PortalError::Invalid(
            "Billing is not enabled on this server.".into(),
        ));
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
    view! {
        <PortalPage title="Plan and billing">
            {action_error(checkout.value())}
            {action_error(manage.value())}
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
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

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
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
    view! {
        <div class="cards">
            <div class="card"><span class="label">"Plan"</span><span class="value" data-testid="current-plan">{plan_name}</span></div>
            <div class="card">
                <span class="label">"Requests this month"</span>
                <span class="value">{requests_this_month}</span>
                <span class="label">{format!("of {quota}")}</span>
            </div>
        </div>
        {status.filter(|s| s != "active").map(|status| view! { <p class="form-error" role="alert">{billing_status_message(&status)}</p> })}
        {ends_at.map(|at| view! { <p class="notice">{format!("Cancelled: the plan ends on {at}, then the account moves to Free.")}</p> })}
        <table class="list plans">
            <thead>
                <tr><th></th><th>"Requests / month"</th><th>"Gateway keys"</th><th>"Providers"</th><th>"Analytics"</th><th>"Streaming"</th><th>"Cache"</th><th></th></tr>
            </thead>
            <tbody>
                {plans.into_iter().map(|row| {
                    let current = row.id == plan;
                    let buyable = billing_enabled && !current && row.id != "free";
                    view! {
                        <tr class:current=current>
                            <th>{row.name.clone()}</th>
                            <td>{row.requests}</td>
                            <td>{row.keys}</td>
                            <td>{row.providers}</td>
                            <td>{format!("{} days", row.retention_days)}</td>
                            <td>{yes_no(row.streaming)}</td>
                            <td>{yes_no(row.cache)}</td>
                            <td>
                                {current.then(|| view! { <span class="badge">"current"</span> })}
                                {buyable.then(|| view! {
                                    <ActionForm action=checkout>
                                        <input type="hidden" name="plan" value=row.id.clone()/>
                                        <button type="submit">{format!("Upgrade to {}", row.name)}</button>
                                    </ActionForm>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        {if !billing_enabled {
            view! { <p class="muted">"Payment is not set up on this server: an administrator sets plans with " <code>"llm-gateway user set-plan"</code> "."</p> }.into_any()
        } else if has_customer {
            view! {
                <ActionForm action=manage>
                    <button type="submit">"Manage billing"</button>
                </ActionForm>
                <p class="muted">"Change your card, switch plans or cancel in Stripe's billing portal."</p>
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
    view! {
        <PortalPage title="Thank you">
            <p role="status">"Your payment went through. The new plan applies as soon as Stripe confirms it, usually within seconds."</p>
            <p><A href="/billing">"See your plan"</A></p>
        </PortalPage>
    }
}

#[component]
pub fn BillingCancelPage() -> impl IntoView {
    view! {
        <PortalPage title="Checkout cancelled">
            <p>"Nothing was charged and your plan is unchanged."</p>
            <p><A href="/billing">"Back to plans"</A></p>
        </PortalPage>
    }
}

/// What a subscription's status means for the person paying.
fn billing_status_message(status: &str) -> String {
    match status {
        "past_due" | "payment_failed" => "Your last payment failed. Stripe will try again over the next days and your plan stays meanwhile; update your card in Manage billing to keep it.".to_owned(),
        "unpaid" | "canceled" | "incomplete_expired" => "Your subscription has ended; this account is on the Free plan.".to_owned(),
        other => format!("Billing status: {other}."),
    }
}
