//! Which provider and model serve a request. A pinned model is used exactly as asked. `auto` (or
//! no model) is routed: the classifier scores the request, thresholds turn the score into a tier,
//! and the policy takes the cheapest model of that tier among the account's providers.

pub mod classifier;
pub mod train;

use crate::catalog::{Catalog, CatalogModel, ModelKind, Tier};
use crate::openai::ChatCompletionRequest;
use crate::error::RequestError;
use crate::providers::{ProviderEndpoint, ProviderKind};

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
pub const DEFAULT_THRESHOLDS: Thresholds = Thresholds { standard: 0.5, strong: 0.62 };

/// How far `auto:eco` and `auto:quality` move both thresholds.
const MODE_SHIFT: f32 = 0.1;

/// Reads `auto`, `auto:eco`, `auto:quality` and `auto:<0..1>` (the strong threshold; the
/// standard one keeps its distance below it). `None` for a pinned model.
pub fn auto_thresholds(requested: Option<&str>, base: Thresholds) -> Result<Option<Thresholds>, RequestError> {
    let requested = requested.map(str::trim).unwrap_or_default();
    let mode = match requested {
        "" | AUTO => return Ok(Some(base)),
        other => match other.strip_prefix("auto:") {
            Some(mode) => mode,
            None => return Ok(None),
        },
    };
    let shifted = |by: f32| Thresholds { standard: (base.standard + by).clamp(0.0, 1.0), strong: (base.strong + by).clamp(0.0, 1.0) };
    match mode {
        "eco" => Ok(Some(shifted(MODE_SHIFT))),
        "quality" => Ok(Some(shifted(-MODE_SHIFT))),
        number => match number.parse::<f32>() {
            Ok(strong) if (0.0..=1.0).contains(&strong) => {
                Ok(Some(Thresholds { strong, standard: (strong - (base.strong - base.standard)).max(0.0) }))
            }
            _ => Err(RequestError::InvalidField {
                param: "model".into(),
                reason: "expected auto, auto:eco, auto:quality or auto:<threshold between 0 and 1>".into(),
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
    providers: &'a [ProviderEndpoint],
) -> Result<RouteDecision<'a>, RequestError> {
    let Some(first) = providers.first() else {
        return Err(RequestError::NoProvider(String::new()));
    };
    let requested = requested.map(str::trim).filter(|model| !model.is_empty() && *model != AUTO);
    let Some(requested) = requested else {
        return Ok(RouteDecision {
            endpoint: first,
            model: first.kind.default_model().to_owned(),
            reason: format!("auto: default model of {}", first.kind.id()),
            tier: Catalog::built_in().find(first.kind, first.kind.default_model()).map(|m| m.tier),
        });
    };
    if let Some((provider_id, model)) = requested.split_once('/')
        && let Some(kind) = ProviderKind::parse(provider_id)
    {
        let Some(endpoint) = providers.iter().find(|endpoint| endpoint.kind == kind) else {
            return Err(RequestError::NoProvider(format!(" for {}", kind.display_name())));
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
        .chain(ProviderKind::ALL.iter().copied().filter(|kind| kind.owns_bare_model(requested)))
        .collect();
    let Some(&first_owner) = owners.first() else {
        return Err(RequestError::UnknownModel(requested.to_owned()));
    };
    let Some(endpoint) = owners.iter().find_map(|owner| providers.iter().find(|endpoint| endpoint.kind == *owner)) else {
        return Err(RequestError::NoProvider(format!(" for {}", first_owner.display_name())));
    };
    Ok(pinned(endpoint, requested))
}

fn pinned<'a>(endpoint: &'a ProviderEndpoint, model: &str) -> RouteDecision<'a> {
    RouteDecision {
        endpoint,
        model: model.to_owned(),
        reason: "pinned: requested model".into(),
        tier: Catalog::built_in().find(endpoint.kind, model).map(|m| m.tier),
    }
}

/// Routes a chat request: auto-routed when its model asks for it, else pinned; then the
/// fallbacks of its `models` array.
pub fn resolve_chat<'a>(
    request: &ChatCompletionRequest,
    fallbacks: &[String],
    providers: &'a [ProviderEndpoint],
) -> Result<Vec<RouteDecision<'a>>, RequestError> {
    let base = classifier::Weights::built_in().thresholds;
    let Some(thresholds) = auto_thresholds(request.model.as_deref(), base)? else {
        return resolve_with_fallbacks(request.model.as_deref(), fallbacks, providers);
    };
    if providers.is_empty() {
        return Err(RequestError::NoProvider(String::new()));
    }
    let classification = classifier::classify(request);
    let wanted = tier_for_score(classification.score, thresholds);
    let Some((endpoint, entry)) = cheapest_of_tier(wanted, providers) else {
        // No catalog model for these providers: their default models.
        return resolve_with_fallbacks(None, fallbacks, providers);
    };
    let reason = if entry.tier == wanted {
        format!("auto: {} -> {} tier, cheapest {} model", classification.reason, tier_name(wanted), tier_name(wanted))
    } else {
        format!("auto: {} -> {} tier, none configured: {}", classification.reason, tier_name(wanted), tier_name(entry.tier))
    };
    let mut decisions = vec![RouteDecision { endpoint, model: entry.model.clone(), reason, tier: Some(entry.tier) }];
    decisions.extend(resolve_with_fallbacks(None, fallbacks, providers)?.into_iter().skip(1));
    Ok(decisions)
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
fn chat_models<'a>(providers: &'a [ProviderEndpoint]) -> impl Iterator<Item = (&'a ProviderEndpoint, &'static CatalogModel)> {
    providers.iter().flat_map(|endpoint| {
        Catalog::built_in().models_of(endpoint.kind).filter(|m| m.kind == ModelKind::Chat).map(move |m| (endpoint, m))
    })
}

/// The cheapest model of `tier`; when no provider offers that tier, the nearest tier above, then
/// the nearest below.
pub fn cheapest_of_tier(tier: Tier, providers: &[ProviderEndpoint]) -> Option<(&ProviderEndpoint, &'static CatalogModel)> {
    let order: &[Tier] = match tier {
        Tier::Cheap => &[Tier::Cheap, Tier::Standard, Tier::Strong],
        Tier::Standard => &[Tier::Standard, Tier::Strong, Tier::Cheap],
        Tier::Strong => &[Tier::Strong, Tier::Standard, Tier::Cheap],
    };
    order.iter().find_map(|&tier| {
        chat_models(providers)
            .filter(|(_, m)| m.tier == tier)
            .min_by(|a, b| blended_price(a.1).total_cmp(&blended_price(b.1)))
    })
}

/// The account's strongest model (highest tier, then highest price): what a request would have
/// used without routing.
pub fn baseline_model(providers: &[ProviderEndpoint]) -> Option<&'static CatalogModel> {
    chat_models(providers)
        .map(|(_, m)| m)
        .max_by(|a, b| a.tier.cmp(&b.tier).then(blended_price(a).total_cmp(&blended_price(b))))
}

/// The requested model, then each fallback (OpenRouter's `models` array), resolved in order.
pub fn resolve_with_fallbacks<'a>(
    requested: Option<&str>,
    fallbacks: &[String],
    providers: &'a [ProviderEndpoint],
) -> Result<Vec<RouteDecision<'a>>, RequestError> {
    let mut decisions = vec![resolve(requested, providers)?];
    for (index, fallback) in fallbacks.iter().enumerate() {
        let mut decision = resolve(Some(fallback), providers).map_err(|err| RequestError::InvalidField {
            param: format!("models[{index}]"),
            reason: err.to_string(),
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
        let decision = resolve(Some("gpt-4o"), &providers).unwrap();
        assert_eq!(decision.model, "gpt-4o");
        assert!(decision.reason.starts_with("pinned"));
        assert_eq!(resolve(Some("openai/gpt-4.1-nano"), &providers).unwrap().model, "gpt-4.1-nano");
    }

    #[test]
    fn auto_and_absent_use_the_default() {
        let providers = openai();
        for requested in [None, Some("auto"), Some("")] {
            let decision = resolve(requested, &providers).unwrap();
            assert_eq!(decision.model, "gpt-4o-mini");
            assert!(decision.reason.starts_with("auto"));
        }
    }

    #[test]
    fn auto_modes_move_the_thresholds() {
        let base = DEFAULT_THRESHOLDS;
        assert_eq!(auto_thresholds(None, base).unwrap(), Some(base));
        assert_eq!(auto_thresholds(Some("auto"), base).unwrap(), Some(base));
        assert!(auto_thresholds(Some("auto:eco"), base).unwrap().unwrap().strong > base.strong);
        assert!(auto_thresholds(Some("auto:quality"), base).unwrap().unwrap().strong < base.strong);
        assert_eq!(auto_thresholds(Some("auto:0.8"), base).unwrap().unwrap().strong, 0.8);
        assert_eq!(auto_thresholds(Some("gpt-4o"), base).unwrap(), None);
        assert!(auto_thresholds(Some("auto:2"), base).is_err());
        assert!(auto_thresholds(Some("auto:cheapest"), base).is_err());
    }

    #[test]
    fn the_policy_takes_the_cheapest_of_a_tier_or_the_nearest_above() {
        let providers = openai();
        let (_, cheap) = cheapest_of_tier(Tier::Cheap, &providers).unwrap();
        assert_eq!(cheap.model, "gpt-4.1-nano");
        let (_, strong) = cheapest_of_tier(Tier::Strong, &providers).unwrap();
        assert_eq!(strong.tier, Tier::Strong);
        assert_eq!(baseline_model(&providers).unwrap().model, "gpt-4o");
        // Groq has no strong model: a strong request gets the nearest below.
        let groq = vec![ProviderEndpoint { kind: ProviderKind::Groq, base_url: "http://x".into(), api_key: ProviderSecret::new("k".into()) }];
        assert_eq!(cheapest_of_tier(Tier::Strong, &groq).unwrap().1.model, "llama-3.3-70b-versatile");
        // Ollama has only a cheap model: every tier falls back to it.
        let ollama = vec![ProviderEndpoint { kind: ProviderKind::Ollama, base_url: "http://x".into(), api_key: ProviderSecret::new(String::new()) }];
        assert_eq!(cheapest_of_tier(Tier::Strong, &ollama).unwrap().1.model, "llama3.2");
    }

    #[test]
    fn unknown_and_unconfigured() {
        let providers = openai();
        assert_eq!(resolve(Some("llama-9000"), &providers).unwrap_err(), RequestError::UnknownModel("llama-9000".into()));
        assert!(matches!(resolve(Some("claude-3-5-haiku-latest"), &providers), Err(RequestError::NoProvider(p)) if p.contains("Anthropic")));
        assert!(matches!(resolve(Some("llama3.2"), &providers), Err(RequestError::NoProvider(p)) if p.contains("Ollama")));
        assert_eq!(resolve(Some("openai/"), &providers).unwrap_err(), RequestError::UnknownModel("openai/".into()));
        assert!(matches!(resolve(Some("gpt-4o"), &[]), Err(RequestError::NoProvider(_))));
    }
}
