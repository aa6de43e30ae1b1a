//! Groq, through its OpenAI-compatible API (`https://api.groq.com/openai/v1`). Groq reports a
//! stream's usage in `x_groq.usage` of the last chunk; `openai.rs` reads it there too.

use super::openai::OpenAiCompatible;

pub const GROQ: OpenAiCompatible = OpenAiCompatible {
    provider: "groq",
    has_embeddings: false,
};
