//! Routing overrides: what an account, or one of its keys, asks of the router. Stored as JSON on
//! the account and on the key; the key's settings win field by field, and rules add up.
//!
//! ```json
//! {"auto_routing": true, "forced_model": null, "threshold": 0.7,
//!  "min_tier": "standard", "max_tier": "strong", "providers": ["anthropic", "openai"],
//!  "rules": [{"when": "tools", "at_least": "standard"},
//!            {"when": {"prompt_tokens_over": 8000}, "at_least": "strong"}],
//!  "verify": true, "verify_checks": ["cut_off", "json_schema", "math"]}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::Tier;
use crate::openai::ChatCompletionRequest;
use crate::providers::ProviderKind;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingPolicy {
    /// `false`: `auto` requests are not scored; they go to the first allowed provider's default
    /// model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_routing: Option<bool>,
    /// Every request, pinned or not, goes to this model (`gpt-4o-mini` or `openai/gpt-4o-mini`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced_model: Option<String>,
    /// The score from which a request needs the strong tier, as `auto:<n>` sets it per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tier: Option<Tier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tier: Option<Tier>,
    /// The providers requests may use, in order of preference. Absent: all configured ones,
    /// cheapest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub providers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RoutingRule>,
    /// The response cache for this scope (on plans that include it); off when unset. A request's
    /// `x-gateway-cache: on|off` header wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    /// What savings are measured against: the model this scope would have used without the
    /// gateway (`openai/gpt-4o`). Unset: the flagship chat model of the first provider added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_model: Option<String>,
    /// Quality checks on this scope's own traffic (`crate::quality`); off when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_checks: Option<QualityChecks>,
    /// The cascade for `auto` requests, as `auto:verify` asks per request: the routed model
    /// answers first and the checks on its answer decide whether the next tier up is asked
    /// (`crate::verify`). Off when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<bool>,
    /// The checks the cascade runs (`cut_off`, `empty`, `refusal`, `json_schema`,
    /// `tool_arguments`, `math`); unset: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_checks: Option<Vec<String>>,
    /// Streamed requests are checked too: the answer is held until its checks pass, then sent
    /// as the stream asked for (the first byte waits for the whole answer). Off: streams are
    /// served as `auto`, unchecked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_streams: Option<bool>,
}

/// "Re-ask 2 % of the auto requests served below the baseline of the baseline model, and have a
/// judge grade the two answers": what the account's traffic kept of the baseline's quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityChecks {
    /// The share of `auto` requests served below the baseline that are checked (0 to 1).
    pub sample_rate: f64,
    /// The judge (`openai/gpt-4o`); default: the baseline model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_model: Option<String>,
    /// The most the checks may spend in a calendar month, at list prices (US dollars).
    pub monthly_budget_usd: f64,
    /// Calibration: the adequate share the routing threshold is moved toward (0.95), from the
    /// verdicts (`crate::quality::calibration`); unset, thresholds stay as shipped. A `threshold`
    /// set in the policy wins over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_adequacy: Option<f64>,
}

/// "Requests with tools → at least standard."
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    pub when: Condition,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<Tier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<Tier>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The request offers tools.
    Tools,
    /// A message carries an image.
    Images,
    /// `response_format` asks for JSON.
    JsonOutput,
    /// The prompt is longer than this many tokens (estimated at four characters a token).
    PromptTokensOver(u32),
    /// The conversation has more than this many messages.
    MessagesOver(u32),
}

impl Condition {
    pub fn label(self) -> String {
        match self {
            Condition::Tools => "tools".into(),
            Condition::Images => "images".into(),
            Condition::JsonOutput => "JSON output".into(),
            Condition::PromptTokensOver(n) => format!("prompt over {n} tokens"),
            Condition::MessagesOver(n) => format!("over {n} messages"),
        }
    }

    pub fn matches(self, request: &ChatCompletionRequest) -> bool {
        match self {
            Condition::Tools => request
                .extra
                .get("tools")
                .and_then(Value::as_array)
                .is_some_and(|tools| !tools.is_empty()),
            Condition::Images => request.messages.iter().any(|message| {
                message
                    .get("content")
                    .and_then(Value::as_array)
                    .is_some_and(|parts| {
                        parts.iter().any(|part| {
                            part.get("type").and_then(Value::as_str) == Some("image_url")
                        })
                    })
            }),
            Condition::JsonOutput => matches!(
                request
                    .extra
                    .get("response_format")
                    .and_then(|format| format.get("type"))
                    .and_then(Value::as_str),
                Some("json_object" | "json_schema")
            ),
            Condition::PromptTokensOver(limit) => {
                estimated_prompt_tokens(request) > u64::from(limit)
            }
            Condition::MessagesOver(limit) => request.messages.len() > limit as usize,
        }
    }
}

/// Four characters a token: the usual rule of thumb, good enough to pick a tier.
pub(crate) fn estimated_prompt_tokens(request: &ChatCompletionRequest) -> u64 {
    fn chars(value: &Value) -> usize {
        match value {
            Value::String(text) => text.chars().count(),
            Value::Array(parts) => parts
                .iter()
                .map(|part| part.get("text").map_or(0, chars))
                .sum(),
            _ => 0,
        }
    }
    let total: usize = request
        .messages
        .iter()
        .map(|message| message.get("content").map_or(0, chars))
        .sum();
    (total / 4) as u64
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PolicyError {
    #[error("could not read the routing policy: {0}")]
    Json(String),
    #[error("threshold must be between 0 and 1")]
    Threshold,
    #[error("min_tier is above max_tier")]
    TierOrder,
    #[error("unknown provider '{0}' (expected one of {list})", list = ProviderKind::ALL.iter().map(|k| k.id()).collect::<Vec<_>>().join(", "))]
    UnknownProvider(String),
    #[error("provider '{0}' is listed twice")]
    DuplicateProvider(String),
    #[error("the provider list is empty: leave it out to allow every provider")]
    NoProviders,
    #[error("forced_model is empty")]
    EmptyForcedModel,
    #[error("rule {0} sets neither at_least nor at_most")]
    EmptyRule(usize),
    #[error("baseline_model '{0}' is not a priced chat model of the catalog (e.g. openai/gpt-4o)")]
    UnknownBaseline(String),
    #[error(
        "quality_checks: sample_rate must be between 0 and 1, monthly_budget_usd at least 0, and judge_model a chat model of the catalog"
    )]
    QualityChecks,
    #[error(
        "verify_checks: unknown check '{0}' (expected cut_off, empty, refusal, json_schema, tool_arguments or math)"
    )]
    UnknownCheck(String),
}

impl RoutingPolicy {
    /// Reads and checks a stored or submitted policy. Empty text is the empty policy.
    pub fn parse(json: &str) -> Result<Self, PolicyError> {
        if json.trim().is_empty() {
            return Ok(Self::default());
        }
        let policy: Self =
            serde_json::from_str(json).map_err(|e| PolicyError::Json(e.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    pub fn validate(&self) -> Result<(), PolicyError> {
        if let Some(unknown) = self
            .verify_checks
            .iter()
            .flatten()
            .find(|id| crate::verify::Check::parse(id).is_none())
        {
            return Err(PolicyError::UnknownCheck(unknown.clone()));
        }
        if self.threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            return Err(PolicyError::Threshold);
        }
        if let (Some(min), Some(max)) = (self.min_tier, self.max_tier)
            && min > max
        {
            return Err(PolicyError::TierOrder);
        }
        if let Some(providers) = &self.providers {
            if providers.is_empty() {
                return Err(PolicyError::NoProviders);
            }
            for (index, id) in providers.iter().enumerate() {
                if ProviderKind::parse(id).is_none() {
                    return Err(PolicyError::UnknownProvider(id.clone()));
                }
                if providers[..index].contains(id) {
                    return Err(PolicyError::DuplicateProvider(id.clone()));
                }
            }
        }
        if self
            .forced_model
            .as_deref()
            .is_some_and(|model| model.trim().is_empty())
        {
            return Err(PolicyError::EmptyForcedModel);
        }
        if let Some(index) = self
            .rules
            .iter()
            .position(|rule| rule.at_least.is_none() && rule.at_most.is_none())
        {
            return Err(PolicyError::EmptyRule(index + 1));
        }
        if let Some(baseline) = &self.baseline_model
            && crate::catalog::Catalog::chat_model_named(baseline).is_none()
        {
            return Err(PolicyError::UnknownBaseline(baseline.clone()));
        }
        if let Some(checks) = &self.quality_checks {
            let judge_known = checks
                .judge_model
                .as_deref()
                .is_none_or(|judge| crate::catalog::Catalog::chat_model_named(judge).is_some());
            if !(0.0..=1.0).contains(&checks.sample_rate)
                || !(checks.monthly_budget_usd >= 0.0 && checks.monthly_budget_usd.is_finite())
                || !judge_known
                || checks
                    .target_adequacy
                    .is_some_and(|target| !(0.5..=1.0).contains(&target))
            {
                return Err(PolicyError::QualityChecks);
            }
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// JSON for storage; `None` for the empty policy.
    pub fn to_stored(&self) -> Option<String> {
        (!self.is_empty()).then(|| serde_json::to_string(self).expect("a policy always serializes"))
    }

    /// The account's policy with the key's on top: the key's fields win where it sets them, and
    /// both sets of rules apply.
    pub fn merged(account: &RoutingPolicy, key: Option<&RoutingPolicy>) -> RoutingPolicy {
        let Some(key) = key else {
            return account.clone();
        };
        RoutingPolicy {
            auto_routing: key.auto_routing.or(account.auto_routing),
            forced_model: key
                .forced_model
                .clone()
                .or_else(|| account.forced_model.clone()),
            threshold: key.threshold.or(account.threshold),
            min_tier: key.min_tier.or(account.min_tier),
            max_tier: key.max_tier.or(account.max_tier),
            providers: key.providers.clone().or_else(|| account.providers.clone()),
            rules: account.rules.iter().chain(&key.rules).cloned().collect(),
            cache: key.cache.or(account.cache),
            baseline_model: key
                .baseline_model
                .clone()
                .or_else(|| account.baseline_model.clone()),
            quality_checks: key
                .quality_checks
                .clone()
                .or_else(|| account.quality_checks.clone()),
            verify: key.verify.or(account.verify),
            verify_streams: key.verify_streams.or(account.verify_streams),
            verify_checks: key
                .verify_checks
                .clone()
                .or_else(|| account.verify_checks.clone()),
        }
    }

    /// The checks the cascade runs under this policy (every one when it names none).
    pub fn enabled_checks(&self) -> Vec<crate::verify::Check> {
        match &self.verify_checks {
            None => crate::verify::Check::ALL.to_vec(),
            Some(ids) => ids
                .iter()
                .filter_map(|id| crate::verify::Check::parse(id))
                .collect(),
        }
    }

    pub fn allowed_providers(&self) -> Option<Vec<ProviderKind>> {
        self.providers.as_ref().map(|ids| {
            ids.iter()
                .filter_map(|id| ProviderKind::parse(id))
                .collect()
        })
    }
}

/// A tier after the rules and the policy's bounds, and what moved it.
#[derive(Debug, Clone, PartialEq)]
pub struct AdjustedTier {
    pub tier: Tier,
    /// Human-readable notes, e.g. "rule tools: at least standard".
    pub notes: Vec<String>,
}

/// Applies the matching rules, then `min_tier` and `max_tier` (the bounds win over rules).
pub fn adjust_tier(
    scored: Tier,
    request: &ChatCompletionRequest,
    policy: &RoutingPolicy,
) -> AdjustedTier {
    let mut tier = scored;
    let mut notes = Vec::new();
    for rule in &policy.rules {
        if !rule.when.matches(request) {
            continue;
        }
        if let Some(floor) = rule.at_least
            && tier < floor
        {
            tier = floor;
            notes.push(format!(
                "rule {}: at least {}",
                rule.when.label(),
                floor.id()
            ));
        }
        if let Some(ceiling) = rule.at_most
            && tier > ceiling
        {
            tier = ceiling;
            notes.push(format!(
                "rule {}: at most {}",
                rule.when.label(),
                ceiling.id()
            ));
        }
    }
    if let Some(min) = policy.min_tier
        && tier < min
    {
        tier = min;
        notes.push(format!("min tier {}", min.id()));
    }
    if let Some(max) = policy.max_tier
        && tier > max
    {
        tier = max;
        notes.push(format!("max tier {}", max.id()));
    }
    AdjustedTier { tier, notes }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
