//! OpenAI's Responses API (`POST /v1/responses`, stateless use) as pure conversions to and from
//! chat completions: a Responses request becomes a chat request that goes through the same
//! pipeline (routing, quota, cache, usage, fallbacks) to any provider; the chat answer, whole or
//! streamed, becomes a Response object or Responses events.

mod answer;
mod request;
mod stream;
mod tools;

pub use answer::from_chat_completion;
pub use request::{ResponsesEcho, routing_view, to_chat_request};
pub use stream::ResponsesStream;
pub use tools::without_hosted_tools;
