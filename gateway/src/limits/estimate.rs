//! What a request may cost before it is sent: the bound a budget reserves, and the token count a
//! tokens-per-minute limit counts until the real one is known.

use serde_json::Value;

use crate::catalog::CatalogModel;

/// Tokens counted for one image, audio clip or file part: above what OpenAI, Anthropic and Gemini
/// charge for the largest image they accept, far below the bytes of its base64.
const TOKENS_PER_MEDIA_PART: u64 = 8_000;
/// What chat formatting adds around each message and around the reply: OpenAI's count (3 and 3)
/// for the likely size, a margin over every provider's for the bound.
const TOKENS_PER_MESSAGE: (u64, u64) = (3, 8);
const TOKENS_PER_REQUEST: (u64, u64) = (3, 16);

/// What one request may cost and will probably use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Estimate {
    /// The most the request can cost at list price, in nano-dollars: what a budget reserves.
    pub worst_case_nanos: i64,
    /// Prompt tokens (four characters a token) plus the output asked for: what a
    /// tokens-per-minute limit counts until the answer says how many were used.
    pub tokens: u64,
}

/// The prompt and the output a request asks for, whatever its API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestSize {
    /// No tokenizer makes more than one token of a byte: the bytes of the text, plus formatting.
    pub prompt_tokens_bound: u64,
    /// Four characters a token, the usual rule of thumb.
    pub prompt_tokens_likely: u64,
    /// `max_tokens` or its equivalent, if the request sets one.
    pub max_output_tokens: Option<u64>,
    /// Choices asked for (`n`).
    pub choices: u64,
}

impl RequestSize {
    /// A chat request (or a dialect request converted to one).
    pub fn of_chat(request: &crate::openai::ChatCompletionRequest) -> Self {
        let (mut bytes, mut media) = (0u64, 0u64);
        for message in &request.messages {
            measure(message, &mut bytes, &mut media);
        }
        for field in ["tools", "functions", "response_format"] {
            if let Some(value) = request.extra.get(field) {
                measure(value, &mut bytes, &mut media);
            }
        }
        let messages = request.messages.len() as u64;
        let max_output_tokens = ["max_completion_tokens", "max_tokens"]
            .iter()
            .find_map(|field| request.extra.get(*field).and_then(Value::as_u64));
        let choices = request
            .extra
            .get("n")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .max(1);
        Self::from_parts(bytes, media, messages, max_output_tokens, choices)
    }

    /// A body passed through in a provider's own API (Anthropic Messages, OpenAI Responses).
    pub fn of_native_body(body: &Value, output_field: &str) -> Self {
        let (mut bytes, mut media) = (0u64, 0u64);
        if let Value::Object(fields) = body {
            for (name, value) in fields {
                if name != "model" && name != output_field {
                    measure(value, &mut bytes, &mut media);
                }
            }
        }
        let messages = ["messages", "input"]
            .iter()
            .find_map(|field| body.get(*field).and_then(Value::as_array))
            .map_or(1, |items| items.len() as u64);
        let max_output_tokens = body.get(output_field).and_then(Value::as_u64);
        Self::from_parts(bytes, media, messages, max_output_tokens, 1)
    }

    fn from_parts(
        bytes: u64,
        media: u64,
        messages: u64,
        max_output_tokens: Option<u64>,
        choices: u64,
    ) -> Self {
        // Every count comes from the client (`n`, `max_tokens` up to u64::MAX): saturate, never
        // overflow (a panic in a debug build, a wrap-around in a release one).
        let likely_overhead = TOKENS_PER_REQUEST
            .0
            .saturating_add(TOKENS_PER_MESSAGE.0.saturating_mul(messages));
        let bound_overhead = TOKENS_PER_REQUEST
            .1
            .saturating_add(TOKENS_PER_MESSAGE.1.saturating_mul(messages));
        let media_tokens = TOKENS_PER_MEDIA_PART.saturating_mul(media);
        Self {
            prompt_tokens_bound: bytes
                .saturating_add(media_tokens)
                .saturating_add(bound_overhead),
            prompt_tokens_likely: (bytes / 4)
                .saturating_add(media_tokens)
                .saturating_add(likely_overhead),
            max_output_tokens,
            choices,
        }
    }

    /// The estimate over the models the request may be served by (its route and fallbacks):
    /// the dearest of them, since any one may answer.
    pub fn estimate<'a>(
        &self,
        models: impl IntoIterator<Item = Option<&'a CatalogModel>>,
    ) -> Estimate {
        let mut estimate = Estimate {
            worst_case_nanos: 0,
            tokens: self.prompt_tokens_likely.saturating_add(
                self.max_output_tokens
                    .unwrap_or(0)
                    .saturating_mul(self.choices),
            ),
        };
        for model in models {
            // A model the catalog does not price costs nothing at list price.
            let Some(model) = model else { continue };
            let output = self
                .max_output_tokens
                .map_or(model.output_limit(), |asked| {
                    asked.min(model.output_limit())
                })
                .saturating_mul(self.choices);
            let nanos = (self.prompt_tokens_bound as f64 * model.input_per_mtok
                + output as f64 * model.output_per_mtok)
                * (super::settings::NANOS_PER_USD / 1e6);
            estimate.worst_case_nanos = estimate.worst_case_nanos.max(nanos.ceil() as i64);
        }
        estimate
    }
}

/// Adds the bytes of every string in `value`, counting media parts (images, audio, files) as a
/// fixed number of tokens instead of their base64.
fn measure(value: &Value, bytes: &mut u64, media: &mut u64) {
    match value {
        Value::String(text) => *bytes += text.len() as u64,
        Value::Number(number) => *bytes += number.to_string().len() as u64,
        Value::Array(items) => items.iter().for_each(|item| measure(item, bytes, media)),
        Value::Object(fields) => {
            let kind = fields.get("type").and_then(Value::as_str).unwrap_or("");
            let is_media = matches!(
                kind,
                "image_url"
                    | "input_image"
                    | "image"
                    | "input_audio"
                    | "file"
                    | "input_file"
                    | "document"
            );
            if is_media {
                *media += 1;
                return;
            }
            for (name, value) in fields {
                *bytes += name.len() as u64;
                measure(value, bytes, media);
            }
        }
        Value::Bool(_) | Value::Null => *bytes += 4,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalog::Catalog;
    use crate::openai::ChatCompletionRequest;
    use crate::providers::ProviderKind;

    fn chat(body: Value) -> ChatCompletionRequest {
        ChatCompletionRequest::from_json_bytes(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn the_worst_case_bounds_prompt_bytes_and_the_output_asked_for() {
        let mini = Catalog::built_in()
            .find(ProviderKind::OpenAi, "gpt-4o-mini")
            .unwrap();
        let request = chat(
            json!({"messages": [{"role": "user", "content": "x".repeat(400)}],
            "max_tokens": 100}),
        );
        let size = RequestSize::of_chat(&request);
        assert!(size.prompt_tokens_bound >= 400, "{size:?}");
        assert!(size.prompt_tokens_likely < size.prompt_tokens_bound);
        let estimate = size.estimate([Some(mini)]);
        let expected = (size.prompt_tokens_bound as f64 * 0.15 + 100.0 * 0.60) * 1000.0;
        assert_eq!(estimate.worst_case_nanos, expected.ceil() as i64);
        assert_eq!(estimate.tokens, size.prompt_tokens_likely + 100);
    }

    #[test]
    fn counts_a_client_sets_to_the_maximum_saturate() {
        let body = json!({"model": "auto", "max_tokens": u64::MAX, "n": u64::MAX,
            "messages": [{"role": "user", "content": "hi"}]});
        let request =
            crate::openai::ChatCompletionRequest::from_json_bytes(body.to_string().as_bytes())
                .unwrap();
        let size = RequestSize::of_chat(&request);
        let catalog = crate::catalog::Catalog::built_in();
        let estimate =
            size.estimate([catalog.find(crate::providers::ProviderKind::OpenAi, "gpt-4o")]);
        assert_eq!(estimate.tokens, u64::MAX);
        assert!(estimate.worst_case_nanos > 0);
    }

    #[test]
    fn without_max_tokens_the_models_output_limit_is_reserved_and_the_dearest_model_counts() {
        let catalog = Catalog::built_in();
        let mini = catalog.find(ProviderKind::OpenAi, "gpt-4o-mini").unwrap();
        let big = catalog.find(ProviderKind::OpenAi, "gpt-4o").unwrap();
        let size = RequestSize::of_chat(&chat(
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        ));
        let small = size.estimate([Some(mini)]).worst_case_nanos;
        assert!(small >= (mini.output_limit() as f64 * 600.0) as i64);
        assert!(
            size.estimate([Some(mini), Some(big), None])
                .worst_case_nanos
                > small
        );
        assert_eq!(size.estimate([None]).worst_case_nanos, 0);
    }

    #[test]
    fn images_count_as_a_fixed_number_of_tokens_not_their_base64() {
        let image = format!("data:image/png;base64,{}", "A".repeat(1_000_000));
        let request = chat(json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": image}}]}]}));
        let size = RequestSize::of_chat(&request);
        assert!(size.prompt_tokens_bound < 10_000, "{size:?}");
        assert!(size.prompt_tokens_bound >= TOKENS_PER_MEDIA_PART);
    }

    #[test]
    fn native_bodies_are_measured_without_their_model() {
        let body = json!({"model": "claude-3-5-haiku-latest", "max_tokens": 64,
            "messages": [{"role": "user", "content": "hello there"}]});
        let size = RequestSize::of_native_body(&body, "max_tokens");
        assert_eq!(size.max_output_tokens, Some(64));
        assert!(size.prompt_tokens_bound >= 11);
    }
}
