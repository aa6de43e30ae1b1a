//! Which provider and model serve a request. A pinned model is used exactly as asked. `auto` (or
//! no model) is routed: the classifier scores the request, thresholds turn the score into a tier,
//! and the policy takes the cheapest model of that tier among the account's providers.

pub mod classifier;
pub mod policy;
pub mod semantic;
pub mod semantic_train;
pub mod train;
pub mod wordpiece;

use std::path::Path;
use std::sync::OnceLock;

use crate::catalog::{Catalog, CatalogModel, ModelKind, Tier};
use crate::error::RequestError;
use crate::openai::ChatCompletionRequest;
use crate::providers::{ProviderEndpoint, ProviderKind};

pub use policy::RoutingPolicy;

/// Scores `auto` requests: the semantic model when its files load, else the surface classifier
/// (hashed n-grams and request shapes), which says so in every route reason.
pub struct Router {
    semantic: Option<semantic::SemanticModel>,
    /// Why the semantic model is not in use.
    unavailable: Option<String>,
}

impl Router {
    /// Loads the semantic model from `dir`; a missing or broken model is logged as an error and
    /// the surface classifier takes over, so requests are still routed.
    pub fn load(dir: &Path) -> Self {
        match semantic::SemanticModel::load(dir) {
            Ok(model) => {
                tracing::info!(
                    dir = %dir.display(),
                    dims = model.table.dims(),
                    "semantic router loaded"
                );
                Self::semantic(model)
            }
            Err(err) => {
                tracing::error!(
                    error = %err,
                    "semantic router unavailable; auto-routing falls back to the surface classifier"
                );
                Self::surface(err.to_string())
            }
        }
    }

    pub fn semantic(model: semantic::SemanticModel) -> Self {
        Self {
            semantic: Some(model),
            unavailable: None,
        }
    }

    /// The surface classifier alone; `why` is kept for [`Router::status`].
    pub fn surface(why: impl Into<String>) -> Self {
        Self {
            semantic: None,
            unavailable: Some(why.into()),
        }
    }

    /// The shipped model, loaded once (CLI, tests, previews without a running state).
    pub fn built_in() -> &'static Router {
        static ROUTER: OnceLock<Router> = OnceLock::new();
        ROUTER.get_or_init(|| Router::load(&semantic::default_model_dir()))
    }

    pub fn is_semantic(&self) -> bool {
        self.semantic.is_some()
    }

    /// One line for operators: which classifier routes, and why not the semantic one.
    pub fn status(&self) -> String {
        match (&self.semantic, &self.unavailable) {
            (Some(model), _) => format!(
                "semantic router ({} dims, table sha256 {})",
                model.table.dims(),
                &model.table.sha256[..12]
            ),
            (None, Some(why)) => format!("surface classifier (semantic router unavailable: {why})"),
            (None, None) => "surface classifier".into(),
        }
    }

    pub fn classify(&self, request: &ChatCompletionRequest) -> classifier::Classification {
        match &self.semantic {
            Some(model) => model.classify(request),
            None => {
                let mut classification = classifier::classify(request);
                classification.reason = format!(
                    "semantic model unavailable, surface classifier: {}",
                    classification.reason
                );
                classification
            }
        }
    }

    /// The default thresholds calibrated with the model in use.
    pub fn thresholds(&self) -> Thresholds {
        match &self.semantic {
            Some(model) => model.head.thresholds,
            None => classifier::Weights::built_in().thresholds,
        }
    }
}

#[derive(Debug)]
pub struct RouteDecision<'a> {
    pub endpoint: &'a ProviderEndpoint,
    /// The model name as the provider knows it (no `provider/` prefix).
    pub model: String,
    /// Why this model, for the `x-gateway-route-reason` header.
    pub reason: String,
    /// The model's tier, when the catalog knows it.
    pub tier: Option<Tier>,
}

pub const AUTO: &str = "auto";

/// Score thresholds between tiers: below the first → cheap, below the second → standard, else
/// strong.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Thresholds {
    pub standard: f32,
    pub strong: f32,
}

/// Set by policy, not learned: the ranking metrics do not depend on them, and they express how
/// much quality a user buys (`auto:eco`, `auto:quality`, `auto:<n>` move them).
pub const DEFAULT_THRESHOLDS: Thresholds = Thresholds {
    standard: 0.5,
    strong: 0.62,
};

/// How far `auto:eco` and `auto:quality` move both thresholds.
const MODE_SHIFT: f32 = 0.1;

/// Reads `auto`, `auto:eco`, `auto:quality` and `auto:<0..1>` (the strong threshold; the
/// standard one keeps its distance below it). `None` for a pinned model.
pub fn auto_thresholds(
    requested: Option<&str>,
    base: Thresholds,
) -> Result<Option<Thresholds>, RequestError> {
    let requested = requested.map(str::trim).unwrap_or_default();
    let mode = match requested {
        "" | AUTO => return Ok(Some(base)),
        other => match other.strip_prefix("auto:") {
            Some(mode) => mode,
            None => return Ok(None),
        },
    };
    let shifted = |by: f32| Thresholds {
        standard: (base.standard + by).clamp(0.0, 1.0),
        strong: (base.strong + by).clamp(0.0, 1.0),
    };
    match mode {
        "eco" => Ok(Some(shifted(MODE_SHIFT))),
        "quality" => Ok(Some(shifted(-MODE_SHIFT))),
        number => match number.parse::<f32>() {
            Ok(strong) if (0.0..=1.0).contains(&strong) => Ok(Some(Thresholds {
                strong,
                standard: (strong - (base.strong - base.standard)).max(0.0),
            })),
            _ => Err(RequestError::InvalidField {
                param: "model".into(),
                reason: "expected auto, auto:eco, auto:quality or auto:<threshold between 0 and 1>"
                    .into(),
            }),
        },
    }
}

pub fn tier_for_score(score: f32, thresholds: Thresholds) -> Tier {
    if score >= thresholds.strong {
        Tier::Strong
    } else if score >= thresholds.standard {
        Tier::Standard
    } else {
        Tier::Cheap
    }
}

pub fn resolve<'a>(
    requested: Option<&str>,
    providers: &[&'a ProviderEndpoint],
) -> Result<RouteDecision<'a>, RequestError> {
    let Some(&first) = providers.first() else {
        return Err(RequestError::NoProvider(String::new()));
    };
    let requested = requested
        .map(str::trim)
        .filter(|model| !model.is_empty() && *model != AUTO);
    let Some(requested) = requested else {
        return Ok(default_of(
            first,
            format!("auto: default model of {}", first.kind.id()),
        ));
    };
    if let Some((provider_id, model)) = requested.split_once('/')
        && let Some(kind) = ProviderKind::parse(provider_id)
    {
        let Some(&endpoint) = providers.iter().find(|endpoint| endpoint.kind == kind) else {
            return Err(RequestError::NoProvider(format!(
                " for {}",
                kind.display_name()
            )));
        };
        if model.is_empty() {
            return Err(RequestError::UnknownModel(requested.to_owned()));
        }
        return Ok(pinned(endpoint, model));
    }
    // A bare name: the catalog says who serves it, else the provider whose naming it follows.
    let catalog = Catalog::built_in();
    let owners: Vec<ProviderKind> = catalog
        .providers_of(requested)
        .chain(
            ProviderKind::ALL
                .iter()
                .copied()
                .filter(|kind| kind.owns_bare_model(requested)),
        )
        .collect();
    let Some(&first_owner) = owners.first() else {
        return Err(RequestError::UnknownModel(requested.to_owned()));
    };
    let Some(endpoint) = owners.iter().find_map(|owner| {
        providers
            .iter()
            .copied()
            .find(|endpoint| endpoint.kind == *owner)
    }) else {
        return Err(RequestError::NoProvider(format!(
            " for {}",
            first_owner.display_name()
        )));
    };
    Ok(pinned(endpoint, requested))
}

fn default_of<'a>(endpoint: &'a ProviderEndpoint, reason: String) -> RouteDecision<'a> {
    let model = endpoint.kind.default_model();
    RouteDecision {
        endpoint,
        model: model.to_owned(),
        reason,
        tier: Catalog::built_in()
            .find(endpoint.kind, model)
            .map(|m| m.tier),
    }
}

fn pinned<'a>(endpoint: &'a ProviderEndpoint, model: &str) -> RouteDecision<'a> {
    RouteDecision {
        endpoint,
        model: model.to_owned(),
        reason: "pinned: requested model".into(),
        tier: Catalog::built_in()
            .find(endpoint.kind, model)
            .map(|m| m.tier),
    }
}

/// The account's providers that the policy allows, in the policy's order (else as added).
pub fn allowed_providers<'a>(
    providers: &'a [ProviderEndpoint],
    policy: &RoutingPolicy,
) -> Vec<&'a ProviderEndpoint> {
    match policy.allowed_providers() {
        None => providers.iter().collect(),
        Some(order) => order
            .iter()
            .filter_map(|kind| providers.iter().find(|endpoint| endpoint.kind == *kind))
            .collect(),
    }
}

/// A resolution against the allowed providers; when only the policy stands in the way, says so.
fn resolve_allowed<'a>(
    requested: Option<&str>,
    allowed: &[&'a ProviderEndpoint],
    all: &[ProviderEndpoint],
) -> Result<RouteDecision<'a>, RequestError> {
    resolve(requested, allowed).map_err(|err| match err {
        RequestError::NoProvider(_)
            if resolve(requested, &all.iter().collect::<Vec<_>>()).is_ok() =>
        {
            RequestError::NotAllowed(format!(
                "The routing policy of this account or key does not allow the provider of '{}'.",
                requested.unwrap_or(AUTO)
            ))
        }
        other => other,
    })
}

/// An embeddings model: always pinned, from the allowed providers.
pub fn resolve_embedding<'a>(
    model: &str,
    providers: &'a [ProviderEndpoint],
    policy: &RoutingPolicy,
) -> Result<RouteDecision<'a>, RequestError> {
    resolve_allowed(
        Some(model),
        &allowed_providers(providers, policy),
        providers,
    )
}

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
        let Some((tier, candidates)) = models_for_tier(
            adjusted.tier,
            policy.min_tier,
            policy.max_tier,
            &allowed,
            ordered,
        ) else {
            if policy.min_tier.is_some() || policy.max_tier.is_some() {
                return Err(RequestError::NotAllowed(format!(
                    "No model of the tiers the routing policy allows ({} to {}) is offered by this account's allowed providers.",
                    tier_name(policy.min_tier.unwrap_or(Tier::Cheap)),
                    tier_name(policy.max_tier.unwrap_or(Tier::Strong)),
                )));
            }
            // No catalog model for these providers: their default models.
            return resolve_with_fallbacks(None, fallbacks, &allowed, providers);
        };
        let mut reason = format!(
            "auto: {} -> {} tier",
            classification.reason,
            tier_name(scored)
        );
        for note in &adjusted.notes {
            reason.push_str(&format!(", {note} -> {}", tier_name(adjusted.tier)));
        }
        if tier != adjusted.tier {
            reason.push_str(&format!(", none configured: {}", tier_name(tier)));
        }
        reason.push_str(if ordered {
            ", first allowed provider's model"
        } else {
            ", cheapest model"
        });
        for (index, (endpoint, entry)) in candidates.into_iter().enumerate() {
            let reason = if index == 0 {
                reason.clone()
            } else {
                format!(
                    "auto fallback: next allowed provider for the {} tier",
                    tier_name(tier)
                )
            };
            decisions.push(RouteDecision {
                endpoint,
                model: entry.model.clone(),
                reason,
                tier: Some(entry.tier),
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

pub fn tier_name(tier: Tier) -> &'static str {
    match tier {
        Tier::Cheap => "cheap",
        Tier::Standard => "standard",
        Tier::Strong => "strong",
    }
}

fn blended_price(model: &CatalogModel) -> f64 {
    model.input_per_mtok + model.output_per_mtok
}

/// The account's chat models from the catalog, with their endpoints.
fn chat_models<'a, 'p>(
    providers: &'p [&'a ProviderEndpoint],
) -> impl Iterator<Item = (&'a ProviderEndpoint, &'static CatalogModel)> + 'p {
    providers.iter().flat_map(|&endpoint| {
        Catalog::built_in()
            .models_of(endpoint.kind)
            .filter(|m| m.kind == ModelKind::Chat)
            .map(move |m| (endpoint, m))
    })
}

/// Which tiers to try for a wanted one: itself, then the nearest above, then the nearest below.
fn tier_search_order(tier: Tier) -> [Tier; 3] {
    match tier {
        Tier::Cheap => [Tier::Cheap, Tier::Standard, Tier::Strong],
        Tier::Standard => [Tier::Standard, Tier::Strong, Tier::Cheap],
        Tier::Strong => [Tier::Strong, Tier::Standard, Tier::Cheap],
    }
}

/// The cheapest model of `tier`; when no provider offers that tier, the nearest tier above, then
/// the nearest below.
pub fn cheapest_of_tier<'a>(
    tier: Tier,
    providers: &[&'a ProviderEndpoint],
) -> Option<(&'a ProviderEndpoint, &'static CatalogModel)> {
    models_for_tier(tier, None, None, providers, false)
        .and_then(|(_, models)| models.into_iter().next())
}

/// The models to try for a wanted tier within `[min, max]`, with the tier found: the nearest
/// tier any allowed provider offers. Unordered: the cheapest model of that tier alone. Ordered:
/// each provider's cheapest model of that tier, in the providers' order (the later ones are
/// fallbacks).
fn models_for_tier<'a>(
    wanted: Tier,
    min: Option<Tier>,
    max: Option<Tier>,
    providers: &[&'a ProviderEndpoint],
    ordered: bool,
) -> Option<(Tier, Vec<(&'a ProviderEndpoint, &'static CatalogModel)>)> {
    let in_bounds =
        |tier: Tier| min.is_none_or(|min| tier >= min) && max.is_none_or(|max| tier <= max);
    tier_search_order(wanted)
        .into_iter()
        .filter(|&tier| in_bounds(tier))
        .find_map(|tier| {
            let cheapest_first =
                |a: &(&ProviderEndpoint, &CatalogModel), b: &(&ProviderEndpoint, &CatalogModel)| {
                    blended_price(a.1).total_cmp(&blended_price(b.1))
                };
            let models: Vec<_> = if ordered {
                providers
                    .iter()
                    .filter_map(|&endpoint| {
                        chat_models(std::slice::from_ref(&endpoint))
                            .filter(|(_, m)| m.tier == tier)
                            .min_by(cheapest_first)
                    })
                    .collect()
            } else {
                chat_models(providers)
                    .filter(|(_, m)| m.tier == tier)
                    .min_by(cheapest_first)
                    .into_iter()
                    .collect()
            };
            (!models.is_empty()).then_some((tier, models))
        })
}

/// The account's strongest model (highest tier, then highest price): what a request would have
/// used without routing.
pub fn baseline_model(providers: &[ProviderEndpoint]) -> Option<&'static CatalogModel> {
    let providers: Vec<&ProviderEndpoint> = providers.iter().collect();
    chat_models(&providers).map(|(_, m)| m).max_by(|a, b| {
        a.tier
            .cmp(&b.tier)
            .then(blended_price(a).total_cmp(&blended_price(b)))
    })
}

/// The requested model, then each fallback (OpenRouter's `models` array), resolved in order
/// among the allowed providers.
pub fn resolve_with_fallbacks<'a>(
    requested: Option<&str>,
    fallbacks: &[String],
    allowed: &[&'a ProviderEndpoint],
    all: &[ProviderEndpoint],
) -> Result<Vec<RouteDecision<'a>>, RequestError> {
    let mut decisions = vec![resolve_allowed(requested, allowed, all)?];
    for (index, fallback) in fallbacks.iter().enumerate() {
        let mut decision = resolve_allowed(Some(fallback), allowed, all).map_err(|err| {
            RequestError::InvalidField {
                param: format!("models[{index}]"),
                reason: err.to_string(),
            }
        })?;
        decision.reason = format!("fallback {}: {}", index + 1, decision.reason);
        decisions.push(decision);
    }
    Ok(decisions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ProviderSecret;

    fn endpoint(kind: ProviderKind) -> ProviderEndpoint {
        ProviderEndpoint {
            kind,
            base_url: "http://127.0.0.1:1".into(),
            api_key: ProviderSecret::new("k".into()),
        }
    }

    fn refs(providers: &[ProviderEndpoint]) -> Vec<&ProviderEndpoint> {
        providers.iter().collect()
    }

    fn openai() -> Vec<ProviderEndpoint> {
        vec![ProviderEndpoint {
            kind: ProviderKind::OpenAi,
            base_url: "http://127.0.0.1:1/v1".into(),
            api_key: ProviderSecret::new("sk-test".into()),
        }]
    }

    #[test]
    fn pinned_models_are_kept_exactly() {
        let providers = openai();
        let decision = resolve(Some("gpt-4o"), &refs(&providers)).unwrap();
        assert_eq!(decision.model, "gpt-4o");
        assert!(decision.reason.starts_with("pinned"));
        assert_eq!(
            resolve(Some("openai/gpt-4.1-nano"), &refs(&providers))
                .unwrap()
                .model,
            "gpt-4.1-nano"
        );
    }

    #[test]
    fn auto_and_absent_use_the_default() {
        let providers = openai();
        for requested in [None, Some("auto"), Some("")] {
            let decision = resolve(requested, &refs(&providers)).unwrap();
            assert_eq!(decision.model, "gpt-4o-mini");
            assert!(decision.reason.starts_with("auto"));
        }
    }

    #[test]
    fn auto_modes_move_the_thresholds() {
        let base = DEFAULT_THRESHOLDS;
        assert_eq!(auto_thresholds(None, base).unwrap(), Some(base));
        assert_eq!(auto_thresholds(Some("auto"), base).unwrap(), Some(base));
        assert!(
            auto_thresholds(Some("auto:eco"), base)
                .unwrap()
                .unwrap()
                .strong
                > base.strong
        );
        assert!(
            auto_thresholds(Some("auto:quality"), base)
                .unwrap()
                .unwrap()
                .strong
                < base.strong
        );
        assert_eq!(
            auto_thresholds(Some("auto:0.8"), base)
                .unwrap()
                .unwrap()
                .strong,
            0.8
        );
        assert_eq!(auto_thresholds(Some("gpt-4o"), base).unwrap(), None);
        assert!(auto_thresholds(Some("auto:2"), base).is_err());
        assert!(auto_thresholds(Some("auto:cheapest"), base).is_err());
    }

    #[test]
    fn the_policy_takes_the_cheapest_of_a_tier_or_the_nearest_above() {
        let providers = openai();
        let (_, cheap) = cheapest_of_tier(Tier::Cheap, &refs(&providers)).unwrap();
        assert_eq!(cheap.model, "gpt-4.1-nano");
        let (_, strong) = cheapest_of_tier(Tier::Strong, &refs(&providers)).unwrap();
        assert_eq!(strong.tier, Tier::Strong);
        assert_eq!(baseline_model(&providers).unwrap().model, "gpt-4o");
        // Groq has no strong model: a strong request gets the nearest below.
        let groq = vec![ProviderEndpoint {
            kind: ProviderKind::Groq,
            base_url: "http://x".into(),
            api_key: ProviderSecret::new("k".into()),
        }];
        assert_eq!(
            cheapest_of_tier(Tier::Strong, &refs(&groq))
                .unwrap()
                .1
                .model,
            "llama-3.3-70b-versatile"
        );
        // Ollama has only a cheap model: every tier falls back to it.
        let ollama = vec![ProviderEndpoint {
            kind: ProviderKind::Ollama,
            base_url: "http://x".into(),
            api_key: ProviderSecret::new(String::new()),
        }];
        assert_eq!(
            cheapest_of_tier(Tier::Strong, &refs(&ollama))
                .unwrap()
                .1
                .model,
            "llama3.2"
        );
    }

    #[test]
    fn unknown_and_unconfigured() {
        let providers = openai();
        assert_eq!(
            resolve(Some("llama-9000"), &refs(&providers)).unwrap_err(),
            RequestError::UnknownModel("llama-9000".into())
        );
        assert!(
            matches!(resolve(Some("claude-3-5-haiku-latest"), &refs(&providers)), Err(RequestError::NoProvider(p)) if p.contains("Anthropic"))
        );
        assert!(
            matches!(resolve(Some("llama3.2"), &refs(&providers)), Err(RequestError::NoProvider(p)) if p.contains("Ollama"))
        );
        assert_eq!(
            resolve(Some("openai/"), &refs(&providers)).unwrap_err(),
            RequestError::UnknownModel("openai/".into())
        );
        assert!(matches!(
            resolve(Some("gpt-4o"), &[]),
            Err(RequestError::NoProvider(_))
        ));
    }

    fn chat(body: serde_json::Value) -> ChatCompletionRequest {
        ChatCompletionRequest::from_json_bytes(body.to_string().as_bytes()).unwrap()
    }

    fn policy(json: &str) -> RoutingPolicy {
        RoutingPolicy::parse(json).unwrap()
    }

    const EASY: &str = "What is the capital of France?";

    fn easy() -> ChatCompletionRequest {
        chat(serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": EASY}]}))
    }

    fn three_providers() -> Vec<ProviderEndpoint> {
        vec![
            endpoint(ProviderKind::OpenAi),
            endpoint(ProviderKind::Anthropic),
            endpoint(ProviderKind::Groq),
        ]
    }

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
