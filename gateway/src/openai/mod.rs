//! OpenAI's wire format for chat completions, as far as the gateway needs to read it. Fields the
//! gateway does not interpret are kept verbatim in `extra` and forwarded.
//!
//! [`ChatCompletionRequest`] is read once per request (model, stream, what routing and caching
//! need); converting providers read its typed views ([`messages`]) and parameters ([`params`]),
//! and build [`response`]s.

mod embeddings;
mod messages;
mod params;
mod request;
mod response;

pub use embeddings::{EmbeddingInput, EmbeddingsRequest};
pub use messages::{
    Content, ContentPart, FunctionCall, FunctionDefinition, ImageUrl, InlineImage, Message,
    ResponseFormat, Tool, ToolCall, ToolChoice,
};
pub use params::ChatParams;
pub use request::{
    ChatCompletionRequest, MAX_MESSAGES, MAX_MODEL_NAME_BYTES, MAX_TOOLS, PROMPT_READ_BYTES,
    check_model_name, clipped,
};
pub use response::{
    AssistantMessage, ChatCompletion, ChatCompletionChunk, ChatCompletionSummary, Choice,
    ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta, Usage, completion_as_chunks,
};
