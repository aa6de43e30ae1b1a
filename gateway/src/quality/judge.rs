//! The judge: MT-Bench's grading prompt for two answers to the same conversation, and reading its
//! ratings back. Pure functions, tested against the answers judges give.

use serde_json::{Value, json};

use crate::openai::ChatCompletionRequest;

/// How the judge's instructions start (the fake providers recognise a judge by it).
pub const PROMPT_START: &str = "Please act as an impartial judge";

/// MT-Bench's judge prompt (Zheng et al., 2023), for two answers rated on its 1-10 scale.
const SYSTEM: &str = "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants to the user question displayed below. Your evaluation should consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and level of detail of the responses. Avoid any position biases and ensure that the order in which the responses were presented does not influence your decision. Do not allow the length of the responses to influence your evaluation. Be as objective as possible. Begin your evaluation by providing a short explanation. After providing your explanation, you must rate each response on a scale of 1 to 10 by strictly following this format: \"Assistant A: [[rating]]\" and \"Assistant B: [[rating]]\", for example: \"Assistant A: [[5]]\nAssistant B: [[7]]\".";

/// About what the instructions and the frame around the answers take, in tokens.
pub const PROMPT_TOKENS: u32 = 400;

/// The most of the conversation the judge is shown (its latest part), in characters: a judge needs
/// the question, not a whole agent's transcript.
const MAX_CONVERSATION_CHARS: usize = 24_000;
/// The most of each answer the judge is shown.
const MAX_ANSWER_CHARS: usize = 12_000;

/// A served answer scoring this close to the baseline's (or better) kept its quality.
pub const ADEQUATE_WITHIN: f64 = 1.0;

/// The judge's ratings of the served answer (A) and of the baseline's (B).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratings {
    pub served: f64,
    pub baseline: f64,
}

impl Ratings {
    pub fn adequate(&self) -> bool {
        self.served >= self.baseline - ADEQUATE_WITHIN
    }
}

/// The judge's request: the conversation, then the served answer as A and the baseline's as B.
pub fn request(
    original: &ChatCompletionRequest,
    served: &str,
    reference: &str,
) -> ChatCompletionRequest {
    let question = conversation(&original.messages);
    let user = format!(
        "[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{}\n[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n{}\n[The End of Assistant B's Answer]",
        tail(served, MAX_ANSWER_CHARS),
        tail(reference, MAX_ANSWER_CHARS),
    );
    let mut extra = serde_json::Map::new();
    extra.insert("temperature".into(), json!(0));
    extra.insert("max_tokens".into(), json!(512));
    ChatCompletionRequest {
        model: None,
        messages: vec![
            json!({"role": "system", "content": SYSTEM}),
            json!({"role": "user", "content": user}),
        ],
        stream: None,
        extra,
    }
}

/// The conversation as the judge reads it: each turn's role and text (images as a mark, tool
/// calls as JSON), its latest part when long.
fn conversation(messages: &[Value]) -> String {
    let mut text = String::new();
    for message in messages {
        let role = message
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("user");
        let mut said = match message.get("content") {
            Some(Value::String(content)) => content.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .map(|part| match part.get("type").and_then(Value::as_str) {
                    Some("text") => part
                        .get("text")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    Some(other) => format!("[{other}]"),
                    None => String::new(),
                })
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        };
        if let Some(calls) = message.get("tool_calls") {
            said.push_str(&calls.to_string());
        }
        text.push_str(&format!("{role}: {said}\n"));
    }
    tail(text.trim_end(), MAX_CONVERSATION_CHARS).to_owned()
}

/// The last `max` characters of `text` (at a character boundary).
fn tail(text: &str, max: usize) -> &str {
    let skip = text.chars().count().saturating_sub(max);
    match text.char_indices().nth(skip) {
        Some((start, _)) if skip > 0 => &text[start..],
        _ => text,
    }
}

/// The two ratings in a judge's answer, each from 1 to 10; `None` when either is missing or out of
/// range (no verdict, never "adequate" by default).
pub fn ratings(answer: &str) -> Option<Ratings> {
    let rating = |label: &str| -> Option<f64> {
        let after = &answer[answer.rfind(label)? + label.len()..];
        let open = after.find("[[")?;
        let close = after[open..].find("]]")? + open;
        let value: f64 = after[open + 2..close].trim().parse().ok()?;
        (1.0..=10.0).contains(&value).then_some(value)
    };
    Some(Ratings {
        served: rating("Assistant A:")?,
        baseline: rating("Assistant B:")?,
    })
}

/// The text of an OpenAI chat completion body (its first choice's content, or its tool calls as
/// JSON), if it has any.
pub fn answer_text(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let message = value.pointer("/choices/0/message")?;
    match message.get("content") {
        Some(Value::String(text)) if !text.trim().is_empty() => Some(text.clone()),
        _ => message
            .get("tool_calls")
            .filter(|calls| calls.as_array().is_some_and(|calls| !calls.is_empty()))
            .map(Value::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_are_read_as_judges_write_them() {
        let read = |text: &str| ratings(text).map(|r| (r.served, r.baseline));
        assert_eq!(
            read("A is terse but right.\n\nAssistant A: [[8]]\nAssistant B: [[9]]"),
            Some((8.0, 9.0))
        );
        assert_eq!(
            read("Assistant A: [[ 7.5 ]] Assistant B: [[10]]"),
            Some((7.5, 10.0))
        );
        // The last rating given counts: a judge quoting the format first, then rating.
        assert_eq!(
            read("Format: \"Assistant A: [[rating]]\".\nAssistant A: [[3]]\nAssistant B: [[6]]"),
            Some((3.0, 6.0))
        );
        for unreadable in [
            "",
            "Both are fine.",
            "Assistant A: [[8]]",
            "Assistant A: [[11]]\nAssistant B: [[9]]",
            "Assistant A: [[0]]\nAssistant B: [[9]]",
            "Assistant A: [[eight]]\nAssistant B: [[9]]",
            "Assistant A: [[8\nAssistant B: 9",
        ] {
            assert_eq!(read(unreadable), None, "{unreadable:?}");
        }
    }

    #[test]
    fn adequate_is_within_a_point_of_the_baseline() {
        let verdict = |served, baseline| Ratings { served, baseline }.adequate();
        assert!(verdict(8.0, 9.0));
        assert!(verdict(9.0, 8.0));
        assert!(!verdict(7.5, 9.0));
        assert!(!verdict(1.0, 10.0));
    }

    #[test]
    fn the_judge_sees_the_conversation_and_both_answers_in_order() {
        let original = ChatCompletionRequest {
            model: Some("auto".into()),
            messages: vec![
                json!({"role": "system", "content": "Be brief."}),
                json!({"role": "user", "content": [{"type": "text", "text": "What is in this picture?"}, {"type": "image_url", "image_url": {"url": "data:..."}}]}),
            ],
            stream: Some(true),
            extra: Default::default(),
        };
        let judged = request(&original, "A cat.", "A black cat on a sofa.");
        assert_eq!(judged.stream, None);
        let system = judged.messages[0]["content"].as_str().unwrap();
        assert!(system.starts_with(PROMPT_START));
        let user = judged.messages[1]["content"].as_str().unwrap();
        let question = user
            .find("user: What is in this picture?\n[image_url]")
            .unwrap();
        let a = user.find("Assistant A's Answer]\nA cat.").unwrap();
        let b = user
            .find("Assistant B's Answer]\nA black cat on a sofa.")
            .unwrap();
        assert!(question < a && a < b, "{user}");
        assert!(user.contains("system: Be brief."));
        // Long transcripts are cut to their latest part.
        let long = "é".repeat(MAX_CONVERSATION_CHARS * 2);
        let cut = conversation(&[json!({"role": "user", "content": long})]);
        assert_eq!(cut.chars().count(), MAX_CONVERSATION_CHARS);
    }

    #[test]
    fn the_answer_text_is_the_content_or_the_tool_calls() {
        let content = br#"{"choices":[{"message":{"role":"assistant","content":"Hi"}}]}"#;
        assert_eq!(answer_text(content).as_deref(), Some("Hi"));
        let tools = br#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}"#;
        assert!(answer_text(tools).unwrap().contains("\"name\":\"f\""));
        assert_eq!(answer_text(br#"{"choices":[]}"#), None);
        assert_eq!(answer_text(b"not json"), None);
    }
}
