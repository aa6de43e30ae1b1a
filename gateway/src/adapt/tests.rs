use serde_json::{Value, json};

use super::*;

fn request(body: Value) -> ChatCompletionRequest {
    ChatCompletionRequest::from_json_bytes(body.to_string().as_bytes()).unwrap()
}

fn claude_code_turn() -> Value {
    json!({
        "model": "auto",
        "max_tokens": 32000,
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "medium"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Fix the bug"}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Let me look.", "signature": "sig"},
                {"type": "text", "text": "Looking."}
            ]},
            {"role": "system", "content": "The user switched to plan mode."},
            {"role": "user", "content": "Go on"}
        ]
    })
}

#[test]
fn a_reasoning_model_gets_max_completion_tokens_and_no_sampling_fields() {
    let asked = request(json!({
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 32000, "temperature": 0.2, "top_p": 1, "presence_penalty": 0.5
    }));
    let (adapted, notes) = chat(&asked, ProviderKind::OpenAi, "o4-mini").unwrap();
    assert_eq!(adapted.extra.get("max_tokens"), None);
    assert_eq!(adapted.extra["max_completion_tokens"], json!(32000));
    for field in ["temperature", "top_p", "presence_penalty"] {
        assert_eq!(adapted.extra.get(field), None, "{field}");
    }
    let said: Vec<&str> = notes.iter().collect();
    assert!(
        said.contains(&"max_tokens sent as max_completion_tokens"),
        "{said:?}"
    );
    assert!(
        said.contains(&"temperature dropped (o4-mini takes none)"),
        "{said:?}"
    );
    // top_p at its default changes nothing the client would notice: no note.
    assert!(
        !said.iter().any(|note| note.starts_with("top_p")),
        "{said:?}"
    );
}

#[test]
fn an_output_budget_over_the_limit_is_clamped() {
    let asked =
        request(json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 32000}));
    let (adapted, notes) = chat(&asked, ProviderKind::OpenAi, "gpt-4o-mini").unwrap();
    assert_eq!(adapted.extra["max_tokens"], json!(16384));
    assert_eq!(
        notes.header(),
        "max_tokens 32000 lowered to 16384, gpt-4o-mini's limit"
    );
    // Within the limit, or a model the catalog does not know: untouched, not even copied.
    let within =
        request(json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 16384}));
    assert!(matches!(
        chat(&within, ProviderKind::OpenAi, "gpt-4o-mini")
            .unwrap()
            .0,
        Cow::Borrowed(_)
    ));
    assert!(matches!(
        chat(&asked, ProviderKind::OpenAi, "gpt-9-ultra").unwrap().0,
        Cow::Borrowed(_)
    ));
    // Anthropic's translation takes the clamped budget too.
    let (adapted, _) = chat(&asked, ProviderKind::Anthropic, "claude-3-5-haiku-latest").unwrap();
    assert_eq!(adapted.extra["max_tokens"], json!(8192));
}

#[test]
fn reasoning_effort_is_dropped_for_a_model_that_does_not_reason() {
    let asked = request(
        json!({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "high"}),
    );
    let (adapted, notes) = chat(&asked, ProviderKind::OpenAi, "gpt-4.1-nano").unwrap();
    assert_eq!(adapted.extra.get("reasoning_effort"), None);
    assert!(!notes.is_empty());
    let (kept, notes) = chat(&asked, ProviderKind::OpenAi, "o3").unwrap();
    assert_eq!(kept.extra["reasoning_effort"], json!("high"));
    assert!(notes.is_empty());
}

#[test]
fn claude_code_on_an_older_claude_keeps_what_it_can() {
    let mut body = claude_code_turn();
    body["model"] = json!("claude-sonnet-4-0");
    let (adapted, notes) = messages(&body, "claude-sonnet-4-0");
    // 32000 fits Sonnet 4's 64000; adaptive becomes enabled with half of it (effort medium).
    assert_eq!(adapted["max_tokens"], json!(32000));
    assert_eq!(
        adapted["thinking"],
        json!({"type": "enabled", "budget_tokens": 16000})
    );
    assert_eq!(adapted.get("output_config"), None);
    assert_eq!(adapted.get("context_management"), None);
    // The system turn joined the system blocks; the cache mark stayed where it was.
    let turns = adapted["messages"].as_array().unwrap();
    assert_eq!(turns.len(), 3);
    assert!(turns.iter().all(|turn| turn["role"] != "system"));
    assert_eq!(
        adapted["system"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
    assert_eq!(
        adapted["system"][1]["text"],
        json!("The user switched to plan mode.")
    );
    // Earlier thinking is kept for a model that thinks.
    assert_eq!(turns[1]["content"][0]["type"], json!("thinking"));
    assert_eq!(notes.iter().count(), 4, "{}", notes.header());
}

#[test]
fn claude_code_on_a_claude_without_thinking() {
    let (adapted, notes) = messages(&claude_code_turn(), "claude-3-5-haiku-latest");
    assert_eq!(adapted["max_tokens"], json!(8192));
    assert_eq!(adapted.get("thinking"), None);
    let blocks = adapted["messages"][1]["content"].as_array().unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0]["type"], json!("text"));
    let said = notes.header();
    assert!(said.contains("max_tokens 32000 lowered to 8192"), "{said}");
    assert!(
        said.contains("thinking dropped (claude-3-5-haiku-latest does not think)"),
        "{said}"
    );
}

#[test]
fn the_newest_claude_takes_the_body_as_written() {
    let (adapted, notes) = messages(&claude_code_turn(), "claude-opus-4-6");
    assert_eq!(adapted, claude_code_turn());
    assert!(notes.is_empty(), "{}", notes.header());
}

#[test]
fn a_thinking_budget_is_kept_under_max_tokens_or_dropped() {
    let body = json!({"max_tokens": 8000, "thinking": {"type": "enabled", "budget_tokens": 10000},
        "messages": [{"role": "user", "content": "hi"}]});
    let (adapted, _) = messages(&body, "claude-sonnet-4-0");
    assert_eq!(adapted["thinking"]["budget_tokens"], json!(6000));
    let small = json!({"max_tokens": 1024, "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "hi"}]});
    let (adapted, notes) = messages(&small, "claude-sonnet-4-0");
    assert_eq!(adapted.get("thinking"), None);
    assert!(
        notes.header().contains("leaves no budget"),
        "{}",
        notes.header()
    );
    // Enabled thinking on a model that takes it, within budget: untouched.
    let fine = json!({"max_tokens": 8000, "thinking": {"type": "enabled", "budget_tokens": 2000},
        "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(messages(&fine, "claude-sonnet-4-0").0, fine);
}

#[test]
fn a_system_string_and_system_turns_join() {
    let body = json!({"max_tokens": 100, "system": "Be brief.",
        "messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": [{"type": "text", "text": "Now in French."}]}]});
    let (adapted, _) = messages(&body, "claude-3-haiku-20240307");
    assert_eq!(adapted["system"], json!("Be brief.\n\nNow in French."));
    assert_eq!(adapted["messages"].as_array().unwrap().len(), 1);
}

#[test]
fn a_responses_body_for_a_model_that_does_not_reason() {
    let body = json!({"model": "gpt-4.1", "input": "hi", "max_output_tokens": 50000,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "include": ["reasoning.encrypted_content"]});
    let (adapted, notes) = responses(&body, "gpt-4.1");
    assert_eq!(adapted["max_output_tokens"], json!(32768));
    assert_eq!(adapted.get("reasoning"), None);
    assert_eq!(adapted["include"], json!([]));
    assert_eq!(notes.iter().count(), 3, "{}", notes.header());
    let (kept, notes) = responses(&body, "o4-mini");
    assert_eq!(kept["reasoning"], body["reasoning"]);
    assert!(notes.is_empty());
}

#[test]
fn what_cannot_be_converted_is_refused_naming_the_field_and_the_model() {
    let with_image = request(json!({"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}]}));
    let err = chat(&with_image, ProviderKind::Groq, "llama-3.1-8b-instant").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid value for 'messages[1].content[1]': groq/llama-3.1-8b-instant takes no images"
    );
    assert!(chat(&with_image, ProviderKind::OpenAi, "gpt-4o-mini").is_ok());
}

#[test]
fn a_json_schema_becomes_json_mode_for_a_model_without_schemas() {
    let asked = request(
        json!({"messages": [{"role": "user", "content": "A city as JSON"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": {"type": "object"}}}}),
    );
    let (adapted, notes) = chat(&asked, ProviderKind::Groq, "llama-3.3-70b-versatile").unwrap();
    assert_eq!(
        adapted.extra["response_format"],
        json!({"type": "json_object"})
    );
    assert!(
        notes
            .header()
            .starts_with("response_format json_schema sent as json_object")
    );
    let (kept, _) = chat(&asked, ProviderKind::OpenAi, "gpt-4o-mini").unwrap();
    assert_eq!(
        kept.extra["response_format"],
        asked.extra["response_format"]
    );
}
