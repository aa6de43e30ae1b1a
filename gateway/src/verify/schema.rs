//! Structured output and tool calls, validated against the schemas the request gave
//! (`response_format`, `tools[].function.parameters`) with the `jsonschema` crate, built without
//! its remote and file resolvers: a client's `$ref` never makes the gateway fetch anything.

use serde_json::Value;

use super::answer::Answer;
use crate::openai::ChatCompletionRequest;

/// Larger schemas are not compiled (the answer must still parse): compiling is the expensive
/// part, and a client's schema is input like any other.
const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// A failure of structured output, or `None`.
pub fn check_structured_output(request: &ChatCompletionRequest, answer: &Answer) -> Option<String> {
    let format = request.extra.get("response_format")?;
    let kind = format.get("type").and_then(Value::as_str)?;
    if !matches!(kind, "json_object" | "json_schema") || !answer.tool_calls.is_empty() {
        return None;
    }
    let parsed: Value = match serde_json::from_str(answer.text.trim()) {
        Ok(parsed) => parsed,
        Err(err) => return Some(format!("the answer is not JSON: {err}")),
    };
    if kind == "json_object" {
        return (!parsed.is_object()).then(|| "the answer is not a JSON object".into());
    }
    let schema = format.pointer("/json_schema/schema")?;
    invalid(schema, &parsed).map(|err| format!("the answer does not match the schema: {err}"))
}

/// A tool call the request does not allow, arguments that do not parse or validate, or no call
/// where `tool_choice` requires one; `None` when the calls are sound.
pub fn check_tool_calls(request: &ChatCompletionRequest, answer: &Answer) -> Option<String> {
    let tools = request.extra.get("tools").and_then(Value::as_array)?;
    let required = match request.extra.get("tool_choice") {
        Some(Value::String(choice)) => (choice == "required").then_some(None),
        Some(choice @ Value::Object(_)) => choice
            .pointer("/function/name")
            .and_then(Value::as_str)
            .map(Some),
        _ => None,
    };
    if answer.tool_calls.is_empty() {
        return required.map(|name| match name {
            Some(name) => format!("tool_choice requires a call to {name}; there is none"),
            None => "tool_choice requires a tool call; there is none".into(),
        });
    }
    for (name, arguments) in &answer.tool_calls {
        if let Some(Some(forced)) = required
            && forced != name
        {
            return Some(format!(
                "tool_choice requires {forced}; the call is to {name}"
            ));
        }
        let Some(tool) = tools
            .iter()
            .find(|tool| tool.pointer("/function/name").and_then(Value::as_str) == Some(name))
        else {
            return Some(format!(
                "a call to {name}, which the request does not offer"
            ));
        };
        let parsed: Value = match serde_json::from_str(arguments) {
            Ok(parsed) => parsed,
            Err(err) => return Some(format!("the arguments of {name} are not JSON: {err}")),
        };
        if let Some(schema) = tool.pointer("/function/parameters")
            && let Some(err) = invalid(schema, &parsed)
        {
            return Some(format!(
                "the arguments of {name} do not match its parameters: {err}"
            ));
        }
    }
    None
}

/// The first way `instance` breaks `schema`; `None` when it validates, or when the schema is too
/// large or not one (a request's broken schema is the provider's to refuse, not this check's).
fn invalid(schema: &Value, instance: &Value) -> Option<String> {
    if serde_json::to_vec(schema).map_or(true, |bytes| bytes.len() > MAX_SCHEMA_BYTES) {
        return None;
    }
    let validator = jsonschema::validator_for(schema).ok()?;
    let error = validator.iter_errors(instance).next()?;
    let message = error.to_string();
    let message = match crate::openai::clipped(&message, 200) {
        whole if whole.len() == message.len() => message.clone(),
        cut => format!("{cut}…"),
    };
    let path = error.instance_path().to_string();
    Some(if path.is_empty() {
        message
    } else {
        format!("at {path}: {message}")
    })
}
