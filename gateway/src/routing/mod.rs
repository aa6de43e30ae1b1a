//! Which provider and model serve a request. A pinned model is used exactly as asked. `auto` (or
//! no model) is routed: the classifier scores the request, thresholds turn the score into a tier,
//! and the policy takes the cheapest model of that tier among the account's providers.

mod chat;
pub mod classifier;
mod escalation;
#[cfg(test)]
mod fixtures;
mod models;
mod pinned;
pub mod policy;
pub mod semantic;
pub mod semantic_train;
pub mod train;
pub mod wordpiece;

pub use chat::{RoutePreview, preview, resolve_chat};
pub use escalation::escalation;
pub use models::{baseline_model, cheapest_of_tier};
pub use pinned::{allowed_providers, resolve, resolve_embedding, resolve_with_fallbacks};

use std::path::Path;
use std::sync::OnceLock;

use crate::catalog::Tier;
use crate::error::RequestError;
use crate::openai::ChatCompletionRequest;
use crate::providers::ProviderEndpoint;

pub use policy::RoutingPolicy;
pub(crate) use policy::estimated_prompt_tokens;

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

#[derive(Debug, Clone)]
pub struct RouteDecision<'a> {
    pub endpoint: &'a ProviderEndpoint,
    /// The model name as the provider knows it (no `provider/` prefix).
    pub model: String,
    /// Why this model, for the `x-gateway-route-reason` header.
    pub reason: String,
    /// The model's tier, when the catalog knows it.
    pub tier: Option<Tier>,
    /// The gateway chose this model for an `auto` request (scored, or the next allowed provider
    /// of the chosen tier): the only decisions routing claims savings for. A pinned, forced,
    /// default or fallback model is the caller's or the policy's choice.
    pub routed: bool,
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
const VERIFY_MODE: &str = "verify";

/// Whether an `auto` request is served by the cascade: it asks (`auto:verify`), or its policy
/// does (`"verify": true`) and it does not choose another mode. A forced model is never checked.
pub fn wants_verify(request: &ChatCompletionRequest, policy: &RoutingPolicy) -> bool {
    if policy.forced_model.is_some() {
        return false;
    }
    match request.model.as_deref().map(str::trim).unwrap_or_default() {
        "" | AUTO => policy.verify == Some(true),
        other => other.strip_prefix("auto:") == Some(VERIFY_MODE),
    }
}

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
        // The cascade: routed as `auto`, then checked (`crate::verify`).
        VERIFY_MODE => Ok(Some(base)),
        "quality" => Ok(Some(shifted(-MODE_SHIFT))),
        number => match number.parse::<f32>() {
            Ok(strong) if (0.0..=1.0).contains(&strong) => Ok(Some(Thresholds {
                strong,
                standard: (strong - (base.strong - base.standard)).max(0.0),
            })),
            _ => Err(RequestError::InvalidField {
                param: "model".into(),
                reason: "expected auto, auto:eco, auto:quality, auto:verify or auto:<threshold between 0 and 1>"
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
