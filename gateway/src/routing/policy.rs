//! Routing overrides: what an account, or one of its keys, asks of the router. Stored as JSON on
//! the account and on the key; the key's settings win field by field, and rules add up.
//!
//! ```json
//! {"auto_routing": true, "forced_model": null, "threshold": 0.7,
//!  "min_tier": "standard", "max_tier": "strong", "providers": ["anthropic", "openai"],
//!  "rules": [{"when": "tools", "at_least": "standard"},
//!            {"when": {"prompt_tokens_over": 8000}, "at_least": "strong"}]}
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
    #[error("unknown provider '{0}' (expected one of openai, anthropic, gemini, groq, ollama)")]
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
            && crate::routing::models::catalog_chat_model(baseline).is_none()
        {
            return Err(PolicyError::UnknownBaseline(baseline.clone()));
        }
        if let Some(checks) = &self.quality_checks {
            let judge_known = checks
                .judge_model
                .as_deref()
                .is_none_or(|judge| crate::routing::models::catalog_chat_model(judge).is_some());
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
mod tests {
    use super::*;
    use serde_json::json;

    fn request(body: Value) -> ChatCompletionRequest {
        ChatCompletionRequest::from_json_bytes(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn parses_the_documented_shape_and_round_trips() {
        let text = r#"{"auto_routing": true, "threshold": 0.7, "min_tier": "standard", "max_tier": "strong",
            "providers": ["anthropic", "openai"],
            "rules": [{"when": "tools", "at_least": "standard"}, {"when": {"prompt_tokens_over": 8000}, "at_least": "strong"}]}"#;
        let policy = RoutingPolicy::parse(text).unwrap();
        assert_eq!(policy.rules[1].when, Condition::PromptTokensOver(8000));
        assert_eq!(
            policy.allowed_providers().unwrap(),
            vec![ProviderKind::Anthropic, ProviderKind::OpenAi]
        );
        assert_eq!(
            RoutingPolicy::parse(&policy.to_stored().unwrap()).unwrap(),
            policy
        );
        assert_eq!(RoutingPolicy::default().to_stored(), None);
        assert_eq!(
            RoutingPolicy::parse("  ").unwrap(),
            RoutingPolicy::default()
        );
    }

    #[test]
    fn refuses_what_cannot_work() {
        let bad = [
            (r#"{"threshold": 1.5}"#, PolicyError::Threshold),
            (
                r#"{"min_tier": "strong", "max_tier": "cheap"}"#,
                PolicyError::TierOrder,
            ),
            (
                r#"{"providers": ["openai", "azure"]}"#,
                PolicyError::UnknownProvider("azure".into()),
            ),
            (
                r#"{"providers": ["openai", "openai"]}"#,
                PolicyError::DuplicateProvider("openai".into()),
            ),
            (r#"{"providers": []}"#, PolicyError::NoProviders),
            (r#"{"forced_model": " "}"#, PolicyError::EmptyForcedModel),
            (
                r#"{"rules": [{"when": "tools"}]}"#,
                PolicyError::EmptyRule(1),
            ),
        ];
        for (text, expected) in bad {
            assert_eq!(RoutingPolicy::parse(text).unwrap_err(), expected, "{text}");
        }
        assert!(matches!(
            RoutingPolicy::parse(r#"{"max_teir": "cheap"}"#),
            Err(PolicyError::Json(_))
        ));
        assert!(matches!(
            RoutingPolicy::parse(r#"{"rules": [{"when": "sunny", "at_least": "strong"}]}"#),
            Err(PolicyError::Json(_))
        ));
    }

    #[test]
    fn the_key_wins_field_by_field_and_rules_add_up() {
        let account = RoutingPolicy::parse(
            r#"{"threshold": 0.7, "max_tier": "standard", "providers": ["openai"],
            "rules": [{"when": "tools", "at_least": "standard"}]}"#,
        )
        .unwrap();
        let key = RoutingPolicy::parse(
            r#"{"max_tier": "strong", "rules": [{"when": "images", "at_least": "strong"}]}"#,
        )
        .unwrap();
        let merged = RoutingPolicy::merged(&account, Some(&key));
        assert_eq!(merged.threshold, Some(0.7));
        assert_eq!(merged.max_tier, Some(Tier::Strong));
        assert_eq!(merged.providers, Some(vec!["openai".to_owned()]));
        assert_eq!(merged.rules.len(), 2);
        assert_eq!(RoutingPolicy::merged(&account, None), account);
    }

    #[test]
    fn conditions_read_the_request() {
        let plain = request(json!({"messages": [{"role": "user", "content": "hi"}]}));
        let tools = request(json!({"messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}));
        let image = request(json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}]}));
        let json_mode = request(
            json!({"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}}),
        );
        let long =
            request(json!({"messages": [{"role": "user", "content": "word ".repeat(1000)}]}));
        for (condition, yes) in [
            (Condition::Tools, &tools),
            (Condition::Images, &image),
            (Condition::JsonOutput, &json_mode),
            (Condition::PromptTokensOver(1000), &long),
            (Condition::MessagesOver(0), &plain),
        ] {
            assert!(condition.matches(yes), "{condition:?}");
            if condition != Condition::MessagesOver(0) {
                assert!(!condition.matches(&plain), "{condition:?}");
            }
        }
        assert!(!Condition::PromptTokensOver(1300).matches(&long));
        assert!(!Condition::MessagesOver(1).matches(&plain));
    }

    #[test]
    fn rules_raise_and_bounds_clamp() {
        let tools = request(json!({"messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}));
        let policy =
            RoutingPolicy::parse(r#"{"rules": [{"when": "tools", "at_least": "standard"}]}"#)
                .unwrap();
        let adjusted = adjust_tier(Tier::Cheap, &tools, &policy);
        assert_eq!(adjusted.tier, Tier::Standard);
        assert_eq!(
            adjusted.notes,
            vec!["rule tools: at least standard".to_owned()]
        );
        assert_eq!(
            adjust_tier(Tier::Strong, &tools, &policy).tier,
            Tier::Strong
        );

        let capped = RoutingPolicy::parse(
            r#"{"max_tier": "cheap", "rules": [{"when": "tools", "at_least": "strong"}]}"#,
        )
        .unwrap();
        assert_eq!(adjust_tier(Tier::Cheap, &tools, &capped).tier, Tier::Cheap);
        let floored = RoutingPolicy::parse(r#"{"min_tier": "standard"}"#).unwrap();
        assert_eq!(
            adjust_tier(Tier::Cheap, &tools, &floored).tier,
            Tier::Standard
        );
    }
}
