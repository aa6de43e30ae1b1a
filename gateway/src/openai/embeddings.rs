//! `POST /v1/embeddings`, as far as the gateway reads it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A `POST /v1/embeddings` request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: EmbeddingInput,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
    /// Token arrays: OpenAI-compatible providers only.
    Tokens(Value),
}
