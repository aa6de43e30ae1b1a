//! Which provider and model serve a request. A pinned model is used exactly as asked. `auto` (or
//! no model) is routed: the classifier scores the request, thresholds turn the score into a tier,
//! and the policy takes the cheapest model of that tier among the account's providers.

mod chat;
pub mod classifier;
mod decision;
mod escalation;
#[cfg(test)]
mod fixtures;
mod models;
mod phrases;
mod pinned;
pub mod policy;
mod router;
pub mod semantic;
pub mod semantic_train;
mod thresholds;
mod traced;
pub mod train;
pub mod wordpiece;

pub use chat::{RoutePreview, preview};
pub use decision::{AUTO, RouteDecision};
pub use escalation::escalation;
pub use models::{baseline_model, cheapest_of_tier};
pub use pinned::{allowed_providers, resolve, resolve_embedding, resolve_with_fallbacks};
pub use policy::RoutingPolicy;
pub(crate) use policy::estimated_prompt_tokens;
pub use router::Router;
pub use thresholds::{
    DEFAULT_THRESHOLDS, Thresholds, auto_thresholds, tier_for_score, wants_verify,
};
pub use traced::resolve_chat;
