//! A chat request under the account's (and key's) routing policy: forced model, pinned model,
//! or `auto` scored by the router and served by the cheapest model of its tier.

use super::decision::RouteDecision;
use super::models::{Needs, models_for_tier};
use super::pinned::{allowed_providers, default_of, resolve_allowed, resolve_with_fallbacks};
use super::policy::{self, RoutingPolicy};
use super::router::Router;
use super::thresholds::{DEFAULT_THRESHOLDS, Thresholds, auto_thresholds, tier_for_score};
use crate::catalog::Tier;
use crate::error::RequestError;
use crate::openai::ChatCompletionRequest;
use crate::providers::ProviderEndpoint;

/// The thresholds a policy starts from: its own strong threshold (the standard one keeps its
/// distance below), else the trained defaults.
fn base_thresholds(router: &Router, policy: &RoutingPolicy) -> Thresholds {
    let trained = router.thresholds();
    match policy.threshold {
        Some(strong) => Thresholds {
            strong,
            standard: (strong - (trained.strong - trained.standard)).max(0.0),
        },
        None => trained,
    }
}

/// Routes a chat request under the account's (and key's) routing policy: a forced model wins;
/// a pinned model is used as asked (from the allowed providers); `auto` is scored, the tier
/// adjusted by the policy's rules and bounds, and served by the cheapest model of that tier (or
/// the first allowed provider's, when the policy orders them). Then the `models` fallbacks.
pub fn resolve_chat<'a>(
    router: &Router,
    request: &ChatCompletionRequest,
    fallbacks: &[String],
    providers: &'a [ProviderEndpoint],
    policy: &RoutingPolicy,
) -> Result<Vec<RouteDecision<'a>>, RequestError> {
    let allowed = allowed_providers(providers, policy);
    if allowed.is_empty() {
        return Err(if providers.is_empty() {
            RequestError::NoProvider(String::new())
        } else {
            RequestError::NotAllowed(
                "The routing policy allows none of this account's providers.".into(),
            )
        });
    }
    if let Some(forced) = &policy.forced_model {
        let mut decision = resolve_allowed(Some(forced), &allowed, providers)?;
        decision.reason = format!("policy: forced model {forced}");
        return Ok(vec![decision]);
    }
    let Some(thresholds) =
        auto_thresholds(request.model.as_deref(), base_thresholds(router, policy))?
    else {
        return resolve_with_fallbacks(request.model.as_deref(), fallbacks, &allowed, providers);
    };
    let mut decisions = Vec::new();
    if policy.auto_routing == Some(false) {
        decisions.push(default_of(
            allowed[0],
            format!(
                "policy: auto-routing off, default model of {}",
                allowed[0].kind.id()
            ),
        ));
    } else {
        let classification = router.classify(request);
        let scored = tier_for_score(classification.score, thresholds);
        let adjusted = policy::adjust_tier(scored, request, policy);
        let ordered = policy.providers.is_some();
        let needs = Needs::of(request);
        let Some((tier, candidates)) = models_for_tier(
            adjusted.tier,
            policy.min_tier,
            policy.max_tier,
            &allowed,
            ordered,
            &needs,
        ) else {
            if policy.min_tier.is_some() || policy.max_tier.is_some() {
                return Err(RequestError::NotAllowed(format!(
                    "No model of the tiers the routing policy allows ({} to {}) is offered by this account's allowed providers.",
                    policy.min_tier.unwrap_or(Tier::Cheap).id(),
                    policy.max_tier.unwrap_or(Tier::Strong).id(),
                )));
            }
            // No catalog model for these providers: their default models.
            return resolve_with_fallbacks(None, fallbacks, &allowed, providers);
        };
        let mut reason = format!("auto: {} -> {} tier", classification.reason, scored.id());
        for note in &adjusted.notes {
            reason.push_str(&format!(", {note} -> {}", adjusted.tier.id()));
        }
        if tier != adjusted.tier {
            reason.push_str(&format!(", none configured: {}", tier.id()));
        }
        reason.push_str(if ordered {
            ", first allowed provider's model"
        } else {
            ", cheapest model"
        });
        let needed = needs.describe();
        if !needed.is_empty() {
            reason.push_str(&format!(" that takes {}", needed.join(" and ")));
        }
        for (index, (endpoint, entry)) in candidates.into_iter().enumerate() {
            let reason = if index == 0 {
                reason.clone()
            } else {
                format!(
                    "auto fallback: next allowed provider for the {} tier",
                    tier.id()
                )
            };
            decisions.push(RouteDecision {
                endpoint,
                model: entry.model.clone(),
                reason,
                tier: Some(entry.tier),
                routed: true,
            });
        }
    }
    decisions.extend(
        resolve_with_fallbacks(None, fallbacks, &allowed, providers)?
            .into_iter()
            .skip(1),
    );
    Ok(decisions)
}

/// What a request would route to, without sending it: for the portal's overrides page and
/// `POST /v1/routing/preview`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RoutePreview {
    /// `provider/model`.
    pub model: String,
    pub provider: String,
    pub tier: Option<Tier>,
    pub reason: String,
    /// The classifier's score, when the request is auto-routed.
    pub score: Option<f32>,
    /// The models tried next if the first fails, as `provider/model`.
    pub fallbacks: Vec<String>,
}

pub fn preview(
    router: &Router,
    request: &ChatCompletionRequest,
    fallbacks: &[String],
    providers: &[ProviderEndpoint],
    policy: &RoutingPolicy,
) -> Result<RoutePreview, RequestError> {
    let decisions = resolve_chat(router, request, fallbacks, providers, policy)?;
    let name = |decision: &RouteDecision<'_>| {
        format!("{}/{}", decision.endpoint.kind.id(), decision.model)
    };
    let first = &decisions[0];
    let routed = policy.forced_model.is_none()
        && policy.auto_routing != Some(false)
        && auto_thresholds(request.model.as_deref(), DEFAULT_THRESHOLDS)?.is_some();
    Ok(RoutePreview {
        model: name(first),
        provider: first.endpoint.kind.id().to_owned(),
        tier: first.tier,
        reason: first.reason.clone(),
        score: routed.then(|| router.classify(request).score),
        fallbacks: decisions[1..].iter().map(name).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ProviderKind;
    use crate::routing::fixtures::*;

    #[test]
    fn without_a_policy_an_easy_request_gets_the_cheapest_cheap_model() {
        let providers = three_providers();
        let decisions = resolve_chat(
            Router::built_in(),
            &easy(),
            &[],
            &providers,
            &RoutingPolicy::default(),
        )
        .unwrap();
        assert_eq!(decisions.len(), 1);
        assert_eq!(decisions[0].tier, Some(Tier::Cheap));
        assert_eq!(decisions[0].model, "llama-3.1-8b-instant");
        assert!(
            decisions[0].reason.ends_with("cheapest model"),
            "{}",
            decisions[0].reason
        );
    }

    #[test]
    fn a_forced_model_wins_over_auto_and_pinned() {
        let providers = three_providers();
        let forced = policy(r#"{"forced_model": "anthropic/claude-3-5-haiku-latest"}"#);
        for model in ["auto", "gpt-4o"] {
            let request = chat(
                serde_json::json!({"model": model, "messages": [{"role": "user", "content": EASY}]}),
            );
            let decisions = resolve_chat(
                Router::built_in(),
                &request,
                &["gpt-4o-mini".into()],
                &providers,
                &forced,
            )
            .unwrap();
            assert_eq!(decisions.len(), 1, "a forced model has no fallbacks");
            assert_eq!(decisions[0].model, "claude-3-5-haiku-latest");
            assert_eq!(
                decisions[0].reason,
                "policy: forced model anthropic/claude-3-5-haiku-latest"
            );
        }
    }

    #[test]
    fn auto_routing_off_takes_the_first_allowed_default() {
        let providers = three_providers();
        let off = policy(r#"{"auto_routing": false, "providers": ["anthropic", "openai"]}"#);
        let decision =
            &resolve_chat(Router::built_in(), &easy(), &[], &providers, &off).unwrap()[0];
        assert_eq!(decision.model, "claude-3-5-haiku-latest");
        assert!(decision.reason.starts_with("policy: auto-routing off"));
        // A pinned model is unaffected.
        let pinned = chat(
            serde_json::json!({"model": "gpt-4o", "messages": [{"role": "user", "content": EASY}]}),
        );
        assert_eq!(
            resolve_chat(Router::built_in(), &pinned, &[], &providers, &off).unwrap()[0].model,
            "gpt-4o"
        );
    }

    #[test]
    fn min_and_max_tier_bound_the_scored_tier() {
        let providers = three_providers();
        let floor = policy(r#"{"min_tier": "strong"}"#);
        let decision =
            &resolve_chat(Router::built_in(), &easy(), &[], &providers, &floor).unwrap()[0];
        assert_eq!(decision.tier, Some(Tier::Strong));
        assert!(
            decision.reason.contains("min tier strong"),
            "{}",
            decision.reason
        );

        let hard = chat(
            serde_json::json!({"model": "auto:0", "messages": [{"role": "user", "content": EASY}]}),
        );
        assert_eq!(
            resolve_chat(
                Router::built_in(),
                &hard,
                &[],
                &providers,
                &RoutingPolicy::default()
            )
            .unwrap()[0]
                .tier,
            Some(Tier::Strong)
        );
        let ceiling = policy(r#"{"max_tier": "cheap"}"#);
        let decision =
            &resolve_chat(Router::built_in(), &hard, &[], &providers, &ceiling).unwrap()[0];
        assert_eq!(decision.tier, Some(Tier::Cheap));
        assert!(
            decision.reason.contains("max tier cheap"),
            "{}",
            decision.reason
        );

        // Groq alone has no strong model: a floor of strong cannot be met.
        let groq = vec![endpoint(ProviderKind::Groq)];
        assert!(matches!(
            resolve_chat(Router::built_in(), &easy(), &[], &groq, &floor),
            Err(RequestError::NotAllowed(_))
        ));
    }

    #[test]
    fn the_policy_threshold_moves_the_tier() {
        let providers = three_providers();
        let always_strong = policy(r#"{"threshold": 0.0}"#);
        assert_eq!(
            resolve_chat(Router::built_in(), &easy(), &[], &providers, &always_strong).unwrap()[0]
                .tier,
            Some(Tier::Strong)
        );
        let never_strong = policy(r#"{"threshold": 1.0}"#);
        let hard = chat(
            serde_json::json!({"messages": [{"role": "user", "content": "Prove that there are infinitely many primes p such that p + 2 is also prime, or explain precisely why no proof is known, step by step."}]}),
        );
        assert_ne!(
            resolve_chat(Router::built_in(), &hard, &[], &providers, &never_strong).unwrap()[0]
                .tier,
            Some(Tier::Strong)
        );
        // The request's own mode still applies on top: auto:0 overrides the policy's threshold.
        let request = chat(
            serde_json::json!({"model": "auto:0", "messages": [{"role": "user", "content": EASY}]}),
        );
        assert_eq!(
            resolve_chat(Router::built_in(), &request, &[], &providers, &never_strong).unwrap()[0]
                .tier,
            Some(Tier::Strong)
        );
    }

    #[test]
    fn allowed_providers_restrict_and_order() {
        let providers = three_providers();
        let ordered = policy(r#"{"providers": ["anthropic", "openai"]}"#);
        let decisions =
            resolve_chat(Router::built_in(), &easy(), &[], &providers, &ordered).unwrap();
        // Groq's cheaper model is not allowed; Anthropic comes first, OpenAI is the fallback.
        assert_eq!(
            decisions
                .iter()
                .map(|d| d.endpoint.kind)
                .collect::<Vec<_>>(),
            vec![ProviderKind::Anthropic, ProviderKind::OpenAi]
        );
        assert_eq!(decisions[0].tier, Some(Tier::Cheap));
        assert!(decisions[1].reason.starts_with("auto fallback"));

        let pinned_groq = chat(
            serde_json::json!({"model": "llama-3.1-8b-instant", "messages": [{"role": "user", "content": EASY}]}),
        );
        let err =
            resolve_chat(Router::built_in(), &pinned_groq, &[], &providers, &ordered).unwrap_err();
        assert!(
            matches!(err, RequestError::NotAllowed(ref m) if m.contains("llama-3.1-8b-instant")),
            "{err:?}"
        );
        // A fallback to a forbidden provider is refused too, naming the fallback.
        let pinned_openai = chat(
            serde_json::json!({"model": "gpt-4o", "messages": [{"role": "user", "content": EASY}]}),
        );
        let err = resolve_chat(
            Router::built_in(),
            &pinned_openai,
            &["groq/llama-3.1-8b-instant".into()],
            &providers,
            &ordered,
        )
        .unwrap_err();
        assert!(
            matches!(err, RequestError::InvalidField { ref param, .. } if param == "models[0]"),
            "{err:?}"
        );

        let only_gemini = policy(r#"{"providers": ["gemini"]}"#);
        assert!(matches!(
            resolve_chat(Router::built_in(), &easy(), &[], &providers, &only_gemini),
            Err(RequestError::NotAllowed(_))
        ));
    }

    #[test]
    fn a_client_budget_does_not_lift_the_tier() {
        let providers = three_providers();
        let route = |budget: Option<u64>| {
            let mut body = serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": "Say hello, please."}]});
            if let Some(budget) = budget {
                body["max_tokens"] = serde_json::json!(budget);
            }
            let request = chat(body);
            let decision = &resolve_chat(
                Router::built_in(),
                &request,
                &[],
                &providers,
                &RoutingPolicy::default(),
            )
            .unwrap()[0];
            (
                Router::built_in().classify(&request).score,
                decision.model.clone(),
            )
        };
        assert_eq!(route(None), route(Some(4096)));
        assert_eq!(route(None), route(Some(32000)));
    }

    #[test]
    fn claude_codes_output_budget_does_not_move_its_score() {
        // Claude Code 2.1.332's main turn on `auto`, as captured (tests/clients/fixtures).
        let turn: serde_json::Value = serde_json::from_str(include_str!(
            "../../../tests/clients/fixtures/claude-code/main-turn-auto.json"
        ))
        .unwrap();
        let (mut converted, _) = crate::dialects::messages::to_chat_request(&turn).unwrap();
        let with_budget = chat(converted.clone());
        converted.as_object_mut().unwrap().remove("max_tokens");
        let without = chat(converted);
        let score = |request| Router::built_in().classify(request).score;
        assert_eq!(score(&with_budget), score(&without));
    }

    #[test]
    fn auto_considers_only_models_that_can_serve_the_request() {
        // Groq's cheap model is the cheapest of all, but takes no images.
        let providers = three_providers();
        let cheap_only = policy(r#"{"max_tier": "cheap"}"#);
        let with_image = chat(
            serde_json::json!({"model": "auto:1", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "hi"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}]}),
        );
        let decision = &resolve_chat(
            Router::built_in(),
            &with_image,
            &[],
            &providers,
            &cheap_only,
        )
        .unwrap()[0];
        assert_eq!(decision.model, "gpt-4.1-nano");
        assert!(
            decision
                .reason
                .ends_with("cheapest model that takes images"),
            "{}",
            decision.reason
        );
        // A prompt longer than a model's context window skips it.
        let long = "word ".repeat(140_000);
        let long = chat(
            serde_json::json!({"model": "auto:1", "messages": [{"role": "user", "content": long}]}),
        );
        let groq = vec![endpoint(ProviderKind::Groq), endpoint(ProviderKind::OpenAi)];
        let decision =
            &resolve_chat(Router::built_in(), &long, &[], &groq, &cheap_only).unwrap()[0];
        assert_eq!(decision.model, "gpt-4.1-nano");
        // When no model can, the cheapest is tried anyway and the provider judges.
        let only_groq = vec![endpoint(ProviderKind::Groq)];
        let decision = &resolve_chat(
            Router::built_in(),
            &with_image,
            &[],
            &only_groq,
            &cheap_only,
        )
        .unwrap()[0];
        assert_eq!(decision.model, "llama-3.1-8b-instant");
    }

    #[test]
    fn thinking_asked_for_prefers_a_model_that_thinks_within_the_tier() {
        let cheap_only = policy(r#"{"max_tier": "cheap"}"#);
        let thinking = |effort: Option<&str>| {
            let mut body = serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": EASY}]});
            if let Some(effort) = effort {
                body["reasoning_effort"] = serde_json::json!(effort);
            }
            chat(body)
        };
        let anthropic = vec![endpoint(ProviderKind::Anthropic)];
        let route = |request: &ChatCompletionRequest, providers: &[ProviderEndpoint]| {
            resolve_chat(Router::built_in(), request, &[], providers, &cheap_only).unwrap()[0]
                .model
                .clone()
        };
        // Claude 3 Haiku is the cheapest cheap Claude, but does not think; Haiku 4.5 does.
        assert_eq!(
            route(&thinking(None), &anthropic),
            "claude-3-haiku-20240307"
        );
        assert_eq!(
            route(&thinking(Some("high")), &anthropic),
            "claude-haiku-4-5"
        );
        // No cheap OpenAI model reasons: the tier stays, and the cheapest serves (adapted).
        let openai = vec![endpoint(ProviderKind::OpenAi)];
        assert_eq!(route(&thinking(Some("high")), &openai), "gpt-4.1-nano");
    }

    #[test]
    fn rules_lift_requests_with_tools() {
        let providers = three_providers();
        // A threshold of 1 keeps the score itself from reaching past cheap.
        let rule =
            policy(r#"{"threshold": 1.0, "rules": [{"when": "tools", "at_least": "standard"}]}"#);
        let with_tools = chat(
            serde_json::json!({"messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]}),
        );
        let plain = chat(serde_json::json!({"messages": [{"role": "user", "content": "hi"}]}));
        let tooled =
            &resolve_chat(Router::built_in(), &with_tools, &[], &providers, &rule).unwrap()[0];
        assert_eq!(tooled.tier, Some(Tier::Standard));
        assert!(
            tooled
                .reason
                .contains("cheap tier, rule tools: at least standard -> standard"),
            "{}",
            tooled.reason
        );
        assert_eq!(
            resolve_chat(Router::built_in(), &plain, &[], &providers, &rule).unwrap()[0].tier,
            Some(Tier::Cheap)
        );
    }
}
