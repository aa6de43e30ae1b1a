//! Types the engine (`gateway`) and the portal (`app`, on the server and in the browser) share,
//! so the portal never keeps a copy of them: the provider table, routing tiers, plans and the
//! date format. Only `serde` is needed, so it builds for wasm32 as well.

pub mod plan;
pub mod provider;
pub mod tier;
pub mod time;

pub use plan::Plan;
pub use provider::{PROVIDERS, ProviderKind, ProviderSpec, WireApi};
pub use tier::Tier;
