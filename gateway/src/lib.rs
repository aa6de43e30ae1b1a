//! The LLM Gateway engine: everything between an OpenAI-compatible request and a provider, with
//! no web-framework for the portal in sight (that lives in the `app` crate).

pub mod abuse;
pub mod accounts;
pub mod adapt;
pub mod analytics;
pub mod billing;
pub mod cache;
pub mod catalog;
pub mod clock;
pub mod crypto;
pub mod dialects;
pub mod directory;
pub mod egress;
pub mod entities;
pub mod error;
pub mod limits;
pub mod mail;
pub mod metrics;
pub mod openai;
pub mod plans;
pub mod providers;
pub mod proxy;
pub mod quality;
pub mod quota;
pub mod routing;
pub mod settings;
pub mod state;
pub mod telemetry;
#[cfg(test)]
mod test_support;
pub mod usage;
pub mod verify;
pub mod webhooks;

pub use sea_orm;
