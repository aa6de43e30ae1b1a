//! The difficulty classifier: a pure function of the whole request → a score in [0, 1] for "needs
//! a strong model", with a short reason. Logistic regression over a few request-shape features and
//! hashed word n-grams; the weights (`gateway/router/weights.json`) are produced by
//! `llm-gateway route train` from `router-eval/dev.jsonl` (see `routing::train`).
//!
//! No I/O and no allocation beyond one lower-cased copy of the text: microseconds per request.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::openai::ChatCompletionRequest;

/// log2 of the number of hashed n-gram buckets.
pub const HASH_BITS: u32 = 12;
pub const BUCKETS: usize = 1 << HASH_BITS;

/// Request-shape features, each scaled to roughly [0, 1]. The names explain a score.
pub const DENSE_NAMES: [&str; DENSE] = [
    "long conversation text",
    "long last message",
    "many numbers",
    "many distinct numbers",
    "several questions",
    "code",
    "deep conversation",
    "long system prompt",
    "tools",
    "structured output",
    "long answer requested",
    "images",
    "arithmetic",
    "reasoning keywords",
    "multiple choice",
    "completion-style prompt",
    "many words",
    "long words",
    "dense digits",
    "money or percentages",
];
pub const DENSE: usize = 20;
/// Where [`DENSE_NAMES`] has "multiple choice" (the outcome memory's kind of prompt).
pub const MULTIPLE_CHOICE: usize = 14;
const _: () = assert!(DENSE_NAMES[MULTIPLE_CHOICE].len() == "multiple choice".len());

/// Weights for request shapes that the labelled data never shows (it is single-turn text with no
/// tools, images, system prompt or output settings). Set by design, not learned: each of these
/// makes a request harder for a small model, and the trainer uses them for any feature that is
/// constant in its data. Scale: a feature at 1.0 adds this much to the logit.
pub const PRIOR_DENSE: [f32; DENSE] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.8, // …, code
    0.6, // deep conversation
    0.3, // long system prompt
    1.0, // tools
    0.8, // structured output
    0.8, // long answer requested
    0.6, // images
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
];

/// What the classifier reads off a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub dense: [f32; DENSE],
    /// (bucket, value) of hashed unigrams and bigrams of the last user message.
    pub hashed: Vec<(u32, f32)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Weights {
    pub hash_bits: u32,
    pub bias: f32,
    pub dense: Vec<f32>,
    pub hashed: Vec<f32>,
    /// How the weights were made, for whoever reads the file.
    #[serde(default)]
    pub trained_on: String,
    /// Default tier thresholds (see `DEFAULT_THRESHOLDS`).
    #[serde(default = "default_thresholds")]
    pub thresholds: super::thresholds::Thresholds,
}

fn default_thresholds() -> super::thresholds::Thresholds {
    super::thresholds::DEFAULT_THRESHOLDS
}

impl Weights {
    pub fn zeros() -> Self {
        Self {
            hash_bits: HASH_BITS,
            bias: 0.0,
            dense: vec![0.0; DENSE],
            hashed: vec![0.0; BUCKETS],
            trained_on: String::new(),
            thresholds: super::thresholds::DEFAULT_THRESHOLDS,
        }
    }

    pub fn built_in() -> &'static Weights {
        static WEIGHTS: OnceLock<Weights> = OnceLock::new();
        WEIGHTS.get_or_init(|| {
            let weights: Weights = serde_json::from_str(include_str!("../../router/weights.json"))
                .expect("router weights are valid JSON");
            assert!(
                weights.dense.len() == DENSE && weights.hashed.len() == BUCKETS,
                "router weights do not fit the features"
            );
            weights
        })
    }

    pub fn logit(&self, features: &Features) -> f32 {
        let dense: f32 = self
            .dense
            .iter()
            .zip(features.dense)
            .map(|(w, x)| w * x)
            .sum();
        let hashed: f32 = features
            .hashed
            .iter()
            .map(|&(bucket, x)| self.hashed[bucket as usize] * x)
            .sum();
        self.bias + dense + hashed
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// 0 = any model will do, 1 = needs the strongest.
    pub score: f32,
    pub reason: String,
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Classifies with the built-in weights.
pub fn classify(request: &ChatCompletionRequest) -> Classification {
    classify_with(Weights::built_in(), request)
}

pub fn classify_with(weights: &Weights, request: &ChatCompletionRequest) -> Classification {
    let features = extract(request);
    let score = sigmoid(weights.logit(&features));
    Classification {
        score,
        reason: explain(weights, &features, score),
    }
}

/// The two request-shape features that pushed the score up most, in words.
fn explain(weights: &Weights, features: &Features, score: f32) -> String {
    let mut pushes: Vec<(f32, &str)> = DENSE_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| (weights.dense[i] * features.dense[i], *name))
        .filter(|(push, _)| *push > 0.05)
        .collect();
    pushes.sort_by(|a, b| b.0.total_cmp(&a.0));
    let words: Vec<&str> = pushes.iter().take(2).map(|(_, name)| *name).collect();
    if words.is_empty() {
        format!("difficulty {score:.2}: short and plain")
    } else {
        format!("difficulty {score:.2}: {}", words.join(", "))
    }
}

fn text_of(content: &Value, out: &mut String) {
    match content {
        Value::String(text) => out.push_str(text),
        Value::Array(parts) => {
            for part in parts {
                if let Some(text) = part.get("text").and_then(Value::as_str) {
                    out.push_str(text);
                    out.push('\n');
                }
            }
        }
        _ => {}
    }
}

fn images_in(content: &Value) -> usize {
    content.as_array().map_or(0, |parts| {
        parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("image_url"))
            .count()
    })
}

/// How much of the last user message the word-level features read.
pub const ANALYSED_CHARS: usize = 3_000;

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub(super) fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// FNV-1a, stable across platforms and releases (the weights depend on it).
fn bucket(token: &str, salt: u8) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in std::iter::once(salt).chain(token.bytes()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash & ((1 << HASH_BITS) - 1)
}

/// The request-shape features alone (the semantic router's companions to its embedding).
pub fn shape(request: &ChatCompletionRequest) -> [f32; DENSE] {
    read(request, false).dense
}

pub fn extract(request: &ChatCompletionRequest) -> Features {
    read(request, true)
}

/// The features; the hashed n-grams only `with_ngrams` (the semantic router reads the shape alone).
fn read(request: &ChatCompletionRequest, with_ngrams: bool) -> Features {
    let mut all_text = String::new();
    let mut system_text = String::new();
    let mut last_user = String::new();
    let mut images = 0;
    for message in &request.messages {
        let content = message.get("content").unwrap_or(&Value::Null);
        images += images_in(content);
        match message.get("role").and_then(Value::as_str) {
            Some("system" | "developer") => text_of(content, &mut system_text),
            Some("user") => {
                last_user.clear();
                text_of(content, &mut last_user);
            }
            _ => {}
        }
        text_of(content, &mut all_text);
    }
    // Word-level features read at most the first few thousand characters: enough to judge a
    // prompt, and it keeps a 4k-token request within the latency budget. Lengths count it all.
    let analysed = prefix(&last_user, ANALYSED_CHARS);
    let lower = analysed.to_lowercase();

    let mut numbers = Vec::new();
    let mut words = 0usize;
    let mut word_chars = 0usize;
    let mut tokens: Vec<&str> = Vec::new();
    for token in lower.split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '\'')) {
        let token = token.trim_matches(|c| c == '.' || c == '\'');
        if token.is_empty() {
            continue;
        }
        if token.chars().next().is_some_and(|c| c.is_ascii_digit()) && token.parse::<f64>().is_ok()
        {
            numbers.push(token);
            if with_ngrams {
                tokens.push("<num>");
            }
        } else {
            words += 1;
            word_chars += token.chars().count();
            if with_ngrams {
                tokens.push(token);
            }
        }
    }
    let mut distinct = numbers.clone();
    distinct.sort_unstable();
    distinct.dedup();

    let digits = analysed.bytes().filter(u8::is_ascii_digit).count();
    let operators = analysed
        .chars()
        .filter(|c| matches!(c, '+' | '*' | '/' | '=' | '^' | '%' | '×' | '÷'))
        .count();
    let found = super::phrases::find(analysed, &lower);
    let (code, reasoning) = (found.code, found.reasoning);
    let multiple_choice = found.choices >= 3;
    let completion_style = lower.trim_end().ends_with("answer:");
    let money = analysed.contains('$') || analysed.contains('%') || found.percent;
    let tools = request
        .extra
        .get("tools")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let structured = match request
        .extra
        .get("response_format")
        .and_then(|format| format.get("type"))
        .and_then(Value::as_str)
    {
        Some("json_schema") => 1.0,
        Some("json_object") => 0.5,
        _ => 0.0,
    };
    let ln = |x: usize| ((1 + x) as f32).ln() / 10.0;
    let cap = |x: f32| x.min(1.0);

    let dense = [
        ln(all_text.len()),
        ln(last_user.len()),
        cap(numbers.len() as f32 / 10.0),
        cap(distinct.len() as f32 / 10.0),
        cap(analysed.matches('?').count() as f32 / 5.0),
        f32::from(u8::from(code)),
        cap(request.messages.len().saturating_sub(1) as f32 / 10.0),
        ln(system_text.len()),
        cap(tools as f32 / 5.0),
        structured,
        // An output budget is not a difficulty signal: Anthropic's clients must send one and
        // send the same large one with every request (Claude Code: 32,000), so reading it made
        // "hi" score as hard as a proof. The slot stays so the weight files keep their shape.
        0.0,
        cap(images as f32 / 3.0),
        cap(operators as f32 / 20.0),
        cap(reasoning as f32 / 3.0),
        f32::from(u8::from(multiple_choice)),
        f32::from(u8::from(completion_style)),
        ln(words),
        if words == 0 {
            0.0
        } else {
            cap(word_chars as f32 / words as f32 / 10.0)
        },
        if analysed.is_empty() {
            0.0
        } else {
            cap(digits as f32 / analysed.len() as f32 * 5.0)
        },
        f32::from(u8::from(money)),
    ];

    // Unigrams and bigrams, each worth 1/sqrt(count) so long prompts do not dominate.
    let mut hashed: Vec<(u32, f32)> = Vec::with_capacity(tokens.len() * 2);
    let count = (tokens.len() * 2).max(1);
    let value = 1.0 / (count as f32).sqrt();
    for (i, token) in tokens.iter().enumerate() {
        hashed.push((bucket(token, 1), value));
        if let Some(next) = tokens.get(i + 1) {
            let mut hash: u32 = bucket(token, 2);
            for byte in next.bytes() {
                hash ^= u32::from(byte);
                hash = hash.wrapping_mul(0x0100_0193);
            }
            hashed.push((hash & ((1 << HASH_BITS) - 1), value));
        }
    }
    Features { dense, hashed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::request;
    use serde_json::json;

    #[test]
    fn reads_the_shape_of_a_request() {
        let features = extract(&request(json!({
            "messages": [
                {"role": "system", "content": "You are a careful analyst."},
                {"role": "user", "content": [{"type": "text", "text": "Prove that 17 + 25 = 42, step by step. Why?"},
                                             {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}
            ],
            "tools": [{"type": "function", "function": {"name": "calc"}}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
            "max_tokens": 2000
        })));
        let by_name =
            |name: &str| features.dense[DENSE_NAMES.iter().position(|n| *n == name).unwrap()];
        assert!(by_name("many numbers") > 0.0);
        assert!(by_name("reasoning keywords") > 0.0);
        assert_eq!(by_name("tools"), 0.2);
        assert_eq!(by_name("structured output"), 1.0);
        assert!(by_name("images") > 0.0);
        assert!(by_name("long system prompt") > 0.0);
        assert_eq!(by_name("long answer requested"), 0.0);
        assert!(!features.hashed.is_empty());
        assert!(
            features
                .hashed
                .iter()
                .all(|&(bucket, _)| (bucket as usize) < BUCKETS)
        );
    }

    #[test]
    fn scores_are_probabilities_with_reasons() {
        let easy = classify(&request(
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        ));
        let hard = classify(&request(json!({"messages": [{"role": "user", "content":
            "Implement a lock-free concurrent hash map in C++ with proofs of linearizability, analyze its complexity, and optimize it step by step for 64 cores. ```cpp\nclass Map {};\n```"}]})));
        for c in [&easy, &hard] {
            assert!((0.0..=1.0).contains(&c.score));
            assert!(c.reason.starts_with("difficulty"));
        }
        assert!(hard.score > easy.score, "{hard:?} vs {easy:?}");
    }

    #[test]
    fn agentic_requests_score_above_small_talk() {
        let small_talk = classify(&request(
            json!({"messages": [{"role": "user", "content": "Thanks, that is all for today!"}]}),
        ));
        let agentic = classify(&request(json!({
            "messages": [
                {"role": "system", "content": "You are an agent that plans multi-step data migrations and calls tools."},
                {"role": "user", "content": "Migrate the orders table."},
                {"role": "assistant", "content": "Which database?"},
                {"role": "user", "content": "PostgreSQL 15, then verify row counts."}
            ],
            "tools": [{"type": "function", "function": {"name": "run_sql"}}, {"type": "function", "function": {"name": "count_rows"}}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "plan", "schema": {"type": "object"}}},
            "max_tokens": 4000
        })));
        assert!(
            agentic.score > small_talk.score + 0.2,
            "{agentic:?} vs {small_talk:?}"
        );
        assert!(
            agentic.reason.contains("tools") || agentic.reason.contains("structured output"),
            "{agentic:?}"
        );
    }

    #[test]
    fn an_output_budget_does_not_move_the_score() {
        let score = |budget: Option<u64>| {
            let mut body =
                json!({"messages": [{"role": "user", "content": "Say hello in French."}]});
            if let Some(budget) = budget {
                body["max_tokens"] = json!(budget);
            }
            classify(&request(body)).score
        };
        assert_eq!(score(None), score(Some(4096)));
        assert_eq!(score(None), score(Some(32000)));
    }

    #[test]
    fn hashing_is_stable() {
        // The committed weights depend on these exact buckets.
        assert_eq!(bucket("hello", 1), bucket("hello", 1));
        assert_ne!(bucket("hello", 1), bucket("hello", 2));
        assert_eq!(bucket("<num>", 1), 3722);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 2048, failure_persistence: None, ..Default::default() })]

        /// The semantic router's shape features are the surface classifier's dense ones.
        #[test]
        fn the_shape_alone_is_the_dense_features(body in crate::test_support::arbitrary::chat_request()) {
            // Bodies the decoder refuses never reach the router.
            if let Ok(request) = ChatCompletionRequest::from_json_bytes(body.to_string().as_bytes()) {
                proptest::prop_assert_eq!(shape(&request), extract(&request).dense);
            }
        }
    }
}
