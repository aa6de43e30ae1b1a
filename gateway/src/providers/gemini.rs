//! Google Gemini's `generateContent` and `streamGenerateContent?alt=sse`, converted by pure
//! functions tested against fixtures that follow Google's API reference.
//!
//! Refused with a 400: `logprobs`, images by http(s) URL (Gemini takes inline base64 data URLs
//! through the gateway), audio and file parts. Tool call ids do not exist in Gemini: the gateway
//! makes them up (`call_<n>`) and maps tool results back to the function name through the
//! assistant message that made the call.

use std::collections::HashMap;

use axum::http::{HeaderValue, StatusCode};
use futures::StreamExt as _;
use serde_json::{Map, Value, json};

use super::{ChatOutcome, ChunkStream, EmbeddingsOutcome, StreamItem, UpstreamCall};
use crate::error::{RequestError, UpstreamError};
use crate::openai::{
    AssistantMessage, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Choice, Content,
    ContentPart, Delta, EmbeddingInput, EmbeddingsRequest, FunctionCall, FunctionCallDelta,
    Message, ResponseFormat, ToolCall, ToolCallDelta, ToolChoice, Usage,
};

const PROVIDER: &str = "gemini";

fn unsupported(param: &str, reason: &str) -> RequestError {
    RequestError::InvalidField {
        param: param.to_owned(),
        reason: format!("{reason} (not supported by Gemini)"),
    }
}

/// OpenAI chat request → Gemini `GenerateContentRequest`.
pub fn to_request(request: &ChatCompletionRequest) -> Result<Value, RequestError> {
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

pub fn finish_reason(reason: &str) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            "content_filter"
        }
        _ => "stop",
    }
}

fn usage_of(response: &Value) -> Option<Usage> {
    let metadata = response.get("usageMetadata")?;
    let count = |key: &str| metadata.get(key).and_then(Value::as_u64).unwrap_or(0) as u32;
    let prompt = count("promptTokenCount");
    // Thinking models bill their thoughts as output.
    let completion = count("candidatesTokenCount") + count("thoughtsTokenCount");
    Some(Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
    })
}

/// Text and function calls of one candidate. Call ids are numbered from `first_call`.
fn candidate_content(candidate: &Value, first_call: usize) -> (String, Vec<ToolCall>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(piece) = part.get("text").and_then(Value::as_str) {
            text.push_str(piece);
        }
        if let Some(call) = part.get("functionCall") {
            calls.push(ToolCall {
                id: call
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("call_{}", first_call + calls.len())),
                kind: "function".into(),
                function: FunctionCall {
                    name: call
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    arguments: call
                        .get("args")
                        .cloned()
                        .unwrap_or_else(|| json!({}))
                        .to_string(),
                },
            });
        }
    }
    (text, calls)
}

/// Gemini `GenerateContentResponse` → OpenAI `chat.completion`.
pub fn from_response(body: &[u8], model: &str, created: i64) -> Result<ChatCompletion, String> {
    let response: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let candidates = response
        .get("candidates")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if candidates.is_empty() {
        let reason = response
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str)
            .unwrap_or("no candidates");
        return Err(format!("Gemini returned no answer ({reason})"));
    }
    let choices = candidates
        .iter()
        .enumerate()
        .map(|(index, candidate)| {
            let (text, calls) = candidate_content(candidate, 0);
            let mut finish = candidate
                .get("finishReason")
                .and_then(Value::as_str)
                .map(finish_reason)
                .unwrap_or("stop");
            if !calls.is_empty() && finish == "stop" {
                finish = "tool_calls";
            }
            Choice {
                index: index as u32,
                message: AssistantMessage {
                    role: "assistant".into(),
                    content: (!text.is_empty() || calls.is_empty()).then_some(text),
                    tool_calls: (!calls.is_empty()).then_some(calls),
                    refusal: None,
                },
                finish_reason: Some(finish.to_owned()),
                logprobs: None,
            }
        })
        .collect();
    Ok(ChatCompletion {
        id: format!(
            "chatcmpl-{}",
            response
                .get("responseId")
                .and_then(Value::as_str)
                .unwrap_or("gemini")
        ),
        object: "chat.completion".into(),
        created,
        model: response
            .get("modelVersion")
            .and_then(Value::as_str)
            .unwrap_or(model)
            .to_owned(),
        choices,
        usage: usage_of(&response).unwrap_or_default(),
    })
}

/// Turns Gemini's streamed responses into OpenAI chunks.
pub struct StreamConverter {
    id: String,
    model: String,
    created: i64,
    started: bool,
    calls: usize,
    usage: Option<Usage>,
}

impl StreamConverter {
    pub fn new(model: &str, created: i64) -> Self {
        Self {
            id: String::new(),
            model: model.to_owned(),
            created,
            started: false,
            calls: 0,
            usage: None,
        }
    }

    fn chunk(&self, delta: Delta, finish: Option<String>) -> StreamItem {
        StreamItem::chunk(&ChatCompletionChunk::new(
            &self.id,
            self.created,
            &self.model,
            delta,
            finish,
        ))
    }

    pub fn on_data(&mut self, data: &str) -> Result<Vec<StreamItem>, UpstreamError> {
        let response: Value =
            serde_json::from_str(data).map_err(|e| UpstreamError::InvalidResponse {
                provider: PROVIDER,
                detail: format!("bad stream event: {e}"),
            })?;
        if let Some(error) = response.get("error") {
            return Err(error_from_value(StatusCode::BAD_GATEWAY, None, error));
        }
        let mut items = Vec::new();
        if !self.started {
            self.started = true;
            self.id = format!(
                "chatcmpl-{}",
                response
                    .get("responseId")
                    .and_then(Value::as_str)
                    .unwrap_or("gemini")
            );
            if let Some(version) = response.get("modelVersion").and_then(Value::as_str) {
                self.model = version.to_owned();
            }
            items.push(self.chunk(
                Delta {
                    role: Some("assistant".into()),
                    content: Some(String::new()),
                    ..Delta::default()
                },
                None,
            ));
        }
        if let Some(usage) = usage_of(&response) {
            self.usage = Some(usage);
        }
        let Some(candidate) = response.pointer("/candidates/0") else {
            return Ok(items);
        };
        let (text, calls) = candidate_content(candidate, self.calls);
        if !text.is_empty() {
            items.push(self.chunk(
                Delta {
                    content: Some(text),
                    ..Delta::default()
                },
                None,
            ));
        }
        if !calls.is_empty() {
            let deltas = calls
                .into_iter()
                .enumerate()
                .map(|(offset, call)| ToolCallDelta {
                    index: (self.calls + offset) as u32,
                    id: Some(call.id),
                    kind: Some("function".into()),
                    function: FunctionCallDelta {
                        name: Some(call.function.name),
                        arguments: Some(call.function.arguments),
                    },
                })
                .collect::<Vec<_>>();
            self.calls += deltas.len();
            items.push(self.chunk(
                Delta {
                    tool_calls: Some(deltas),
                    ..Delta::default()
                },
                None,
            ));
        }
        if let Some(reason) = candidate.get("finishReason").and_then(Value::as_str) {
            let mut finish = finish_reason(reason);
            if self.calls > 0 && finish == "stop" {
                finish = "tool_calls";
            }
            items.push(self.chunk(Delta::default(), Some(finish.to_owned())));
        }
        Ok(items)
    }

    /// The usage-only last chunk, once the stream has ended.
    pub fn finish(&self) -> Option<StreamItem> {
        let usage = self.usage?;
        Some(StreamItem::usage_only(&ChatCompletionChunk::usage_only(
            &self.id,
            self.created,
            &self.model,
            usage,
        )))
    }
}

fn error_from_value(
    status: StatusCode,
    retry_after: Option<HeaderValue>,
    error: &Value,
) -> UpstreamError {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("error")
        .to_owned();
    let google_status = error
        .get("status")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let key_invalid = error
        .get("details")
        .and_then(Value::as_array)
        .is_some_and(|details| {
            details
                .iter()
                .any(|d| d.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"))
        });
    // Google answers a bad key with 400; its meaning is a 401.
    let status = if key_invalid {
        StatusCode::UNAUTHORIZED
    } else {
        status
    };
    let kind = match status.as_u16() {
        401 | 403 => "authentication_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    };
    // Google puts the retry delay in the body (RetryInfo), not in a header.
    let retry_after = retry_after.or_else(|| {
        let delay = error
            .get("details")?
            .as_array()?
            .iter()
            .find_map(|d| d.get("retryDelay")?.as_str())?;
        let seconds = delay.trim_end_matches('s').parse::<f64>().ok()?;
        HeaderValue::from_str(&(seconds.ceil() as u64).to_string()).ok()
    });
    UpstreamError::Status {
        provider: PROVIDER,
        status,
        message,
        kind: Some(kind.to_owned()),
        code: if key_invalid {
            Some("invalid_api_key".into())
        } else {
            google_status.map(|s| s.to_lowercase())
        },
        retry_after,
    }
}

pub fn error_from_body(
    status: StatusCode,
    retry_after: Option<HeaderValue>,
    body: &[u8],
) -> UpstreamError {
    match serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").cloned())
    {
        Some(error) => error_from_value(status, retry_after, &error),
        None => UpstreamError::Status {
            provider: PROVIDER,
            status,
            message: format!("upstream answered {status} without an error body"),
            kind: None,
            code: None,
            retry_after,
        },
    }
}

/// OpenAI embeddings input → Gemini `batchEmbedContents` request.
pub fn to_embeddings_request(
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

/// Gemini `batchEmbedContents` response → OpenAI embeddings list.
pub fn from_embeddings_response(body: &[u8], model: &str) -> Result<Value, String> {
    let response: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let embeddings = response
        .get("embeddings")
        .and_then(Value::as_array)
        .ok_or("no embeddings in the response")?;
    let data: Vec<Value> = embeddings
        .iter()
        .enumerate()
        .map(|(index, embedding)| json!({"object": "embedding", "index": index, "embedding": embedding.get("values").cloned().unwrap_or(json!([]))}))
        .collect();
    Ok(
        json!({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": 0, "total_tokens": 0}}),
    )
}

pub struct Gemini;

impl Gemini {
    async fn post(
        &self,
        call: &UpstreamCall<'_>,
        path: &str,
        body: &Value,
    ) -> Result<reqwest::Response, UpstreamError> {
        let url = format!(
            "{}/v1beta/models/{path}",
            call.endpoint.base_url.trim_end_matches('/')
        );
        let request = call
            .http
            .post(url)
            .header("x-goog-api-key", call.endpoint.api_key.expose())
            .json(body);
        super::send(PROVIDER, call.timeout, request, error_from_body).await
    }
}

impl super::ProviderApi for Gemini {
    async fn chat(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
        model: &str,
    ) -> Result<ChatOutcome, UpstreamError> {
        let body = to_request(request)?;
        let response = self
            .post(call, &format!("{model}:generateContent"), &body)
            .await?;
        let body = super::read_body(PROVIDER, call.timeout, response).await?;
        let completion =
            from_response(&body, model, crate::clock::now_ms() / 1000).map_err(|detail| {
                UpstreamError::InvalidResponse {
                    provider: PROVIDER,
                    detail,
                }
            })?;
        ChatOutcome::from_completion(&completion)
    }

    async fn chat_stream(
        &self,
        call: &UpstreamCall<'_>,
        request: &ChatCompletionRequest,
        model: &str,
    ) -> Result<ChunkStream, UpstreamError> {
        let body = to_request(request)?;
        let response = self
            .post(
                call,
                &format!("{model}:streamGenerateContent?alt=sse"),
                &body,
            )
            .await?;
        let converter = std::sync::Arc::new(parking_lot::Mutex::new(StreamConverter::new(
            model,
            crate::clock::now_ms() / 1000,
        )));
        let on_events = converter.clone();
        let events = super::convert_events(PROVIDER, response, move |event| {
            if event.data.trim().is_empty() {
                return Ok(Vec::new());
            }
            on_events.lock().on_data(&event.data)
        });
        // Gemini has no end-of-stream event: the usage chunk follows the last event.
        let tail = futures::stream::once(async move { converter.lock().finish() })
            .filter_map(|item| async move { item.map(Ok) });
        Ok(Box::pin(events.chain(tail)))
    }

    async fn embeddings(
        &self,
        call: &UpstreamCall<'_>,
        request: &EmbeddingsRequest,
        model: &str,
    ) -> Result<EmbeddingsOutcome, UpstreamError> {
        let body = to_embeddings_request(request, model)?;
        let response = self
            .post(call, &format!("{model}:batchEmbedContents"), &body)
            .await?;
        let body = super::read_body(PROVIDER, call.timeout, response).await?;
        let converted = from_embeddings_response(&body, model).map_err(|detail| {
            UpstreamError::InvalidResponse {
                provider: PROVIDER,
                detail,
            }
        })?;
        Ok(EmbeddingsOutcome {
            body: converted.to_string().into(),
            prompt_tokens: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::request;

    fn fixture(name: &str) -> String {
        crate::test_support::fixture("gemini", name)
    }

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
    fn converts_documented_responses() {
        let completion = from_response(
            fixture("generate_content.json").as_bytes(),
            "gemini-2.0-flash",
            1,
        )
        .unwrap();
        assert_eq!(
            completion.choices[0].message.content.as_deref(),
            Some("Hello from the fake Gemini server.")
        );
        assert_eq!(completion.choices[0].finish_reason.as_deref(), Some("stop"));
        assert_eq!(
            (
                completion.usage.prompt_tokens,
                completion.usage.completion_tokens
            ),
            (17, 9)
        );

        let call = from_response(
            fixture("generate_content_function_call.json").as_bytes(),
            "m",
            1,
        )
        .unwrap();
        let tool_call = &call.choices[0].message.tool_calls.as_ref().unwrap()[0];
        assert_eq!(tool_call.function.name, "get_weather");
        assert_eq!(
            serde_json::from_str::<Value>(&tool_call.function.arguments).unwrap(),
            json!({"city": "Paris"})
        );
        assert_eq!(call.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    }

    fn convert_stream(name: &str) -> Vec<StreamItem> {
        let mut converter = StreamConverter::new("gemini-2.0-flash", 1);
        let text = fixture(name);
        let mut items: Vec<StreamItem> = text
            .lines()
            .filter_map(|line| line.trim_end_matches('\r').strip_prefix("data: "))
            .flat_map(|data| converter.on_data(data).unwrap())
            .collect();
        items.extend(converter.finish());
        items
    }

    #[test]
    fn converts_documented_streams() {
        let items = convert_stream("stream_generate_content.sse");
        let chunks: Vec<Value> = items
            .iter()
            .map(|i| serde_json::from_slice(&i.json).unwrap())
            .collect();
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "Hello from the fake Gemini server.");
        let last = items.last().unwrap();
        assert!(last.usage_only);
        assert_eq!(last.usage.unwrap().prompt_tokens, 17);

        let calls = convert_stream("stream_function_call.sse");
        let chunks: Vec<Value> = calls
            .iter()
            .map(|i| serde_json::from_slice(&i.json).unwrap())
            .collect();
        let call = chunks
            .iter()
            .find_map(|c| c["choices"][0]["delta"].get("tool_calls"))
            .unwrap();
        assert_eq!(call[0]["function"]["name"], "get_weather");
        assert_eq!(call[0]["id"], "call_0");
        assert!(
            chunks
                .iter()
                .any(|c| c["choices"][0]["finish_reason"] == "tool_calls")
        );
    }

    #[test]
    fn maps_documented_errors() {
        let UpstreamError::Status { status, code, .. } = error_from_body(
            StatusCode::BAD_REQUEST,
            None,
            fixture("error_invalid_api_key.json").as_bytes(),
        ) else {
            panic!()
        };
        assert_eq!(
            (status, code.as_deref()),
            (StatusCode::UNAUTHORIZED, Some("invalid_api_key"))
        );
        let UpstreamError::Status {
            status,
            retry_after,
            ..
        } = error_from_body(
            StatusCode::TOO_MANY_REQUESTS,
            None,
            fixture("error_rate_limit.json").as_bytes(),
        )
        else {
            panic!()
        };
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(retry_after.is_some(), "RetryInfo becomes Retry-After");
        let UpstreamError::Status { status, .. } = error_from_body(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            fixture("error_unavailable.json").as_bytes(),
        ) else {
            panic!()
        };
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
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
