//! The routing policy's parsing, validation and merging.
use super::*;
use serde_json::json;

fn request(body: Value) -> ChatCompletionRequest {
    ChatCompletionRequest::from_json_bytes(body.to_string().as_bytes()).unwrap()
}

#[test]
fn parses_the_documented_shape_and_round_trips() {
    let text = r#"{"auto_routing": true, "threshold": 0.7, "min_tier": "standard", "max_tier": "strong",
        "providers": ["anthropic", "openai"],
        "rules": [{"when": "tools", "at_least": "standard"}, {"when": {"prompt_tokens_over": 8000}, "at_least": "strong"}]}"#;
    let policy = RoutingPolicy::parse(text).unwrap();
    assert_eq!(policy.rules[1].when, Condition::PromptTokensOver(8000));
    assert_eq!(
        policy.allowed_providers().unwrap(),
        vec![ProviderKind::Anthropic, ProviderKind::OpenAi]
    );
    assert_eq!(
        RoutingPolicy::parse(&policy.to_stored().unwrap()).unwrap(),
        policy
    );
    assert_eq!(RoutingPolicy::default().to_stored(), None);
    assert_eq!(
        RoutingPolicy::parse("  ").unwrap(),
        RoutingPolicy::default()
    );
}

#[test]
fn refuses_what_cannot_work() {
    let bad = [
        (r#"{"threshold": 1.5}"#, PolicyError::Threshold),
        (
            r#"{"min_tier": "strong", "max_tier": "cheap"}"#,
            PolicyError::TierOrder,
        ),
        (
            r#"{"providers": ["openai", "azure"]}"#,
            PolicyError::UnknownProvider("azure".into()),
        ),
        (
            r#"{"providers": ["openai", "openai"]}"#,
            PolicyError::DuplicateProvider("openai".into()),
        ),
        (r#"{"providers": []}"#, PolicyError::NoProviders),
        (r#"{"forced_model": " "}"#, PolicyError::EmptyForcedModel),
        (
            r#"{"rules": [{"when": "tools"}]}"#,
            PolicyError::EmptyRule(1),
        ),
    ];
    for (text, expected) in bad {
        assert_eq!(RoutingPolicy::parse(text).unwrap_err(), expected, "{text}");
    }
    assert!(matches!(
        RoutingPolicy::parse(r#"{"max_teir": "cheap"}"#),
        Err(PolicyError::Json(_))
    ));
    assert!(matches!(
        RoutingPolicy::parse(r#"{"rules": [{"when": "sunny", "at_least": "strong"}]}"#),
        Err(PolicyError::Json(_))
    ));
}

#[test]
fn the_key_wins_field_by_field_and_rules_add_up() {
    let account = RoutingPolicy::parse(
        r#"{"threshold": 0.7, "max_tier": "standard", "providers": ["openai"],
        "rules": [{"when": "tools", "at_least": "standard"}]}"#,
    )
    .unwrap();
    let key = RoutingPolicy::parse(
        r#"{"max_tier": "strong", "rules": [{"when": "images", "at_least": "strong"}]}"#,
    )
    .unwrap();
    let merged = RoutingPolicy::merged(&account, Some(&key));
    assert_eq!(merged.threshold, Some(0.7));
    assert_eq!(merged.max_tier, Some(Tier::Strong));
    assert_eq!(merged.providers, Some(vec!["openai".to_owned()]));
    assert_eq!(merged.rules.len(), 2);
    assert_eq!(RoutingPolicy::merged(&account, None), account);
}

#[test]
fn conditions_read_the_request() {
    let plain = request(json!({"messages": [{"role": "user", "content": "hi"}]}));
    let tools = request(json!({"messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}));
    let image = request(json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}]}));
    let json_mode = request(
        json!({"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}}),
    );
    let long = request(json!({"messages": [{"role": "user", "content": "word ".repeat(1000)}]}));
    for (condition, yes) in [
        (Condition::Tools, &tools),
        (Condition::Images, &image),
        (Condition::JsonOutput, &json_mode),
        (Condition::PromptTokensOver(1000), &long),
        (Condition::MessagesOver(0), &plain),
    ] {
        assert!(condition.matches(yes), "{condition:?}");
        if condition != Condition::MessagesOver(0) {
            assert!(!condition.matches(&plain), "{condition:?}");
        }
    }
    assert!(!Condition::PromptTokensOver(1300).matches(&long));
    assert!(!Condition::MessagesOver(1).matches(&plain));
}

#[test]
fn rules_raise_and_bounds_clamp() {
    let tools = request(json!({"messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}));
    let policy =
        RoutingPolicy::parse(r#"{"rules": [{"when": "tools", "at_least": "standard"}]}"#).unwrap();
    let adjusted = adjust_tier(Tier::Cheap, &tools, &policy);
    assert_eq!(adjusted.tier, Tier::Standard);
    assert_eq!(
        adjusted.notes,
        vec!["rule tools: at least standard".to_owned()]
    );
    assert_eq!(
        adjust_tier(Tier::Strong, &tools, &policy).tier,
        Tier::Strong
    );

    let capped = RoutingPolicy::parse(
        r#"{"max_tier": "cheap", "rules": [{"when": "tools", "at_least": "strong"}]}"#,
    )
    .unwrap();
    assert_eq!(adjust_tier(Tier::Cheap, &tools, &capped).tier, Tier::Cheap);
    let floored = RoutingPolicy::parse(r#"{"min_tier": "standard"}"#).unwrap();
    assert_eq!(
        adjust_tier(Tier::Cheap, &tools, &floored).tier,
        Tier::Standard
    );
}
