//! Providers and requests the routing tests share.

use crate::openai::ChatCompletionRequest;
use crate::providers::{ProviderEndpoint, ProviderKind, ProviderSecret};
use crate::routing::RoutingPolicy;

pub(crate) fn endpoint(kind: ProviderKind) -> ProviderEndpoint {
    ProviderEndpoint {
        kind,
        base_url: "http://127.0.0.1:1".into(),
        api_key: ProviderSecret::new("k".into()),
        egress_refusal: None,
        opened: false,
    }
}

pub(crate) fn refs(providers: &[ProviderEndpoint]) -> Vec<&ProviderEndpoint> {
    providers.iter().collect()
}

pub(crate) fn openai() -> Vec<ProviderEndpoint> {
    vec![ProviderEndpoint {
        kind: ProviderKind::OpenAi,
        base_url: "http://127.0.0.1:1/v1".into(),
        api_key: ProviderSecret::new("sk-test".into()),
        egress_refusal: None,
        opened: false,
    }]
}

pub(crate) fn chat(body: serde_json::Value) -> ChatCompletionRequest {
    ChatCompletionRequest::from_json_bytes(body.to_string().as_bytes()).unwrap()
}

pub(crate) fn policy(json: &str) -> RoutingPolicy {
    RoutingPolicy::parse(json).unwrap()
}

pub(crate) const EASY: &str = "What is the capital of France?";

pub(crate) fn easy() -> ChatCompletionRequest {
    chat(serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": EASY}]}))
}

pub(crate) fn three_providers() -> Vec<ProviderEndpoint> {
    vec![
        endpoint(ProviderKind::OpenAi),
        endpoint(ProviderKind::Anthropic),
        endpoint(ProviderKind::Groq),
    ]
}
