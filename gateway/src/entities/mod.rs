//! sea-orm entities, one module a table. The schema itself lives in the `migrations` crate.

pub mod account;
pub mod account_change;
pub mod email_token;
pub mod gateway_key;
pub mod member;
pub mod portal_session;
pub mod provider_credential;
pub mod quality_verdict;
pub mod stripe_event;
pub mod threshold_change;
pub mod usage_event;
pub mod usage_hourly;
