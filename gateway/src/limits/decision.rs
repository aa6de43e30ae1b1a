//! The admission rule the two ledgers share: this server's counters (`ledger`) and Redis' Lua
//! script (`shared`) decide a request the same way, from what each scope asks and has used.

use tokio::sync::mpsc;

use super::estimate::Estimate;
use super::refusal::{RateHeaders, Refusal, Scope};
use super::settings::Limits;

pub(super) const MINUTE_MS: i64 = 60_000;

/// Sent once a month per scope when committed spend reaches the alert threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetAlert {
    pub scope: Scope,
    pub month_start: i64,
    pub budget_nanos: i64,
    pub spent_nanos: i64,
    pub alert_at_percent: u8,
}

/// One scope's part of an admission, and what to give back at the end.
#[derive(Debug, Clone)]
pub(super) struct Grant {
    pub scope: Scope,
    /// The worst case reserved against a budget (`None`: the scope has no budget).
    pub reserved_nanos: Option<i64>,
    /// Tokens counted against a tokens-per-minute limit (`None`: it has none).
    pub counted_tokens: Option<u64>,
    pub budget_nanos: i64,
    pub alert: Option<(i64, u8)>,
}

/// What one admission asks of each scope, in the order the checks run (key, then account).
pub(super) struct Ask<'a> {
    pub scope: Scope,
    pub limits: &'a Limits,
    /// The month's spend before this server counted any, when the scope has a budget.
    pub seed_nanos: Option<i64>,
}

pub(super) fn send_alert(
    alerts: Option<&mpsc::UnboundedSender<BudgetAlert>>,
    grant: &Grant,
    month_start: i64,
    spent_nanos: i64,
) {
    let (Some(alerts), Some((_, percent))) = (alerts, grant.alert) else {
        return;
    };
    let _ = alerts.send(BudgetAlert {
        scope: grant.scope,
        month_start,
        budget_nanos: grant.budget_nanos,
        spent_nanos,
        alert_at_percent: percent,
    });
}

/// When an admission happens.
pub(super) struct Window {
    pub month_start: i64,
    pub next_month: i64,
    pub minute: i64,
    pub resets_in: i64,
}

/// A scope's counters as an admission finds them.
pub(super) struct Used {
    pub committed: Option<i64>,
    pub requests: u64,
    pub tokens: u64,
}

/// The one rule, for this server's counters and for Redis' alike (the Lua script follows it
/// line by line): every scope must have room for the request's worst case, one more request and
/// its tokens; then each is charged.
pub(super) fn decide(
    asks: &[Ask<'_>],
    used: &[Used],
    estimate: Estimate,
    window: &Window,
) -> Result<(Vec<Grant>, RateHeaders), (Refusal, RateHeaders)> {
    // The headers say what is left after this request, or, when it is refused, without it.
    let mut after = RateHeaders::default();
    let mut before = RateHeaders::default();
    let mut grants = Vec::with_capacity(asks.len());
    let mut refusal = None;
    for (ask, used) in asks.iter().zip(used) {
        let limits = ask.limits;
        let budget = limits.budget_nanos().zip(used.committed);
        if let Some((budget_nanos, committed)) = budget
            && committed + estimate.worst_case_nanos > budget_nanos
        {
            refusal.get_or_insert(Refusal::Budget {
                scope: ask.scope,
                budget_nanos,
                committed_nanos: committed,
                needed_nanos: estimate.worst_case_nanos,
                resets_at_ms: window.next_month,
            });
        }
        if let Some(limit) = limits.requests_per_minute {
            let limit_64 = u64::from(limit);
            if used.requests + 1 > limit_64 {
                refusal.get_or_insert(Refusal::Requests {
                    scope: ask.scope,
                    limit,
                    resets_in_ms: window.resets_in,
                });
            }
            let remaining = limit_64.saturating_sub(used.requests);
            before
                .requests
                .get_or_insert((limit, remaining, window.resets_in));
            after
                .requests
                .get_or_insert((limit, remaining.saturating_sub(1), window.resets_in));
        }
        if let Some(limit) = limits.tokens_per_minute {
            let limit_64 = u64::from(limit);
            if used.tokens + estimate.tokens > limit_64 {
                refusal.get_or_insert(Refusal::Tokens {
                    scope: ask.scope,
                    limit,
                    used: used.tokens,
                    requested: estimate.tokens,
                    resets_in_ms: window.resets_in,
                });
            }
            let remaining = limit_64.saturating_sub(used.tokens);
            before
                .tokens
                .get_or_insert((limit, remaining, window.resets_in));
            after.tokens.get_or_insert((
                limit,
                remaining.saturating_sub(estimate.tokens),
                window.resets_in,
            ));
        }
        grants.push(Grant {
            scope: ask.scope,
            reserved_nanos: budget.map(|_| estimate.worst_case_nanos),
            counted_tokens: limits.tokens_per_minute.map(|_| estimate.tokens),
            budget_nanos: limits.budget_nanos().unwrap_or_default(),
            alert: limits.alert_nanos().zip(limits.alert_at_percent),
        });
    }
    match refusal {
        Some(refusal) => Err((refusal, before)),
        None => Ok((grants, after)),
    }
}
