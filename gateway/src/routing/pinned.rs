//! Named models: a pinned `provider/model` or a bare model name resolved to the provider that
//! serves it, among the providers the policy allows; then the `models` fallbacks.

use super::decision::{AUTO, RouteDecision};
use super::policy::RoutingPolicy;
use crate::catalog::{Catalog, ModelKind};
use crate::error::RequestError;
use crate::providers::{ProviderEndpoint, ProviderKind};

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

pub(super) fn default_of<'a>(endpoint: &'a ProviderEndpoint, reason: String) -> RouteDecision<'a> {
    let model = endpoint.kind.default_model();
    RouteDecision {
        endpoint,
        model: model.to_owned(),
        reason,
        tier: Catalog::built_in()
            .find(endpoint.kind, model)
            .map(|m| m.tier),
        routed: false,
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
        routed: false,
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
pub(super) fn resolve_allowed<'a>(
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
    let allowed = allowed_providers(providers, policy);
    let model = model.trim();
    if !model.is_empty() && model != AUTO {
        return resolve_allowed(Some(model), &allowed, providers);
    }
    // `auto`: the cheapest embedding model of the allowed providers (never a chat model).
    let catalog = Catalog::built_in();
    allowed
        .iter()
        .flat_map(|&endpoint| {
            catalog
                .models_of(endpoint.kind)
                .filter(|entry| entry.kind == ModelKind::Embedding)
                .map(move |entry| (endpoint, entry))
        })
        .min_by(|a, b| a.1.input_per_mtok.total_cmp(&b.1.input_per_mtok))
        .map(|(endpoint, entry)| RouteDecision {
            endpoint,
            model: entry.model.clone(),
            reason: "auto: cheapest embedding model".into(),
            tier: Some(entry.tier),
            routed: false,
        })
        .ok_or_else(|| {
            RequestError::NoProvider(" that offers embeddings (OpenAI, Gemini or Ollama)".into())
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
    use crate::routing::fixtures::*;

    #[test]
    fn auto_embeddings_pick_an_embedding_model() {
        let providers = openai();
        for asked in ["auto", ""] {
            let decision = resolve_embedding(asked, &providers, &RoutingPolicy::default()).unwrap();
            assert_eq!(decision.model, "text-embedding-3-small", "{asked:?}");
            assert_eq!(decision.reason, "auto: cheapest embedding model");
        }
        let pinned = resolve_embedding(
            "text-embedding-3-large",
            &providers,
            &RoutingPolicy::default(),
        )
        .unwrap();
        assert_eq!(pinned.model, "text-embedding-3-large");
        let anthropic = vec![endpoint(ProviderKind::Anthropic)];
        let err = resolve_embedding("auto", &anthropic, &RoutingPolicy::default()).unwrap_err();
        assert!(err.to_string().contains("that offers embeddings"), "{err}");
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
}
