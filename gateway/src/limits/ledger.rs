//! The counters behind budgets and rate limits: per scope (key or account), the month's committed
//! spend (spent + reserved, in nano-dollars) and the current minute's requests and tokens.
//!
//! One lock over a few integer comparisons decides a request on one server; with Redis, one Lua
//! script decides it for every server (`shared`), and this server's counters stand by should
//! Redis fail.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr,
};
use tokio::sync::{OnceCell, mpsc};

use super::decision::{Ask, Grant, MINUTE_MS, Used, Window, decide, send_alert};
use super::estimate::Estimate;
use super::refusal::{RateHeaders, Refusal, Scope};
use super::settings::{Limits, usd_to_nanos};
use super::shared::SharedLedger;

pub use super::decision::BudgetAlert;
use crate::clock::now_ms;
use crate::entities::usage_event;
use crate::plans::month_bounds_utc;

#[derive(Debug, Default)]
struct Counters {
    month_start: i64,
    /// Spent + reserved this month; `None` until read from the database.
    committed: Option<i64>,
    minute: i64,
    requests: u64,
    tokens: u64,
}

impl Counters {
    fn roll(&mut self, month_start: i64, minute: i64) {
        if self.month_start != month_start {
            self.month_start = month_start;
            self.committed = None;
        }
        if self.minute != minute {
            self.minute = minute;
            self.requests = 0;
            self.tokens = 0;
        }
    }
}

/// A request's claim on its scopes' limits. Charge it with what the request cost; dropping it
/// replaces the reservation with the charges.
pub struct Reservation {
    ledger: Option<Arc<Ledger>>,
    grants: Vec<Grant>,
    month_start: i64,
    minute: i64,
    charged: Mutex<(i64, u64)>,
}

impl Reservation {
    /// A request under no limits.
    pub fn none() -> Self {
        Self {
            ledger: None,
            grants: Vec::new(),
            month_start: 0,
            minute: 0,
            charged: Mutex::new((0, 0)),
        }
    }

    /// Adds what one provider call cost (a request may make several: retries, fallbacks).
    pub fn charge(&self, cost_usd: f64, tokens: u64) {
        let mut charged = self.charged.lock();
        charged.0 += usd_to_nanos(cost_usd);
        charged.1 += tokens;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let Some(ledger) = self.ledger.take() else {
            return;
        };
        let (nanos, tokens) = *self.charged.lock();
        let grants = std::mem::take(&mut self.grants);
        ledger.settle(grants, self.month_start, self.minute, nanos, tokens);
    }
}

/// An admitted request: its reservation and the `x-ratelimit-*` headers of its answer.
pub struct Admission {
    pub reservation: Reservation,
    pub headers: RateHeaders,
}

pub struct Ledger {
    db: DatabaseConnection,
    local: Mutex<HashMap<Scope, Counters>>,
    seeds: Mutex<HashMap<(Scope, i64), Arc<OnceCell<i64>>>>,
    alerted: Mutex<HashSet<(Scope, i64)>>,
    shared: Option<SharedLedger>,
    alerts: Option<mpsc::UnboundedSender<BudgetAlert>>,
}

impl Ledger {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            local: Mutex::default(),
            seeds: Mutex::default(),
            alerted: Mutex::default(),
            shared: None,
            alerts: None,
        }
    }

    /// Counters shared by every server on this Redis (keys under `prefix`).
    pub fn shared(mut self, manager: redis::aio::ConnectionManager, prefix: &str) -> Self {
        self.shared = Some(SharedLedger::new(manager, prefix));
        self
    }

    /// Where budget alerts go (the mailer).
    pub fn alerts_to(mut self, sender: mpsc::UnboundedSender<BudgetAlert>) -> Self {
        self.alerts = Some(sender);
        self
    }

    /// Admits a request under the limits of each scope (the key's, then its account's), or says
    /// which limit refuses it.
    pub async fn admit(
        self: &Arc<Self>,
        scopes: &[(Scope, &Limits)],
        estimate: Estimate,
    ) -> Result<Admission, (Refusal, RateHeaders)> {
        let scopes: Vec<_> = scopes.iter().filter(|(_, l)| !l.is_empty()).collect();
        if scopes.is_empty() {
            return Ok(Admission {
                reservation: Reservation::none(),
                headers: RateHeaders::default(),
            });
        }
        let now = now_ms();
        let (month_start, next_month) = month_bounds_utc(now);
        let minute = now.div_euclid(MINUTE_MS);
        let resets_in = (minute + 1) * MINUTE_MS - now;
        let mut asks = Vec::with_capacity(scopes.len());
        for (scope, limits) in scopes {
            let seed_nanos = match limits.monthly_budget_usd {
                None => None,
                Some(_) => match self.seed(*scope, month_start).await {
                    Ok(seed) => Some(seed),
                    Err(err) => {
                        // As the monthly quota does: a database hiccup does not fail requests.
                        tracing::warn!(error = %err, ?scope, "could not read the month's spend; the budget is not checked for this request");
                        None
                    }
                },
            };
            asks.push(Ask {
                scope: *scope,
                limits,
                seed_nanos,
            });
        }
        let window = Window {
            month_start,
            next_month,
            minute,
            resets_in,
        };
        let decided = match &self.shared {
            Some(shared) => match shared.admit(&asks, estimate, &window).await {
                Ok(decided) => decided,
                Err(err) => {
                    tracing::warn!(error = %err, "limits: Redis failed; counting on this server alone");
                    self.admit_locally(&asks, estimate, &window)
                }
            },
            None => self.admit_locally(&asks, estimate, &window),
        };
        decided.map(|(grants, headers)| Admission {
            reservation: Reservation {
                ledger: Some(Arc::clone(self)),
                grants,
                month_start,
                minute,
                charged: Mutex::new((0, 0)),
            },
            headers,
        })
    }

    fn admit_locally(
        &self,
        asks: &[Ask<'_>],
        estimate: Estimate,
        window: &Window,
    ) -> Result<(Vec<Grant>, RateHeaders), (Refusal, RateHeaders)> {
        let mut local = self.local.lock();
        let mut used = Vec::with_capacity(asks.len());
        for ask in asks {
            let counters = local.entry(ask.scope).or_default();
            counters.roll(window.month_start, window.minute);
            if counters.committed.is_none() {
                counters.committed = ask.seed_nanos;
            }
            used.push(Used {
                committed: counters.committed,
                requests: counters.requests,
                tokens: counters.tokens,
            });
        }
        let grants = decide(asks, &used, estimate, window)?;
        for (ask, grant) in asks.iter().zip(&grants.0) {
            let counters = local.entry(ask.scope).or_default();
            if let (Some(committed), Some(reserved)) =
                (&mut counters.committed, grant.reserved_nanos)
            {
                *committed += reserved;
            }
            if ask.limits.requests_per_minute.is_some() {
                counters.requests += 1;
            }
            if let Some(tokens) = grant.counted_tokens {
                counters.tokens += tokens;
            }
        }
        Ok(grants)
    }

    /// Replaces a request's reservations with what it cost, and sends a budget alert when spend
    /// first reaches a threshold this month.
    fn settle(&self, grants: Vec<Grant>, month_start: i64, minute: i64, nanos: i64, tokens: u64) {
        if let Some(shared) = &self.shared {
            let shared = shared.clone();
            let alerts = self.alerts.clone();
            // Drop cannot wait: the few Redis commands run on their own.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    match shared.settle(&grants, month_start, minute, nanos, tokens).await {
                        Ok(spent) => {
                            for (grant, spent) in grants.iter().zip(spent) {
                                shared.alert_once(grant, month_start, spent, alerts.as_ref()).await;
                            }
                        }
                        Err(err) => tracing::warn!(error = %err, "limits: could not settle a reservation in Redis"),
                    }
                });
            }
            return;
        }
        let mut crossed = Vec::new();
        {
            let mut local = self.local.lock();
            for grant in &grants {
                let Some(counters) = local.get_mut(&grant.scope) else {
                    continue;
                };
                if let (Some(committed), Some(reserved)) =
                    (&mut counters.committed, grant.reserved_nanos)
                    && counters.month_start == month_start
                {
                    *committed += nanos - reserved;
                    if let Some((at, _)) = grant.alert
                        && *committed >= at
                    {
                        crossed.push((grant.clone(), *committed));
                    }
                }
                if let Some(counted) = grant.counted_tokens
                    && counters.minute == minute
                {
                    counters.tokens = (counters.tokens + tokens).saturating_sub(counted);
                }
            }
        }
        for (grant, spent) in crossed {
            if self.alerted.lock().insert((grant.scope, month_start)) {
                send_alert(self.alerts.as_ref(), &grant, month_start, spent);
            }
        }
    }

    /// The month's spend of a scope as the database has it, read once per scope and month.
    async fn seed(&self, scope: Scope, month_start: i64) -> Result<i64, DbErr> {
        let cell = {
            let mut seeds = self.seeds.lock();
            if !seeds.contains_key(&(scope, month_start)) {
                // Past months are never read again: the map holds one month of scopes.
                seeds.retain(|(_, month), _| *month >= month_start);
                self.alerted
                    .lock()
                    .retain(|(_, month)| *month >= month_start);
            }
            seeds.entry((scope, month_start)).or_default().clone()
        };
        cell.get_or_try_init(|| spent_since(&self.db, scope, month_start))
            .await
            .copied()
    }
}

/// What a key or an account spent since `since_ms`, at list price, in nano-dollars.
pub async fn spent_since(
    db: &DatabaseConnection,
    scope: Scope,
    since_ms: i64,
) -> Result<i64, DbErr> {
    let query = usage_event::Entity::find()
        .select_only()
        .column_as(Expr::col(usage_event::Column::CostUsd).sum(), "spent")
        .filter(usage_event::Column::CreatedAt.gte(since_ms));
    let query = match scope {
        Scope::Key(id) => query.filter(usage_event::Column::KeyId.eq(id)),
        Scope::Account(id) => query.filter(usage_event::Column::AccountId.eq(id)),
    };
    let spent: Option<Option<f64>> = query.into_tuple().one(db).await?;
    Ok(usd_to_nanos(spent.flatten().unwrap_or(0.0)))
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
