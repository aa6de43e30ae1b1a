//! How a savings figure is told: against which baseline, on what share of the traffic, and how
//! many requests had no price. Every savings figure in the portal carries one.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::i18n::{t, use_i18n};

/// What a savings figure is measured against and what share of the traffic it covers: every
/// savings figure in the portal says both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SavingsClaim {
    /// `provider/model`; `None` before the account has a provider.
    pub baseline: Option<String>,
    /// The default (the first provider's flagship), not one the account chose.
    pub baseline_is_default: bool,
    /// Requests a saving is claimed for (routed by the gateway, or cache hits), of `requests`.
    pub saving_requests: i64,
    pub requests: i64,
    /// The saving as a share of what those requests would have cost without the gateway.
    pub saving_percent: Option<f64>,
    /// Requests to models without a price: in the counts, never in costs or savings.
    pub unpriced_requests: i64,
}

impl SavingsClaim {
    #[cfg(feature = "ssr")]
    pub fn of(totals: &gateway::analytics::Totals, baseline: (Option<String>, bool)) -> Self {
        Self {
            baseline: baseline.0,
            baseline_is_default: baseline.1,
            saving_requests: totals.saving_requests,
            requests: totals.requests,
            saving_percent: (totals.saving_base_usd > 0.0)
                .then(|| totals.saving_usd / totals.saving_base_usd * 100.0),
            unpriced_requests: totals.unpriced_requests,
        }
    }
}

/// What a [`SavingsClaim`] says, in a sentence under the figure.
pub fn claim_text(claim: &SavingsClaim) -> impl IntoView + use<> {
    let i18n = use_i18n();
    let claim = claim.clone();
    let percent = claim
        .saving_percent
        .map(|p| format!("{p:.1} %"))
        .unwrap_or_else(|| "–".into());
    view! {
        <span class="label" data-testid="savings-claim">
            {match claim.baseline.clone() {
                Some(model) => t!(i18n, savings_claim, model = model, percent = percent.clone(), routed = claim.saving_requests, requests = claim.requests).into_any(),
                None => t!(i18n, savings_no_baseline).into_any(),
            }}
            {(claim.unpriced_requests > 0).then(|| view! { " " {t!(i18n, savings_unpriced, count = claim.unpriced_requests)} })}
            {(claim.baseline.is_some() && claim.baseline_is_default).then(|| view! {
                " " {t!(i18n, savings_default_baseline)} " " <a href="/routing">{t!(i18n, nav_routing)}</a>
            })}
        </span>
    }
}
