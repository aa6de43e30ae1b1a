//! Quality checks on an account's own traffic: what its `auto` requests kept of the baseline's
//! quality, measured rather than assumed.
//!
//! A share (`sample_rate`) of the `auto` requests served by a model cheaper than the baseline is
//! re-asked of the baseline model after the client has its answer (never delaying it), and a judge
//! model (the baseline, unless the account names another) grades both answers on a 1-10 scale
//! with MT-Bench's judge prompt. The served answer is *adequate* when it scores within a point of
//! the baseline's. The prompt and both answers live only in this module's task, in memory, until
//! the verdict is in; what is stored ([`crate::entities::quality_verdict`]) is the verdict, the
//! scores, the models, the tier, the route reason and the evaluation's own cost. That cost is kept
//! apart from the account's traffic (no usage event, no quota), under a monthly budget. A judge
//! that fails or answers without ratings leaves "no verdict", never "adequate".

pub mod calibration;
pub mod judge;
pub mod report;

use std::sync::Arc;

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use tokio::sync::Semaphore;

use crate::catalog::{Catalog, CatalogModel};
use crate::directory::AccountConfig;
use crate::entities::quality_verdict;
use crate::openai::{ChatCompletionRequest, Usage};
use crate::providers::{ChatOutcome, Provider, ProviderEndpoint};
use crate::routing::{RouteDecision, RoutingPolicy};
use crate::state::GatewayState;

/// Checks running at once on one server; a sample that finds none free is skipped, so a burst of
/// traffic never queues evaluations (or their prompts) in memory.
static RUNNING: Semaphore = Semaphore::const_new(4);

/// Everything one check needs, held in memory only for as long as it runs.
struct Sample {
    account: Arc<AccountConfig>,
    key_id: i32,
    request: ChatCompletionRequest,
    served: &'static CatalogModel,
    served_answer: String,
    served_usage: Usage,
    baseline: &'static CatalogModel,
    judge: &'static CatalogModel,
    route_reason: String,
    budget_usd: f64,
    /// Calibration's target and the threshold it starts from, when the account asks for it.
    calibrate: Option<(f64, f64)>,
}

/// The most of a streamed answer kept for its check (the judge reads at most a part of it).
const MAX_STREAMED_ANSWER_BYTES: usize = 64 * 1024;

/// A request chosen for a check, waiting for its answer: a whole one, or a stream's text as it
/// passes.
pub(crate) struct PendingCheck {
    state: GatewayState,
    sample: Sample,
}

/// Whether this request's answer is to be checked: the policy asks for checks, the gateway chose
/// the model, that model is of a tier below the baseline's (`baseline`: the request's, as its
/// usage is priced against), and the dice say so. Decided before the answer, so that a stream not
/// chosen costs nothing more than the roll.
pub(crate) fn prepare(
    state: &GatewayState,
    account: &Arc<AccountConfig>,
    policy: &RoutingPolicy,
    key_id: i32,
    request: &ChatCompletionRequest,
    decision: &RouteDecision<'_>,
    baseline: Option<&'static CatalogModel>,
) -> Option<PendingCheck> {
    let checks = policy.quality_checks.as_ref()?;
    if !decision.routed || checks.sample_rate <= 0.0 {
        return None;
    }
    let baseline = baseline?;
    let served = Catalog::built_in().find(decision.endpoint.kind, &decision.model)?;
    // Below the baseline's tier: the answers routing traded quality for. (A cheaper model of the
    // baseline's own tier is the tier's price, not a quality bet.)
    if served.tier >= baseline.tier {
        return None;
    }
    let judge = match checks.judge_model.as_deref() {
        Some(name) => crate::catalog::Catalog::chat_model_named(name)?,
        None => baseline,
    };
    if rand::random::<f64>() >= checks.sample_rate {
        return None;
    }
    // A threshold the account (or key) set itself wins over calibration.
    let stored = account.routing.effective(key_id);
    let calibrate = checks
        .target_adequacy
        .filter(|_| stored.threshold.is_none())
        .map(|target| (target, f64::from(state.router.thresholds().strong)));
    Some(PendingCheck {
        state: state.clone(),
        sample: Sample {
            account: account.clone(),
            key_id,
            request: request.clone(),
            served,
            served_answer: String::new(),
            served_usage: Usage::default(),
            baseline,
            judge,
            route_reason: decision.reason.clone(),
            budget_usd: checks.monthly_budget_usd,
            calibrate,
        },
    })
}

impl PendingCheck {
    /// One chunk of a streamed answer (OpenAI's chunk JSON): its text is kept, up to a bound.
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        let answer = &mut self.sample.served_answer;
        if answer.len() >= MAX_STREAMED_ANSWER_BYTES {
            return;
        }
        let Ok(chunk) = serde_json::from_slice::<serde_json::Value>(chunk) else {
            return;
        };
        if let Some(text) = chunk
            .pointer("/choices/0/delta/content")
            .and_then(serde_json::Value::as_str)
        {
            let room = MAX_STREAMED_ANSWER_BYTES - answer.len();
            answer.push_str(crate::openai::clipped(text, room));
        }
    }

    /// The answer is complete: the check runs in the background (or is skipped when as many run
    /// as may, or the answer has no text to judge).
    pub(crate) fn finish(mut self, whole: Option<String>, usage: Usage) {
        if let Some(whole) = whole {
            self.sample.served_answer = whole;
        }
        if self.sample.served_answer.trim().is_empty() {
            return;
        }
        self.sample.served_usage = usage;
        // A stream's guard may be dropped where no runtime runs (a server shutting down).
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(permit) = RUNNING.try_acquire() else {
            tracing::debug!("quality check skipped: as many running as allowed");
            return;
        };
        let Self { state, sample } = self;
        runtime.spawn(async move {
            let _permit = permit;
            evaluate(&state, sample).await;
        });
    }
}

/// Why a check ended without a verdict, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoVerdict {
    BaselineUnreachable,
    BaselineFailed,
    JudgeUnreachable,
    JudgeFailed,
    JudgeUnreadable,
}

impl NoVerdict {
    fn code(self) -> &'static str {
        match self {
            NoVerdict::BaselineUnreachable => "baseline_unreachable",
            NoVerdict::BaselineFailed => "baseline_failed",
            NoVerdict::JudgeUnreachable => "judge_unreachable",
            NoVerdict::JudgeFailed => "judge_failed",
            NoVerdict::JudgeUnreadable => "judge_unreadable",
        }
    }
}

async fn evaluate(state: &GatewayState, sample: Sample) {
    let spent = match month_spend(state, sample.account.account_id).await {
        Ok(spent) => spent,
        Err(err) => {
            tracing::warn!(error = %err, "quality check skipped: could not read its month's spend");
            return;
        }
    };
    if spent + estimated_cost(&sample) > sample.budget_usd {
        tracing::debug!(
            account_id = sample.account.account_id,
            "quality check skipped: the month's evaluation budget"
        );
        return;
    }
    let mut cost = 0.0;
    let verdict = judged(state, &sample, &mut cost).await;
    let (cheap_score, baseline_score, adequate, outcome) = match verdict {
        Ok(ratings) => (
            Some(ratings.served),
            Some(ratings.baseline),
            Some(ratings.adequate()),
            "judged",
        ),
        Err(no_verdict) => (None, None, None, no_verdict.code()),
    };
    let row = quality_verdict::ActiveModel {
        account_id: Set(sample.account.account_id),
        key_id: Set(Some(sample.key_id)),
        created_at: Set(crate::clock::now_ms()),
        served_model: Set(sample.served.name()),
        baseline_model: Set(sample.baseline.name()),
        judge_model: Set(sample.judge.name()),
        tier: Set(Some(sample.served.tier.id().to_owned())),
        route_reason: Set(Some(sample.route_reason.clone())),
        cheap_score: Set(cheap_score),
        baseline_score: Set(baseline_score),
        adequate: Set(adequate),
        outcome: Set(outcome.to_owned()),
        eval_cost_usd: Set(cost),
        ..Default::default()
    };
    if let Err(err) = row.insert(&state.db).await {
        tracing::warn!(error = %err, "could not store a quality verdict");
        return;
    }
    if let Some((target, shipped)) = sample.calibrate {
        let account_id = sample.account.account_id;
        let tier = sample.baseline.tier;
        let moved = calibration::recalibrate(state, account_id, target, shipped, tier).await;
        if let Err(err) = moved {
            tracing::warn!(error = %err, account_id, "calibration failed");
        }
    }
}

/// The baseline's answer to the same request, then the judge's ratings of both answers.
async fn judged(
    state: &GatewayState,
    sample: &Sample,
    cost: &mut f64,
) -> Result<judge::Ratings, NoVerdict> {
    let baseline = ask(state, sample, sample.baseline, &sample.request)
        .await
        .map_err(|unreachable| {
            if unreachable {
                NoVerdict::BaselineUnreachable
            } else {
                NoVerdict::BaselineFailed
            }
        })?;
    *cost += sample.baseline.cost(
        baseline.usage.prompt_tokens,
        baseline.usage.completion_tokens,
    );
    let reference = judge::answer_text(&baseline.body).ok_or(NoVerdict::BaselineFailed)?;
    let grading = judge::request(&sample.request, &sample.served_answer, &reference);
    let verdict = ask(state, sample, sample.judge, &grading)
        .await
        .map_err(|unreachable| {
            if unreachable {
                NoVerdict::JudgeUnreachable
            } else {
                NoVerdict::JudgeFailed
            }
        })?;
    *cost += sample
        .judge
        .cost(verdict.usage.prompt_tokens, verdict.usage.completion_tokens);
    let text = judge::answer_text(&verdict.body).ok_or(NoVerdict::JudgeUnreadable)?;
    judge::ratings(&text).ok_or(NoVerdict::JudgeUnreadable)
}

/// One whole (not streamed) answer of `model` to `request`, through the account's own provider
/// key; `Err(true)` when the account has no provider for it.
async fn ask(
    state: &GatewayState,
    sample: &Sample,
    model: &CatalogModel,
    request: &ChatCompletionRequest,
) -> Result<ChatOutcome, bool> {
    let endpoint: &ProviderEndpoint = sample
        .account
        .providers
        .iter()
        .find(|endpoint| endpoint.kind.id() == model.provider)
        .ok_or(true)?;
    let mut whole = request.clone();
    whole.stream = None;
    whole.extra.remove("stream_options");
    let (adapted, _) =
        crate::adapt::chat(&whole, endpoint.kind, &model.model).map_err(|_| false)?;
    // Its own call, not a hop of the client's request.
    let call = state.upstream_call(endpoint, 1);
    Provider::for_kind(endpoint.kind)
        .chat(&call, &adapted, &model.model)
        .await
        .map_err(|err| {
            tracing::debug!(error = %err, model = %model.model, "quality check call failed");
            false
        })
}

/// What the checks of the account spent this calendar month (UTC).
async fn month_spend(state: &GatewayState, account_id: i32) -> Result<f64, sea_orm::DbErr> {
    let (month_start, _) = crate::plans::month_bounds_utc(crate::clock::now_ms());
    let costs: Vec<f64> = quality_verdict::Entity::find()
        .select_only()
        .column(quality_verdict::Column::EvalCostUsd)
        .filter(quality_verdict::Column::AccountId.eq(account_id))
        .filter(quality_verdict::Column::CreatedAt.gte(month_start))
        .into_tuple()
        .all(&state.db)
        .await?;
    Ok(costs.iter().sum())
}

/// What a check will likely cost, so that the budget is kept before spending, not after: the
/// baseline answering the same prompt at up to twice the served answer's length, and the judge
/// reading the prompt and both answers.
fn estimated_cost(sample: &Sample) -> f64 {
    let prompt = sample.served_usage.prompt_tokens;
    let answer = sample
        .served_usage
        .completion_tokens
        .saturating_mul(2)
        .max(256);
    let judge_prompt = prompt
        .saturating_add(answer.saturating_mul(2))
        .saturating_add(judge::PROMPT_TOKENS);
    sample.baseline.cost(prompt, answer) + sample.judge.cost(judge_prompt, 300)
}
