//! Budgets and rate limits on the keys page: the organisation's and each key's, with this month's
//! spend at list price.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{PortalError, action_error};
use crate::i18n::{t, t_string};
use crate::list::ListTable;

/// One scope's limits as the page shows them; empty fields mean no limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitsRow {
    /// "account" or "key:<id>".
    pub scope: String,
    pub label: String,
    pub budget_usd: Option<f64>,
    pub alert_at_percent: Option<u8>,
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
    pub spent_usd: f64,
}

#[cfg(feature = "ssr")]
mod ssr {
    use gateway::limits::{Limits, Scope};

    use super::LimitsRow;
    use crate::error::PortalError;

    pub fn row(scope: &str, label: String, limits: &Limits, spent_nanos: i64) -> LimitsRow {
        LimitsRow {
            scope: scope.to_owned(),
            label,
            budget_usd: limits.monthly_budget_usd,
            alert_at_percent: limits.alert_at_percent,
            requests_per_minute: limits.requests_per_minute,
            tokens_per_minute: limits.tokens_per_minute,
            spent_usd: spent_nanos as f64 / gateway::limits::NANOS_PER_USD,
        }
    }

    /// "account" or "key:<id>" → the scope, when it is this account's.
    pub fn parse_scope(scope: &str, account_id: i32) -> Result<Scope, PortalError> {
        if scope == "account" {
            return Ok(Scope::Account(account_id));
        }
        scope
            .strip_prefix("key:")
            .and_then(|id| id.parse().ok())
            .map(Scope::Key)
            .ok_or(PortalError::Refused(crate::problem::Problem::ChooseScope))
    }

    /// A form field: empty is "no limit"; anything else must parse.
    pub fn field<T: std::str::FromStr>(value: &str, what: &str) -> Result<Option<T>, PortalError> {
        let value = value.trim().trim_start_matches('$');
        if value.is_empty() {
            return Ok(None);
        }
        value.parse().map(Some).map_err(|_| {
            PortalError::Refused(crate::problem::Problem::NotANumber {
                field: what.to_owned(),
            })
        })
    }
}

#[server(prefix = "/api", endpoint = "list_limits")]
pub async fn list_limits() -> Result<Vec<LimitsRow>, PortalError> {
    use crate::server::state;
    use gateway::limits::Scope;
    use gateway::limits::ledger::spent_since;

    use gateway::accounts::members::Action;
    let actor = crate::server::require(Action::ReadAnalytics).await?;
    // Members and viewers see no limits table (setting them is an admin's).
    if !actor.role.allows(Action::Administer) {
        return Ok(Vec::new());
    }
    let account_id = actor.account_id;
    let state = state()?;
    let db = &state.db;
    let stored = gateway::accounts::account_limits(db, account_id).await?;
    let (month_start, _) = gateway::plans::month_bounds_utc(gateway::clock::now_ms());
    let spent = spent_since(db, Scope::Account(account_id), month_start).await?;
    let mut rows = vec![ssr::row("account", String::new(), &stored.account, spent)];
    for key in gateway::accounts::list_gateway_keys(db, account_id).await? {
        if key.revoked_at.is_some() {
            continue;
        }
        let spent = spent_since(db, Scope::Key(key.id), month_start).await?;
        let own = stored.keys.get(&key.id).cloned().unwrap_or_default();
        let label = format!("{} ({}…)", key.name, key.prefix);
        rows.push(ssr::row(&format!("key:{}", key.id), label, &own, spent));
    }
    Ok(rows)
}

#[server(prefix = "/api", endpoint = "set_limits")]
pub async fn set_limits(
    scope: String,
    budget_usd: String,
    alert_at_percent: String,
    requests_per_minute: String,
    tokens_per_minute: String,
) -> Result<(), PortalError> {
    use crate::server::state;
    use gateway::limits::{Limits, Scope};

    let account_id = crate::server::require(gateway::accounts::members::Action::Administer)
        .await?
        .account_id;
    let state = state()?;
    let limits = Limits {
        monthly_budget_usd: ssr::field(&budget_usd, "budget")?,
        alert_at_percent: ssr::field(&alert_at_percent, "alert")?,
        requests_per_minute: ssr::field(&requests_per_minute, "rpm")?,
        tokens_per_minute: ssr::field(&tokens_per_minute, "tpm")?,
    };
    match ssr::parse_scope(&scope, account_id)? {
        Scope::Account(_) => state.set_account_limits(account_id, &limits).await?,
        Scope::Key(key_id) => state.set_key_limits(account_id, key_id, &limits).await?,
    }
    Ok(())
}

fn shown<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// The limits table and the form that sets one scope's limits; reloads when keys change.
#[component]
pub fn LimitsPanel(#[prop(into)] keys_version: Signal<usize>) -> impl IntoView {
    let save = ServerAction::<SetLimits>::new();
    let rows = Resource::new(
        move || (keys_version.get(), save.version().get()),
        |_| list_limits(),
    );
    let i18n = crate::i18n::use_i18n();
    view! {
        <section class="limits" data-testid="limits">
            <h2>{t!(i18n, limits_title)}</h2>
            <p class="muted">
                {t!(i18n, limits.intro_budget)}
                <code>"budget_exceeded"</code>
                {t!(i18n, limits.intro_rates)}
                <code>"rate_limit_exceeded"</code>
                {t!(i18n, limits.intro_headers)} <code>"x-ratelimit-*"</code> {t!(i18n, limits.intro_end)}
            </p>
            {action_error(save.value())}
            <ListTable
                rows=rows
                head=move || view! { <th>{t!(i18n, limits.col_scope)}</th><th>{t!(i18n, limits.col_spent)}</th><th>{t!(i18n, limits.col_budget)}</th><th>{t!(i18n, limits.col_alert)}</th><th>{t!(i18n, limits.col_rpm)}</th><th>{t!(i18n, limits.col_tpm)}</th><th></th> }
                row=move |row: LimitsRow| view! {
                    <tr data-testid="limits-row">
                        <td>{if row.scope == "account" { t!(i18n, limits.whole_organisation).into_any() } else { row.label.clone().into_any() }}</td>
                        <td>{crate::format::money_view(row.spent_usd)}</td>
                        <td colspan="5">
                            <ActionForm action=save attr:class="inline-form">
                                <input type="hidden" name="scope" value=row.scope.clone()/>
                                <input name="budget_usd" inputmode="decimal" aria-label=move || t_string!(i18n, limits.budget_label) placeholder=move || t_string!(i18n, limits.none) value=shown(row.budget_usd)/>
                                <input name="alert_at_percent" inputmode="numeric" aria-label=move || t_string!(i18n, limits.alert_label) placeholder=move || t_string!(i18n, limits.none) value=shown(row.alert_at_percent)/>
                                <input name="requests_per_minute" inputmode="numeric" aria-label=move || t_string!(i18n, limits.rpm_label) placeholder=move || t_string!(i18n, limits.none) value=shown(row.requests_per_minute)/>
                                <input name="tokens_per_minute" inputmode="numeric" aria-label=move || t_string!(i18n, limits.tpm_label) placeholder=move || t_string!(i18n, limits.none) value=shown(row.tokens_per_minute)/>
                                <button type="submit">{t!(i18n, limits.save)}</button>
                            </ActionForm>
                        </td>
                    </tr>
                }
            />
        </section>
    }
}
