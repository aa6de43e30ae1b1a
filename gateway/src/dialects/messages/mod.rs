//! Anthropic's Messages API (`POST /v1/messages`) as pure conversions to and from chat
//! completions, so that Anthropic's SDKs and the tools built on them reach every provider through
//! the chat pipeline. Errors take Anthropic's shape on this route.

mod answer;
mod request;
mod stream;

pub use answer::{error_body, error_type, from_chat_completion};
pub use request::{MessagesEcho, to_chat_request};
pub use stream::MessagesStream;
