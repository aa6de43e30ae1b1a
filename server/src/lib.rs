//! The `llm-gateway` binary's library half, so integration tests can start the real application.

pub mod admin;
pub mod app;
pub mod cascade_eval;
pub mod cli;
pub mod config;
pub mod engine_settings;
pub mod health;
pub mod listen;
pub mod master_key;
pub mod route_cli;
pub mod run;
pub mod sessions;
pub mod site_assets;
pub mod telemetry;
