//! The facts the rules read about each model: the providers' model pages, written down here
//! rather than shared with the gateway's catalog (see [`super`]).

/// What the fake knows about one OpenAI chat model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenAiModel {
    pub name: &'static str,
    /// The most completion tokens the model writes (`max_tokens` / `max_completion_tokens`).
    pub max_completion_tokens: u64,
    /// A reasoning model: `max_completion_tokens` only, default sampling only.
    pub reasoning: bool,
}

const fn openai(name: &'static str, max_completion_tokens: u64, reasoning: bool) -> OpenAiModel {
    OpenAiModel {
        name,
        max_completion_tokens,
        reasoning,
    }
}

/// OpenAI's chat models, from the model pages (output-token limits).
pub const OPENAI_MODELS: &[OpenAiModel] = &[
    openai("gpt-4o-mini", 16_384, false),
    openai("gpt-4o", 16_384, false),
    openai("gpt-4.1", 32_768, false),
    openai("gpt-4.1-mini", 32_768, false),
    openai("gpt-4.1-nano", 32_768, false),
    openai("o1", 100_000, true),
    openai("o3", 100_000, true),
    openai("o3-mini", 100_000, true),
    openai("o4-mini", 100_000, true),
    openai("gpt-5", 128_000, true),
    openai("gpt-5-mini", 128_000, true),
    openai("gpt-5-nano", 128_000, true),
];

pub fn openai_model(name: &str) -> Option<&'static OpenAiModel> {
    OPENAI_MODELS.iter().find(|model| model.name == name)
}

/// What the fake knows about one Anthropic model (all the names it answers to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnthropicModel {
    pub names: &'static [&'static str],
    /// The most output tokens `max_tokens` may ask for.
    pub max_output_tokens: u64,
    /// Extended thinking (`thinking: {"type": "enabled", …}`).
    pub thinking: bool,
    /// Adaptive thinking (`thinking: {"type": "adaptive"}`).
    pub adaptive_thinking: bool,
    /// `output_config` (effort) and `context_management`.
    pub output_config: bool,
    /// `system` messages inside `messages`.
    pub system_messages: bool,
}

/// Anthropic's models, from the models overview (max output tokens, extended thinking).
pub const ANTHROPIC_MODELS: &[AnthropicModel] = &[
    AnthropicModel {
        names: &["claude-3-haiku-20240307"],
        max_output_tokens: 4_096,
        thinking: false,
        adaptive_thinking: false,
        output_config: false,
        system_messages: false,
    },
    AnthropicModel {
        names: &["claude-3-5-haiku-latest", "claude-3-5-haiku-20241022"],
        max_output_tokens: 8_192,
        thinking: false,
        adaptive_thinking: false,
        output_config: false,
        system_messages: false,
    },
    AnthropicModel {
        names: &["claude-3-7-sonnet-latest", "claude-3-7-sonnet-20250219"],
        max_output_tokens: 64_000,
        thinking: true,
        adaptive_thinking: false,
        output_config: false,
        system_messages: false,
    },
    AnthropicModel {
        names: &["claude-sonnet-4-0", "claude-sonnet-4-20250514"],
        max_output_tokens: 64_000,
        thinking: true,
        adaptive_thinking: false,
        output_config: false,
        system_messages: false,
    },
    AnthropicModel {
        names: &["claude-opus-4-0", "claude-opus-4-20250514"],
        max_output_tokens: 32_000,
        thinking: true,
        adaptive_thinking: false,
        output_config: false,
        system_messages: false,
    },
    AnthropicModel {
        names: &["claude-sonnet-4-5", "claude-sonnet-4-5-20250929"],
        max_output_tokens: 64_000,
        thinking: true,
        adaptive_thinking: false,
        output_config: true,
        system_messages: false,
    },
    AnthropicModel {
        names: &["claude-haiku-4-5", "claude-haiku-4-5-20251001"],
        max_output_tokens: 64_000,
        thinking: true,
        adaptive_thinking: false,
        output_config: true,
        system_messages: false,
    },
    AnthropicModel {
        names: &["claude-opus-4-5", "claude-opus-4-5-20251101"],
        max_output_tokens: 64_000,
        thinking: true,
        adaptive_thinking: false,
        output_config: true,
        system_messages: false,
    },
    AnthropicModel {
        names: &["claude-opus-4-6"],
        max_output_tokens: 128_000,
        thinking: true,
        adaptive_thinking: true,
        output_config: true,
        system_messages: true,
    },
];

pub fn anthropic_model(name: &str) -> Option<&'static AnthropicModel> {
    ANTHROPIC_MODELS
        .iter()
        .find(|model| model.names.contains(&name))
}
