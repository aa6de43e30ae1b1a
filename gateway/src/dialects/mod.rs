//! The other APIs clients speak, served through the chat pipeline: OpenAI's Responses API and
//! Anthropic's Messages API. Each is a pair of pure conversions (request → chat request; chat
//! answer → the dialect's answer, whole or as events), tested against fixtures; the routes in
//! `crate::proxy` put them around the same stages as `/v1/chat/completions`.

pub mod messages;
pub mod responses;
mod wire;

pub use wire::{DialectError, DialectStream, Event, named_event};
