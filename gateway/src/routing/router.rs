//! The router that scores `auto` requests: the semantic model, or the surface classifier when
//! the model's files do not load.

use std::path::Path;
use std::sync::OnceLock;

use super::thresholds::Thresholds;
use super::{classifier, semantic};
use crate::openai::ChatCompletionRequest;

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
