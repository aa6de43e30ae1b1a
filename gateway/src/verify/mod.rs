//! Checks on a model's answer, for the cascade (`auto:verify`): the cheapest adequate model
//! answers first, and these decide whether its answer goes back or the next tier up is asked.
//! Each check is a pure function of the request and the answer, cheap (no model, no I/O) and
//! explained by its name in `x-gateway-verify`.
//!
//! Besides pass/fail, [`Verdict::score`] orders answers by how likely a stronger model is
//! needed once the answer is seen (for `llm-gateway route verify` and the offline evaluation).

mod answer;
mod math;
mod schema;
#[cfg(test)]
mod tests;

pub use answer::{Answer, MAX_CHECKED_BYTES};

use crate::openai::ChatCompletionRequest;

/// The checks, by the names the routing policy and `x-gateway-verify` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    /// The answer stopped at the output limit (`finish_reason: length`) or has no final line.
    CutOff,
    /// No text and no tool call.
    Empty,
    /// The model declined, or hedged instead of answering.
    Refusal,
    /// Structured output that does not parse, or does not validate against the request's schema.
    JsonSchema,
    /// A tool call to a tool the request does not offer, or arguments its schema refuses.
    ToolArguments,
    /// A maths answer without a well-formed final answer, or with arithmetic that does not re-check.
    Math,
}

impl Check {
    pub const ALL: [Check; 6] = [
        Check::CutOff,
        Check::Empty,
        Check::Refusal,
        Check::JsonSchema,
        Check::ToolArguments,
        Check::Math,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Check::CutOff => "cut_off",
            Check::Empty => "empty",
            Check::Refusal => "refusal",
            Check::JsonSchema => "json_schema",
            Check::ToolArguments => "tool_arguments",
            Check::Math => "math",
        }
    }

    pub fn parse(id: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|check| check.id() == id)
    }
}

/// A failed check and what it saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub check: Check,
    pub detail: String,
}

/// What the checks found on one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub failures: Vec<Failure>,
    /// In [0, 1]: how likely the answer needs a stronger model (see [`Signals::score`]).
    pub score: f32,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// `passed`, or `escalated (<check>, …)`: the `x-gateway-verify` header's value.
    pub fn header(&self) -> String {
        if self.passed() {
            return "passed".into();
        }
        let names: Vec<&str> = self.failures.iter().map(|f| f.check.id()).collect();
        format!("escalated ({})", names.join(", "))
    }
}

/// Runs the `enabled` checks on `answer` to `request`.
pub fn check(request: &ChatCompletionRequest, answer: &Answer, enabled: &[Check]) -> Verdict {
    let question = request.last_user_text(crate::openai::PROMPT_READ_BYTES);
    let signals = Signals::read(request, &question, answer);
    let failures = signals
        .failures
        .iter()
        .filter(|failure| enabled.contains(&failure.check))
        .cloned()
        .collect();
    Verdict {
        score: signals.score(),
        failures,
    }
}

/// Everything the checks measured on one answer: the failures, and the softer signals the score
/// also weighs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    pub failures: Vec<Failure>,
    /// Share of the numbers in the question the answer never mentions (maths answers only).
    pub unused_numbers: f32,
    /// The answer's length in characters, up to 2,000, over 2,000.
    pub length: f32,
    /// A worked maths answer that qualifies itself ("however", "approximately", "not
    /// possible"): it ran into something that does not add up (maths answers only).
    pub second_thoughts: bool,
}

/// Where `llm-gateway route verify` escalates: the lowest score of an answer that failed a check
/// (every passing answer scores below it, whatever its prompt).
pub const ESCALATE_AT: f32 = WEIGHT_FAILED / NORMALISER;

/// The score's weights. Chosen on GSM8K answers of `dev.jsonl` and reported cross-validated by
/// `llm-gateway route eval --answers` (see the README's routing section): a failed check
/// outweighs every soft signal, and among answers that pass, long ones and ones that leave the
/// question's numbers unused need the strong model more often.
const WEIGHT_FAILED: f32 = 3.0;
const WEIGHT_UNUSED: f32 = 0.6;
const WEIGHT_LENGTH: f32 = 1.0;
const WEIGHT_SECOND_THOUGHTS: f32 = 0.3;
/// The prompt router's score, for `route verify`: orders answers that pass (or fail) alike.
const WEIGHT_PROMPT: f32 = 0.3;
const NORMALISER: f32 =
    2.0 * WEIGHT_FAILED + WEIGHT_UNUSED + WEIGHT_LENGTH + WEIGHT_SECOND_THOUGHTS + WEIGHT_PROMPT;

impl Signals {
    pub fn read(request: &ChatCompletionRequest, question: &str, answer: &Answer) -> Signals {
        let text = crate::openai::clipped(&answer.text, MAX_CHECKED_BYTES);
        let mut failures = Vec::new();
        let mut fail = |check: Check, detail: String| failures.push(Failure { check, detail });
        if answer.text.trim().is_empty() && answer.tool_calls.is_empty() {
            fail(Check::Empty, "no text and no tool call".into());
        }
        if answer.finish_reason.as_deref() == Some("length") {
            fail(Check::CutOff, "finish_reason: length".into());
        }
        if let Some(phrase) = refusal(text) {
            fail(Check::Refusal, format!("says \"{phrase}\""));
        }
        if let Some(detail) = schema::check_structured_output(request, answer) {
            fail(Check::JsonSchema, detail);
        }
        if let Some(detail) = schema::check_tool_calls(request, answer) {
            fail(Check::ToolArguments, detail);
        }
        let mut unused_numbers = 0.0;
        let mut second_thoughts = false;
        if answer.tool_calls.is_empty() && math::is_math(question, text) {
            let tail = tail_to_boundary(&answer.text, MAX_CHECKED_BYTES);
            if let Some(detail) = math::check(question, tail) {
                fail(Check::Math, detail);
            }
            unused_numbers = math::unused_share(question, tail);
            second_thoughts = math::second_thoughts(tail);
        }
        Signals {
            failures,
            unused_numbers,
            length: answer.text.chars().take(2000).count() as f32 / 2000.0,
            second_thoughts,
        }
    }

    /// In [0, 1], increasing in the evidence that the answer needs a stronger model.
    pub fn score(&self) -> f32 {
        self.score_with_prompt(0.0)
    }

    /// [`Self::score`] with the prompt router's score (0 to 1) weighed in: an answer that failed
    /// a check still scores above every one that passed.
    pub fn score_with_prompt(&self, prompt_score: f32) -> f32 {
        let failed = self.failures.len().min(2) as f32;
        let raw = WEIGHT_FAILED * failed
            + WEIGHT_UNUSED * self.unused_numbers
            + WEIGHT_LENGTH * self.length
            + WEIGHT_SECOND_THOUGHTS * f32::from(u8::from(self.second_thoughts))
            + WEIGHT_PROMPT * prompt_score.clamp(0.0, 1.0);
        raw / NORMALISER
    }
}

/// Phrases of a model that declines or will not commit, in the answer's first 400 characters
/// (a long answer that quotes one later is still an answer).
fn refusal(text: &str) -> Option<&'static str> {
    const PHRASES: [&str; 10] = [
        "i can't help with",
        "i cannot help with",
        "i can't assist with",
        "i cannot assist with",
        "i'm not able to",
        "i am not able to",
        "i'm not sure",
        "i am not sure",
        "cannot be determined",
        "not enough information",
    ];
    let head: String = text.chars().take(400).collect::<String>().to_lowercase();
    let head = head.replace('\u{2019}', "'");
    PHRASES.into_iter().find(|phrase| head.contains(phrase))
}

fn tail_to_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
