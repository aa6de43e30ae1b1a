//! Which provider and model serve a request. A pinned model is used exactly as asked; `auto` (or
//! no model) picks a default until difficulty-based routing arrives.

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
    let owner = ProviderKind::ALL.iter().copied().find(|kind| kind.owns_bare_model(requested));
    let Some(owner) = owner else {
        return Err(RequestError::UnknownModel(requested.to_owned()));
    };
    let Some(endpoint) = providers.iter().find(|endpoint| endpoint.kind == owner) else {
        return Err(RequestError::NoProvider(format!(" for {}", owner.display_name())));
    };
    Ok(RouteDecision { endpoint, model: requested.to_owned(), reason: "pinned: requested model".into() })
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
        assert_eq!(resolve(Some("openai/"), &providers).unwrap_err(), RequestError::UnknownModel("openai/".into()));
        assert!(matches!(resolve(Some("gpt-4o"), &[]), Err(RequestError::NoProvider(_))));
    }
}
