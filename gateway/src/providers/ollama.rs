//! Ollama, through its OpenAI-compatible API under `/v1` of the server's base URL
//! (`http://127.0.0.1:11434`). A key is optional: it is sent only when one is configured.

use super::openai::OpenAiCompatible;

pub const OLLAMA: OpenAiCompatible = OpenAiCompatible {
    provider: "ollama",
    has_embeddings: true,
};

/// Ollama's base URL names the server; its OpenAI-compatible API lives under `/v1`.
pub fn api_base(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if base.ends_with("/v1") {
        base.to_owned()
    } else {
        format!("{base}/v1")
    }
}
