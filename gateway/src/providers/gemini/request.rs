//! OpenAI chat and embeddings requests → Gemini `GenerateContentRequest` and
//! `batchEmbedContents` requests.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::error::RequestError;
use crate::openai::{
    ChatCompletionRequest, Content, ContentPart, EmbeddingInput, EmbeddingsRequest, Message,
    ResponseFormat, ToolChoice,
};

fn unsupported(param: &str, reason: &str) -> RequestError {
    RequestError::InvalidField {
        param: param.to_owned(),
        reason: format!("{reason} (not supported by Gemini)"),
    }
}

/// OpenAI chat request → Gemini `GenerateContentRequest`.
pub(super) fn to_request(request: &ChatCompletionRequest) -> Result<Value, RequestError> {
    let params = request.params()?;
    if params.logprobs {
        return Err(unsupported("logprobs", "log probabilities"));
    }
    let messages = request.typed_messages()?;
    // Tool results name only the call id; Gemini wants the function name.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for message in &messages {
        if let Message::Assistant { tool_calls, .. } = message {
            for call in tool_calls {
                call_names.insert(&call.id, &call.function.name);
            }
        }
    }

    let mut system = Vec::new();
    let mut contents: Vec<(String, Vec<Value>)> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let (role, parts) = match message {
            Message::System { content } | Message::Developer { content } => {
                system.push(json!({"text": content.text()}));
                continue;
            }
            Message::User { content } => ("user", parts(content, index)?),
            Message::Assistant {
                content,
                tool_calls,
            } => {
                let mut converted = match content {
                    Some(content) => parts(content, index)?,
                    None => Vec::new(),
                };
                for call in tool_calls {
                    let args = call.parsed_arguments(index)?;
                    converted
                        .push(json!({"functionCall": {"name": call.function.name, "args": args}}));
                }
                ("model", converted)
            }
            Message::Tool {
                content,
                tool_call_id,
            } => {
                let Some(name) = call_names.get(tool_call_id.as_str()) else {
                    return Err(RequestError::InvalidField {
                        param: format!("messages[{index}].tool_call_id"),
                        reason: "no earlier assistant message made this tool call".into(),
                    });
                };
                let text = content.text();
                let response = serde_json::from_str::<Value>(&text)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({"content": text}));
                (
                    "user",
                    vec![json!({"functionResponse": {"name": name, "response": response}})],
                )
            }
            Message::Function { content, name } => (
                "user",
                vec![
                    json!({"functionResponse": {"name": name, "response": {"content": content.clone().unwrap_or_default()}}}),
                ],
            ),
        };
        match contents.last_mut() {
            Some((last_role, last_parts)) if last_role == role => last_parts.extend(parts),
            _ => contents.push((role.to_owned(), parts)),
        }
    }

    let mut body = Map::new();
    body.insert(
        "contents".into(),
        Value::Array(
            contents
                .into_iter()
                .map(|(role, parts)| json!({"role": role, "parts": parts}))
                .collect(),
        ),
    );
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    let mut generation = Map::new();
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            generation.insert(key.into(), value);
        }
    };
    set("temperature", params.temperature.map(|v| json!(v)));
    set("topP", params.top_p.map(|v| json!(v)));
    set("maxOutputTokens", params.max_tokens.map(|v| json!(v)));
    set("candidateCount", params.n.map(|v| json!(v)));
    set("seed", params.seed.map(|v| json!(v)));
    set("presencePenalty", params.presence_penalty.map(|v| json!(v)));
    set(
        "frequencyPenalty",
        params.frequency_penalty.map(|v| json!(v)),
    );
    set(
        "stopSequences",
        (!params.stop.is_empty()).then(|| json!(params.stop)),
    );
    match &params.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            set("responseMimeType", Some(json!("application/json")))
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            set("responseMimeType", Some(json!("application/json")));
            set("responseJsonSchema", Some(schema.clone()));
        }
    }
    if !generation.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation));
    }
    if !params.tools.is_empty() {
        let declarations: Vec<Value> = params
            .tools
            .iter()
            .map(|tool| {
                let mut declaration = json!({"name": tool.function.name});
                if let Some(description) = &tool.function.description {
                    declaration["description"] = json!(description);
                }
                if let Some(parameters) = &tool.function.parameters {
                    declaration["parameters"] = parameters.clone();
                }
                declaration
            })
            .collect();
        body.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
        let config = match &params.tool_choice {
            None | Some(ToolChoice::Auto) => None,
            Some(ToolChoice::None) => Some(json!({"mode": "NONE"})),
            Some(ToolChoice::Required) => Some(json!({"mode": "ANY"})),
            Some(ToolChoice::Function(name)) => {
                Some(json!({"mode": "ANY", "allowedFunctionNames": [name]}))
            }
        };
        if let Some(config) = config {
            body.insert(
                "toolConfig".into(),
                json!({"functionCallingConfig": config}),
            );
        }
    }
    Ok(Value::Object(body))
}

fn parts(content: &Content, index: usize) -> Result<Vec<Value>, RequestError> {
    let parts = match content {
        Content::Text(text) => return Ok(vec![json!({"text": text})]),
        Content::Parts(parts) => parts,
    };
    parts
        .iter()
        .enumerate()
        .map(|(part_index, part)| {
            let param = || format!("messages[{index}].content[{part_index}]");
            match part {
                ContentPart::Text { text } => Ok(json!({"text": text})),
                ContentPart::Refusal { refusal } => Ok(json!({"text": refusal})),
                ContentPart::ImageUrl { image_url } => match image_url.inline() {
                    Some(image) => Ok(
                        json!({"inlineData": {"mimeType": image.media_type, "data": image.base64}}),
                    ),
                    None => Err(unsupported(
                        &param(),
                        "images by URL; send them as base64 data URLs",
                    )),
                },
                ContentPart::InputAudio { .. } | ContentPart::File { .. } => {
                    Err(unsupported(&param(), "audio and file parts"))
                }
            }
        })
        .collect()
}

/// OpenAI embeddings input → Gemini `batchEmbedContents` request.
pub(super) fn to_embeddings_request(
    request: &EmbeddingsRequest,
    model: &str,
) -> Result<Value, RequestError> {
    let texts = match &request.input {
        EmbeddingInput::One(text) => vec![text.clone()],
        EmbeddingInput::Many(texts) => texts.clone(),
        EmbeddingInput::Tokens(_) => return Err(unsupported("input", "token arrays")),
    };
    let mut requests = Vec::new();
    for text in texts {
        let mut one =
            json!({"model": format!("models/{model}"), "content": {"parts": [{"text": text}]}});
        if let Some(dimensions) = request.extra.get("dimensions").and_then(Value::as_u64) {
            one["outputDimensionality"] = json!(dimensions);
        }
        requests.push(one);
    }
    Ok(json!({"requests": requests}))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::providers::gemini::response::from_embeddings_response;
    use crate::providers::gemini::test_support::fixture;
    use crate::test_support::request;

    #[test]
    fn converts_roles_system_tools_and_parameters() {
        let body = to_request(&request(json!({
            "messages": [
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": [{"type": "text", "text": "Weather?"}, {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_0", "content": "{\"celsius\": 18}"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "temperature": 0.1, "max_tokens": 50, "stop": ["x"], "seed": 3,
            "response_format": {"type": "json_object"}
        })))
        .unwrap();
        assert_eq!(
            body["systemInstruction"],
            json!({"parts": [{"text": "Be terse."}]})
        );
        assert_eq!(body["contents"][0]["role"], "user");
        assert_eq!(
            body["contents"][0]["parts"][1],
            json!({"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}})
        );
        assert_eq!(
            body["contents"][1],
            json!({"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]})
        );
        assert_eq!(
            body["contents"][2]["parts"][0],
            json!({"functionResponse": {"name": "get_weather", "response": {"celsius": 18}}})
        );
        assert_eq!(
            body["tools"][0]["functionDeclarations"][0]["name"],
            "get_weather"
        );
        assert_eq!(
            body["toolConfig"]["functionCallingConfig"],
            json!({"mode": "ANY", "allowedFunctionNames": ["get_weather"]})
        );
        assert_eq!(
            body["generationConfig"],
            json!({"temperature": 0.1, "maxOutputTokens": 50, "stopSequences": ["x"], "seed": 3, "responseMimeType": "application/json"})
        );
    }

    #[test]
    fn refuses_what_gemini_cannot_do() {
        let by_url = request(
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/cat.png"}}]}]}),
        );
        assert!(to_request(&by_url).is_err());
        let orphan = request(
            json!({"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}),
        );
        assert!(to_request(&orphan).is_err());
        let logprobs =
            request(json!({"messages": [{"role": "user", "content": "x"}], "logprobs": true}));
        assert!(to_request(&logprobs).is_err());
    }

    #[test]
    fn converts_embeddings() {
        let request: EmbeddingsRequest =
            serde_json::from_value(json!({"model": "text-embedding-004", "input": ["a", "b"]}))
                .unwrap();
        let body = to_embeddings_request(&request, "text-embedding-004").unwrap();
        assert_eq!(body["requests"][1]["content"]["parts"][0]["text"], "b");
        assert_eq!(body["requests"][0]["model"], "models/text-embedding-004");
        let list = from_embeddings_response(
            fixture("batch_embed_contents.json").as_bytes(),
            "text-embedding-004",
        )
        .unwrap();
        assert_eq!(list["data"].as_array().unwrap().len(), 2);
        assert_eq!(list["data"][1]["index"], 1);
    }
}
