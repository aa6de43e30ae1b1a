//! Which provider and model serve a request. A pinned model is used exactly as asked; `auto` (or
//! no model) picks a default until difficulty-based routing arrives.

pub mod classifier;
pub mod train;

use crate::catalog::{Catalog, Tier};
use crate::error::RequestError;
use crate::providers::{ProviderEndpoint, ProviderKind};

#[derive(Debug)]
pub struct RouteDecision<'a> {
    pub endpoint: &'a ProviderEndpoint,
    /// The model name as the provider knows it (no `provider/` prefix).
    pub model: String,
    /// Why this model, for the `x-gateway-route-reason` header.
    pub reason: String,
}

pub const AUTO: &str = "auto";

/// Score thresholds between tiers: below the first → cheap, below the second → standard, else
/// strong.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub standard: f32,
    pub strong: f32,
}

pub const DEFAULT_THRESHOLDS: Thresholds = Thresholds { standard: 0.35, strong: 0.6 };

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
        return Ok(RouteDecision { endpoint, model: model.to_owned(), reason: "pinned: requested model".into() });
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
    Ok(RouteDecision { endpoint, model: requested.to_owned(), reason: "pinned: requested model".into() })
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
    fn unknown_and_unconfigured() {
        let providers = openai();
        assert_eq!(resolve(Some("llama-9000"), &providers).unwrap_err(), RequestError::UnknownModel("llama-9000".into()));
        assert!(matches!(resolve(Some("claude-3-5-haiku-latest"), &providers), Err(RequestError::NoProvider(p)) if p.contains("Anthropic")));
        assert!(matches!(resolve(Some("llama3.2"), &providers), Err(RequestError::NoProvider(p)) if p.contains("Ollama")));
        assert_eq!(resolve(Some("openai/"), &providers).unwrap_err(), RequestError::UnknownModel("openai/".into()));
        assert!(matches!(resolve(Some("gpt-4o"), &[]), Err(RequestError::NoProvider(_))));
    }
}
