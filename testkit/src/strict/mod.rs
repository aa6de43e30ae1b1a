//! The request rules the real OpenAI and Anthropic APIs enforce, so that the fakes refuse what the
//! providers refuse and a gateway bug cannot hide behind an easy-going fake.
//!
//! Each check is a pure function from a request body to `Some(Refusal)` (the status and the error
//! body in the provider's own shape) or `None` when the provider would accept the request. The
//! facts about models are this module's own table, written from the providers' model pages; it
//! deliberately does not share the gateway's catalog, so that the fake stays an independent truth
//! as the real provider is.
//!
//! The rules apply to the real model names only: a model named `fake-*` is never refused here
//! (the fakes' behaviour models keep their behaviour exactly). A model the table does not know is
//! held only to the rules that do not depend on the model (Anthropic's `system` role, temperature
//! range and thinking rules).
//!
//! OpenAI chat completions (provider `openai` only; Groq and Ollama are not checked):
//! - reasoning models (`o1`, `o3`, `o3-mini`, `o4-mini`, `gpt-5`, `gpt-5-mini`, `gpt-5-nano`)
//!   refuse `max_tokens` (`unsupported_parameter`: use `max_completion_tokens`), a `temperature` or
//!   `top_p` other than 1 (`unsupported_value`), and a non-zero `presence_penalty` /
//!   `frequency_penalty` or `logprobs: true` (`unsupported_parameter`);
//! - `max_tokens` or `max_completion_tokens` above the model's completion limit is refused
//!   (`invalid_value`, naming the field sent): gpt-4o and gpt-4o-mini 16384, gpt-4.1 (mini, nano)
//!   32768, o1 / o3 / o3-mini / o4-mini 100000, gpt-5 (mini, nano) 128000.
//!
//! Anthropic messages:
//! - `max_tokens` above the model's output limit (claude-3-haiku 4096, claude-3-5-haiku 8192,
//!   claude-3-7-sonnet 64000, claude-sonnet-4 64000, claude-opus-4 32000, claude-sonnet-4-5,
//!   claude-haiku-4-5 and claude-opus-4-5 64000, claude-opus-4-6 128000);
//! - `thinking`: `disabled` is accepted everywhere; `enabled` needs `budget_tokens` of at least
//!   1024 and below `max_tokens`, and is refused by the models without extended thinking
//!   (claude-3-haiku, claude-3-5-haiku); `adaptive` exists on claude-opus-4-6 only (older models
//!   refuse it as an unknown thinking type) and takes no `budget_tokens`; other types are refused;
//! - with thinking on, `temperature` other than 1 and any `top_k` are refused;
//! - `temperature` must be within 0..=1;
//! - `output_config` and `context_management` only on claude-opus-4-5, claude-opus-4-6,
//!   claude-sonnet-4-5 and claude-haiku-4-5 ("Extra inputs are not permitted" elsewhere);
//! - a `system` role inside `messages` is refused (the API takes a top-level `system`), except by
//!   claude-opus-4-6, which in our world accepts mid-conversation system messages.

mod anthropic;
mod models;
mod openai;
mod request;
mod thinking;

pub use anthropic::anthropic_messages;
pub use models::{
    ANTHROPIC_MODELS, AnthropicModel, OPENAI_MODELS, OpenAiModel, anthropic_model, openai_model,
};
pub use openai::openai_chat;
pub use request::{Refusal, is_fake_model};
