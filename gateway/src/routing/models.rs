//! The catalog models a tier is served by: the cheapest of the tier among the allowed providers
//! (or each provider's, in the policy's order), and the account's baseline model.

use serde_json::Value;

use super::policy::{Condition, RoutingPolicy, estimated_prompt_tokens};
use crate::catalog::{Catalog, CatalogModel, ModelKind, Tier};
use crate::openai::ChatCompletionRequest;
use crate::providers::ProviderEndpoint;

/// What a request needs of the model that serves it, from the catalog's capabilities:
/// auto-routing considers only models that have it. Thinking (or reasoning) asked for is a
/// preference within the tier, not a need that lifts it: Claude Code asks for it on every
/// request, and would otherwise never reach a cheap model; where the tier has no model that
/// thinks, the request is adapted (`crate::adapt`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Needs {
    pub tools: bool,
    pub images: bool,
    /// A JSON-schema answer (`json_object` any chat model gives).
    pub structured_output: bool,
    /// Estimated at four characters a token, as the routing rules count.
    pub prompt_tokens: u64,
    /// Thinking or reasoning asked for (`reasoning_effort`, which the dialects set from
    /// Anthropic's `thinking` and the Responses API's `reasoning`).
    pub reasoning: bool,
}

impl Needs {
    pub fn of(request: &ChatCompletionRequest) -> Self {
        Self {
            tools: Condition::Tools.matches(request),
            images: Condition::Images.matches(request),
            structured_output: request
                .extra
                .get("response_format")
                .and_then(|format| format.get("type"))
                .and_then(Value::as_str)
                == Some("json_schema"),
            prompt_tokens: estimated_prompt_tokens(request),
            reasoning: request
                .extra
                .get("reasoning_effort")
                .and_then(Value::as_str)
                .is_some_and(|effort| !matches!(effort, "none" | "minimal")),
        }
    }

    /// Within a tier, a model that reasons comes first for a request that asks for it.
    fn rank(&self, model: &CatalogModel) -> u8 {
        let reasons = model.capabilities.reasoning || !model.capabilities.thinking.is_empty();
        u8::from(self.reasoning && !reasons)
    }

    pub fn met_by(&self, model: &CatalogModel) -> bool {
        let caps = &model.capabilities;
        (!self.tools || caps.tools)
            && (!self.images || caps.images)
            && (!self.structured_output || caps.structured_output)
            && self.prompt_tokens < model.context_window
    }

    /// What the request needs, in words, for a route reason.
    pub fn describe(&self) -> Vec<&'static str> {
        [
            (self.tools, "tools"),
            (self.images, "images"),
            (self.structured_output, "a JSON schema"),
        ]
        .into_iter()
        .filter_map(|(needed, what)| needed.then_some(what))
        .collect()
    }
}

/// Models that meet the needs, those that reason first when asked for, then the cheapest.
fn preferred(needs: &Needs) -> impl Fn(&CatalogModel, &CatalogModel) -> std::cmp::Ordering + '_ {
    move |a, b| {
        needs
            .rank(a)
            .cmp(&needs.rank(b))
            .then(blended_price(a).total_cmp(&blended_price(b)))
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
    models_for_tier(tier, None, None, providers, false, &Needs::default())
        .and_then(|(_, models)| models.into_iter().next())
}

/// The models to try for a wanted tier within `[min, max]`, with the tier found: the nearest
/// tier any allowed provider offers. Unordered: the cheapest model of that tier alone. Ordered:
/// each provider's cheapest model of that tier, in the providers' order (the later ones are
/// fallbacks). Only models that meet the request's `needs` are considered, unless none does:
/// then the provider judges, as before the catalog knew capabilities.
pub(super) fn models_for_tier<'a>(
    wanted: Tier,
    min: Option<Tier>,
    max: Option<Tier>,
    providers: &[&'a ProviderEndpoint],
    ordered: bool,
    needs: &Needs,
) -> Option<(Tier, Vec<(&'a ProviderEndpoint, &'static CatalogModel)>)> {
    let bounds = (wanted, min, max);
    capable_models_for_tier(bounds, providers, ordered, needs, |model| {
        needs.met_by(model)
    })
    .or_else(|| capable_models_for_tier(bounds, providers, ordered, needs, |_| true))
}

fn capable_models_for_tier<'a>(
    (wanted, min, max): (Tier, Option<Tier>, Option<Tier>),
    providers: &[&'a ProviderEndpoint],
    ordered: bool,
    needs: &Needs,
    capable: impl Fn(&CatalogModel) -> bool,
) -> Option<(Tier, Vec<(&'a ProviderEndpoint, &'static CatalogModel)>)> {
    let in_bounds =
        |tier: Tier| min.is_none_or(|min| tier >= min) && max.is_none_or(|max| tier <= max);
    tier_search_order(wanted)
        .into_iter()
        .filter(|&tier| in_bounds(tier))
        .find_map(|tier| {
            let order = preferred(needs);
            let cheapest_first =
                |a: &(&ProviderEndpoint, &CatalogModel), b: &(&ProviderEndpoint, &CatalogModel)| {
                    order(a.1, b.1)
                };
            let models: Vec<_> = if ordered {
                providers
                    .iter()
                    .filter_map(|&endpoint| {
                        chat_models(std::slice::from_ref(&endpoint))
                            .filter(|(_, m)| m.tier == tier && capable(m))
                            .min_by(cheapest_first)
                    })
                    .collect()
            } else {
                chat_models(providers)
                    .filter(|(_, m)| m.tier == tier && capable(m))
                    .min_by(cheapest_first)
                    .into_iter()
                    .collect()
            };
            (!models.is_empty()).then_some((tier, models))
        })
}

/// What a request is compared against: the model the account (or key) would have used without
/// the gateway. Its routing policy's `baseline_model` when set, else the flagship chat model of
/// the first provider it added (OpenAI's gpt-4o, Anthropic's claude-sonnet-4-5, ...). Never "the
/// dearest model it could reach": that would claim as saved what no one would have spent.
pub fn baseline_model(
    policy: &RoutingPolicy,
    providers: &[ProviderEndpoint],
) -> Option<&'static CatalogModel> {
    if let Some(chosen) = policy.baseline_model.as_deref() {
        return Catalog::chat_model_named(chosen);
    }
    let first = providers.first()?;
    Catalog::built_in()
        .models_of(first.kind)
        .find(|model| model.flagship && model.kind == ModelKind::Chat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{ProviderKind, ProviderSecret};
    use crate::routing::fixtures::*;

    #[test]
    fn the_policy_takes_the_cheapest_of_a_tier_or_the_nearest_above() {
        let providers = openai();
        let (_, cheap) = cheapest_of_tier(Tier::Cheap, &refs(&providers)).unwrap();
        assert_eq!(cheap.model, "gpt-4.1-nano");
        let (_, strong) = cheapest_of_tier(Tier::Strong, &refs(&providers)).unwrap();
        assert_eq!(strong.tier, Tier::Strong);
        assert_eq!(
            baseline_model(&RoutingPolicy::default(), &providers)
                .unwrap()
                .model,
            "gpt-4o"
        );
        // Groq has no strong model: a strong request gets the nearest below.
        let groq = vec![ProviderEndpoint {
            kind: ProviderKind::Groq,
            base_url: "http://x".into(),
            api_key: ProviderSecret::new("k".into()),
            egress_refusal: None,
            opened: false,
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
            egress_refusal: None,
            opened: false,
        }];
        assert_eq!(
            cheapest_of_tier(Tier::Strong, &refs(&ollama))
                .unwrap()
                .1
                .model,
            "llama3.2"
        );
    }
}
