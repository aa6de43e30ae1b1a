//! The model catalog (`catalog/models.json`): provider, model, context window, list price per
//! million tokens, and tier. It resolves bare model names and prices usage.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::providers::ProviderKind;

pub use gateway_types::Tier;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    #[default]
    Chat,
    Embedding,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CatalogModel {
    pub provider: String,
    pub model: String,
    pub context_window: u64,
    /// The most tokens one answer can have; absent (0): the context window.
    #[serde(default)]
    pub max_output_tokens: u64,
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    pub tier: Tier,
    #[serde(default)]
    pub kind: ModelKind,
    /// What the model can take; see [`Capabilities`].
    #[serde(default)]
    pub capabilities: Capabilities,
    /// The provider's flagship chat model: the default baseline of an account whose first
    /// provider this is (what it would have used without the gateway).
    #[serde(default)]
    pub flagship: bool,
}

/// Anthropic's kinds of extended thinking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThinkingKind {
    /// `{"type": "enabled", "budget_tokens": n}`.
    Enabled,
    /// `{"type": "adaptive"}`: the model decides how much to think.
    Adaptive,
}

/// What a model accepts, from its provider's model page: the facts that decide how a request is
/// adapted to it (`crate::adapt`) and whether auto-routing may send a request there.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Capabilities {
    /// OpenAI's reasoning models (o-series): `max_completion_tokens` only, and no sampling
    /// fields (`temperature`, `top_p`, penalties, `logprobs`).
    pub reasoning: bool,
    /// The kinds of extended thinking the model takes; empty: none.
    pub thinking: Vec<ThinkingKind>,
    pub tools: bool,
    pub images: bool,
    /// A JSON-schema answer: natively, or as Anthropic's forced tool.
    pub structured_output: bool,
    /// Anthropic's `cache_control` marks.
    pub prompt_caching: bool,
    /// Anthropic's `output_config` (effort).
    pub output_config: bool,
    /// Anthropic's `context_management`.
    pub context_management: bool,
    /// Anthropic: `system` turns inside `messages`, not only the top-level `system`.
    pub system_in_messages: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self {
            reasoning: false,
            thinking: Vec::new(),
            tools: true,
            images: true,
            structured_output: false,
            prompt_caching: false,
            output_config: false,
            context_management: false,
            system_in_messages: false,
        }
    }
}

impl CatalogModel {
    pub fn provider_kind(&self) -> Option<ProviderKind> {
        ProviderKind::parse(&self.provider)
    }

    /// The longest answer the model can give, for budget reservations.
    pub fn output_limit(&self) -> u64 {
        if self.max_output_tokens == 0 {
            self.context_window
        } else {
            self.max_output_tokens
        }
    }

    /// What a request cost at list price, in US dollars.
    /// `provider/model`, as requests pin it and the portal and usage events name it.
    pub fn name(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }

    pub fn cost(&self, prompt_tokens: u32, completion_tokens: u32) -> f64 {
        (f64::from(prompt_tokens) * self.input_per_mtok
            + f64::from(completion_tokens) * self.output_per_mtok)
            / 1e6
    }
}

#[derive(Debug, Deserialize)]
pub struct Catalog {
    pub prices_as_of: String,
    pub models: Vec<CatalogModel>,
}

const BUILT_IN: &str = include_str!("../catalog/models.json");

impl Catalog {
    pub fn parse(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The catalog shipped with the binary.
    /// A chat model of the catalog by `provider/model` (or a bare name only one provider lists).
    pub fn chat_model_named(name: &str) -> Option<&'static CatalogModel> {
        let catalog = Catalog::built_in();
        let name = name.trim();
        let found = match name.split_once('/') {
            Some((provider, model)) => catalog.find(ProviderKind::parse(provider)?, model),
            None => {
                let mut owners = catalog.providers_of(name);
                let owner = owners.next()?;
                if owners.next().is_some() {
                    return None;
                }
                catalog.find(owner, name)
            }
        };
        found.filter(|model| model.kind == ModelKind::Chat)
    }

    pub fn built_in() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG
            .get_or_init(|| Catalog::parse(BUILT_IN).expect("the built-in catalog is valid JSON"))
    }

    pub fn find(&self, provider: ProviderKind, model: &str) -> Option<&CatalogModel> {
        self.models
            .iter()
            .find(|entry| entry.provider == provider.id() && entry.model == model)
    }

    /// Providers that list a model of this exact name, in catalog order.
    pub fn providers_of<'a>(&'a self, model: &'a str) -> impl Iterator<Item = ProviderKind> + 'a {
        self.models
            .iter()
            .filter(move |entry| entry.model == model)
            .filter_map(CatalogModel::provider_kind)
    }

    pub fn models_of(&self, provider: ProviderKind) -> impl Iterator<Item = &CatalogModel> {
        self.models
            .iter()
            .filter(move |entry| entry.provider == provider.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_catalog_covers_every_provider_and_default_model() {
        let catalog = Catalog::built_in();
        for &kind in ProviderKind::ALL {
            assert!(
                catalog.find(kind, kind.default_model()).is_some(),
                "{kind}: default model missing"
            );
        }
        for entry in &catalog.models {
            assert!(
                entry.provider_kind().is_some(),
                "{}: unknown provider",
                entry.model
            );
            assert!(entry.input_per_mtok >= 0.0 && entry.output_per_mtok >= 0.0);
        }
        let mini = catalog.find(ProviderKind::OpenAi, "gpt-4o-mini").unwrap();
        assert!((mini.cost(1_000_000, 1_000_000) - 0.75).abs() < 1e-9);
        assert_eq!(
            catalog.providers_of("llama3.2").collect::<Vec<_>>(),
            vec![ProviderKind::Ollama]
        );
    }
}
