//! The tools of a Responses request as chat takes them: function tools as they are, the function
//! tools of a `namespace` (a group, as the Codex CLI sends them) flattened to `<namespace>__<name>`
//! and mapped back by name in the answer; hosted tools (`web_search`, …) are OpenAI's alone.

use serde_json::{Value, json};

use crate::dialects::wire::{DialectError, unsupported};

/// The chat name of a namespace's tool.
pub fn flat_name(namespace: &str, name: &str) -> String {
    format!("{namespace}__{name}")
}

/// A chat tool name back to the namespace and name the client offered (no namespace: as is).
pub fn split_name<'n>(offered: &'n Value, flat: &'n str) -> (Option<&'n str>, &'n str) {
    for tool in offered.as_array().into_iter().flatten() {
        if tool["type"] != "namespace" {
            continue;
        }
        let Some(namespace) = tool["name"].as_str() else {
            continue;
        };
        let Some(name) = flat
            .strip_prefix(namespace)
            .and_then(|rest| rest.strip_prefix("__"))
        else {
            continue;
        };
        let inner = tool["tools"].as_array().into_iter().flatten();
        if inner.into_iter().any(|inner| inner["name"] == name) {
            return (Some(namespace), name);
        }
    }
    (None, flat)
}

/// The request's tools → chat tools.
pub(super) fn to_chat(tools: &[Value]) -> Result<Vec<Value>, DialectError> {
    let mut converted = Vec::with_capacity(tools.len());
    for (index, tool) in tools.iter().enumerate() {
        let param = format!("tools[{index}]");
        if tool["type"] != "namespace" {
            converted.push(function_tool(tool, &param, None)?);
            continue;
        }
        let Some(namespace) = tool["name"].as_str() else {
            return Err(DialectError::invalid(&param, "a namespace needs a name"));
        };
        for (inner_index, inner) in tool["tools"].as_array().into_iter().flatten().enumerate() {
            let inner_param = format!("{param}.tools[{inner_index}]");
            converted.push(function_tool(inner, &inner_param, Some(namespace))?);
        }
    }
    Ok(converted)
}

/// A Responses function tool (flat) → a chat tool, named for its namespace if it has one.
fn function_tool(
    tool: &Value,
    param: &str,
    namespace: Option<&str>,
) -> Result<Value, DialectError> {
    if tool.get("type").and_then(Value::as_str) != Some("function") {
        let kind = tool
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("untyped");
        return Err(unsupported(param, &format!("{kind} tools")));
    }
    let Some(name) = tool.get("name").and_then(Value::as_str) else {
        return Err(DialectError::invalid(param, "a function tool needs a name"));
    };
    let name = match namespace {
        Some(namespace) => flat_name(namespace, name),
        None => name.to_owned(),
    };
    let mut function = json!({"name": name});
    for field in ["description", "parameters", "strict"] {
        if let Some(value) = tool.get(field).filter(|value| !value.is_null()) {
            function[field] = value.clone();
        }
    }
    Ok(json!({"type": "function", "function": function}))
}

/// The request without the hosted tools it offers (`web_search`, …), and their kinds: what a
/// translation for another provider can go without, as long as none is forced. `None` when there
/// are none, or one is forced.
pub fn without_hosted_tools(body: &Value) -> Option<(Value, Vec<String>)> {
    let tools = body.get("tools")?.as_array()?;
    let hosted = |tool: &Value| !matches!(tool["type"].as_str(), Some("function" | "namespace"));
    let dropped: Vec<String> = tools
        .iter()
        .filter(|tool| hosted(tool))
        .map(|tool| tool["type"].as_str().unwrap_or("untyped").to_owned())
        .collect();
    let forced = body
        .get("tool_choice")
        .is_some_and(|choice| choice.is_object() && choice["type"] != "function");
    let kept: Vec<Value> = tools.iter().filter(|tool| !hosted(tool)).cloned().collect();
    let required_of_none = kept.is_empty() && body.get("tool_choice") == Some(&json!("required"));
    if dropped.is_empty() || forced || required_of_none {
        return None;
    }
    let mut reduced = body.clone();
    reduced["tools"] = Value::Array(kept);
    Some((reduced, dropped))
}

#[cfg(test)]
mod tests {
    use super::super::{from_chat_completion, to_chat_request};
    use super::*;

    /// The Codex CLI's turn (0.171.0, `model = "auto"`), as captured in `tests/clients`.
    fn codex_turn() -> Value {
        serde_json::from_str(include_str!(
            "../../../../tests/clients/fixtures/codex/turn-auto.json"
        ))
        .unwrap()
    }

    #[test]
    fn codex_without_web_search_is_translated_with_its_namespace_flattened() {
        let turn = codex_turn();
        // As sent, chat cannot take the hosted tool.
        let refused = to_chat_request(&turn).unwrap_err();
        assert!(refused.unsupported);
        assert!(
            refused
                .message
                .contains("web_search tools cannot be translated"),
            "{}",
            refused.message
        );

        let (reduced, dropped) = without_hosted_tools(&turn).unwrap();
        assert_eq!(dropped, ["web_search"]);
        let (chat, echo) = to_chat_request(&reduced).unwrap();
        let names: Vec<&str> = chat["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tool| tool["function"]["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"exec_command"), "{names:?}");
        assert!(names.contains(&"multi_agent_v1__spawn_agent"), "{names:?}");

        // A call of a flattened tool comes back under its namespace, and goes out again flat.
        let completion = json!({"id": "chatcmpl-1", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "multi_agent_v1__spawn_agent", "arguments": "{}"}}]}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
        let answer = from_chat_completion(&completion, &echo);
        let call = &answer["output"][0];
        assert_eq!(
            (call["namespace"].as_str(), call["name"].as_str()),
            (Some("multi_agent_v1"), Some("spawn_agent"))
        );
        let mut next = reduced.clone();
        next["input"] = json!([call, {"type": "function_call_output", "call_id": "call_1", "output": "spawned"}]);
        let (chat, _) = to_chat_request(&next).unwrap();
        assert_eq!(
            chat["messages"][0]["tool_calls"][0]["function"]["name"],
            "multi_agent_v1__spawn_agent"
        );
    }

    #[test]
    fn a_forced_hosted_tool_is_not_left_out() {
        let mut turn = codex_turn();
        turn["tool_choice"] = json!({"type": "web_search"});
        assert!(without_hosted_tools(&turn).is_none());
        let only_hosted =
            json!({"input": "x", "tools": [{"type": "web_search"}], "tool_choice": "required"});
        assert!(without_hosted_tools(&only_hosted).is_none());
        let plain = json!({"input": "x", "tools": [{"type": "function", "name": "f"}]});
        assert!(without_hosted_tools(&plain).is_none());
    }

    #[test]
    fn a_name_is_split_only_for_a_namespace_that_offers_it() {
        let offered = json!([{"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "a"}]},
            {"type": "function", "name": "ns__b"}]);
        assert_eq!(split_name(&offered, "ns__a"), (Some("ns"), "a"));
        assert_eq!(split_name(&offered, "ns__b"), (None, "ns__b"));
        assert_eq!(
            split_name(&Value::Null, "mcp__server__tool"),
            (None, "mcp__server__tool")
        );
    }
}
