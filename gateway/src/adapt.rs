//! One place that adapts a request to the model that will serve it, whatever the path: routed,
//! fallback, translated or passed through. A client writes its request for one model (Claude Code
//! for the newest Claude, the Agents SDK for `gpt-4o`); when the gateway picks another, fields that
//! model refuses are converted or dropped here, from the catalog's [`Capabilities`], so the
//! provider is not handed a request it would answer with 400:
//! - an output budget over the model's limit is clamped to it;
//! - OpenAI's reasoning models get `max_completion_tokens` for `max_tokens`, and lose the sampling
//!   fields they refuse; other OpenAI models lose `reasoning_effort` and `reasoning`;
//! - Anthropic's thinking is converted between its kinds (`adaptive` ↔ `enabled` with a budget
//!   under `max_tokens`) or dropped for a model without it, with the thinking blocks of earlier
//!   turns; `output_config` and `context_management` are dropped where the model lacks them; a
//!   `system` turn inside `messages` is folded into the top-level `system`.
//!
//! A model the catalog does not know is left alone: a pinned model is used as asked, and its
//! provider judges the request. Each change is noted, and the notes reach the client in the
//! `x-gateway-adapted` header.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use crate::catalog::{Capabilities, Catalog, CatalogModel, ThinkingKind};
use crate::error::RequestError;
use crate::openai::ChatCompletionRequest;
use crate::providers::{ProviderKind, WireApi};

/// What was changed, for the `x-gateway-adapted` header (empty: nothing).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notes(Vec<String>);

impl Notes {
    fn push(&mut self, note: String) {
        self.0.push(note);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The header value: the changes, separated by `; `.
    pub fn header(&self) -> String {
        self.0.join("; ")
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

/// Anthropic's smallest thinking budget.
pub const MIN_THINKING_BUDGET: u64 = 1024;

/// A chat request for `model` of `provider` (before any translation to the provider's API); a
/// clear refusal, naming the field and the model, only for what cannot be served faithfully.
pub fn chat<'r>(
    request: &'r ChatCompletionRequest,
    provider: ProviderKind,
    model: &str,
) -> Result<(Cow<'r, ChatCompletionRequest>, Notes), RequestError> {
    let mut notes = Notes::default();
    let Some(entry) = Catalog::built_in().find(provider, model) else {
        return Ok((Cow::Borrowed(request), notes));
    };
    refuse_what_the_model_cannot_take(request, provider, entry)?;
    let mut fields = request.extra.clone();
    if !entry.capabilities.structured_output
        && fields
            .get("response_format")
            .and_then(|format| format.get("type"))
            .and_then(Value::as_str)
            == Some("json_schema")
    {
        fields.insert("response_format".into(), json!({"type": "json_object"}));
        notes.push(format!(
            "response_format json_schema sent as json_object ({} has no JSON-schema output)",
            entry.model
        ));
    }
    clamp_output(
        &mut fields,
        &["max_completion_tokens", "max_tokens"],
        entry,
        &mut notes,
    );
    if provider.spec().wire_api == WireApi::OpenAi {
        if entry.capabilities.reasoning {
            for_reasoning_model(&mut fields, entry, &mut notes);
        } else if fields.remove("reasoning_effort").is_some() {
            notes.push(format!(
                "reasoning_effort dropped ({} does not reason)",
                entry.model
            ));
        }
    }
    if notes.is_empty() {
        return Ok((Cow::Borrowed(request), notes));
    }
    let adapted = ChatCompletionRequest {
        extra: fields,
        ..request.clone()
    };
    Ok((Cow::Owned(adapted), notes))
}

/// Images for a model that sees none, tools for one that calls none: nothing to convert them to.
fn refuse_what_the_model_cannot_take(
    request: &ChatCompletionRequest,
    provider: ProviderKind,
    entry: &CatalogModel,
) -> Result<(), RequestError> {
    let refused = |param: String, what: &str| RequestError::InvalidField {
        param,
        reason: format!("{}/{} takes no {what}", provider.id(), entry.model),
    };
    if !entry.capabilities.images {
        for (index, message) in request.messages.iter().enumerate() {
            let parts = message.get("content").and_then(Value::as_array);
            if let Some(part) = parts
                .into_iter()
                .flatten()
                .position(|part| part.get("type").and_then(Value::as_str) == Some("image_url"))
            {
                return Err(refused(
                    format!("messages[{index}].content[{part}]"),
                    "images",
                ));
            }
        }
    }
    let offers_tools = request
        .extra
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|tools| !tools.is_empty());
    if !entry.capabilities.tools && offers_tools {
        return Err(refused("tools".into(), "tools"));
    }
    Ok(())
}

/// OpenAI's reasoning models: `max_completion_tokens` only, no sampling fields but their
/// defaults.
fn for_reasoning_model(fields: &mut Map<String, Value>, entry: &CatalogModel, notes: &mut Notes) {
    if let Some(budget) = fields.remove("max_tokens") {
        if !fields.contains_key("max_completion_tokens") {
            fields.insert("max_completion_tokens".into(), budget);
        }
        notes.push("max_tokens sent as max_completion_tokens".into());
    }
    // Each field with the only value the model takes (None: it takes the field not at all).
    let refused: [(&str, Option<f64>); 6] = [
        ("temperature", Some(1.0)),
        ("top_p", Some(1.0)),
        ("presence_penalty", Some(0.0)),
        ("frequency_penalty", Some(0.0)),
        ("logprobs", None),
        ("top_logprobs", None),
    ];
    for (field, default) in refused {
        let Some(value) = fields.get(field) else {
            continue;
        };
        let harmless = value.is_null()
            || value == &Value::Bool(false)
            || default.is_some_and(|default| value.as_f64() == Some(default));
        fields.remove(field);
        if !harmless {
            notes.push(format!("{field} dropped ({} takes none)", entry.model));
        }
    }
}

/// Clamps the first of `fields` present to the model's output limit.
fn clamp_output(
    fields: &mut Map<String, Value>,
    names: &[&str],
    entry: &CatalogModel,
    notes: &mut Notes,
) {
    let limit = entry.output_limit();
    if limit == 0 {
        return;
    }
    for name in names {
        if let Some(asked) = fields.get(*name).and_then(Value::as_u64)
            && asked > limit
        {
            fields.insert((*name).into(), json!(limit));
            notes.push(format!(
                "{name} {asked} lowered to {limit}, {}'s limit",
                entry.model
            ));
        }
    }
}

/// An Anthropic Messages body (its `model` already set) for that model.
pub fn messages(body: &Value, model: &str) -> (Value, Notes) {
    let mut notes = Notes::default();
    let mut body = body.clone();
    let Some(entry) = Catalog::built_in().find(ProviderKind::Anthropic, model) else {
        return (body, notes);
    };
    let Some(fields) = body.as_object_mut() else {
        return (body, notes);
    };
    let caps = &entry.capabilities;
    clamp_output(fields, &["max_tokens"], entry, &mut notes);
    let max_tokens = fields
        .get("max_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let effort = fields
        .get("output_config")
        .and_then(|config| config.get("effort"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(thinking) = fields.get("thinking").cloned() {
        match adapt_thinking(&thinking, caps, max_tokens, effort.as_deref(), &entry.model) {
            Thinking::Keep => {}
            Thinking::Replace(replaced, note) => {
                fields.insert("thinking".into(), replaced);
                notes.push(note);
            }
            Thinking::Drop(note) => {
                fields.remove("thinking");
                notes.push(note);
            }
        }
    }
    if caps.thinking.is_empty() && drop_thinking_blocks(fields) {
        notes.push(format!(
            "thinking blocks of earlier turns dropped ({} does not think)",
            entry.model
        ));
    }
    for (field, supported) in [
        ("output_config", caps.output_config),
        ("context_management", caps.context_management),
    ] {
        if !supported && fields.remove(field).is_some() {
            notes.push(format!(
                "{field} dropped ({} does not take it)",
                entry.model
            ));
        }
    }
    if !caps.system_in_messages && fold_system_turns(fields) {
        notes.push(format!(
            "system turns inside messages moved to system ({} takes them only there)",
            entry.model
        ));
    }
    (body, notes)
}

enum Thinking {
    Keep,
    Replace(Value, String),
    Drop(String),
}

/// How much of `max_tokens` an `enabled` budget gets for an adaptive request, by its effort.
fn budget_for(max_tokens: u64, effort: Option<&str>) -> Option<u64> {
    let share = match effort {
        Some("low") => 0.25,
        Some("medium") => 0.5,
        _ => 0.75,
    };
    let budget = ((max_tokens as f64 * share) as u64).max(MIN_THINKING_BUDGET);
    (budget < max_tokens).then_some(budget)
}

fn adapt_thinking(
    thinking: &Value,
    caps: &Capabilities,
    max_tokens: u64,
    effort: Option<&str>,
    model: &str,
) -> Thinking {
    let kind = thinking["type"].as_str().unwrap_or_default();
    if caps.thinking.is_empty() {
        return Thinking::Drop(format!("thinking dropped ({model} does not think)"));
    }
    let takes = |kind: ThinkingKind| caps.thinking.contains(&kind);
    match kind {
        "adaptive" if !takes(ThinkingKind::Adaptive) => match budget_for(max_tokens, effort) {
            Some(budget) => Thinking::Replace(
                json!({"type": "enabled", "budget_tokens": budget}),
                format!(
                    "adaptive thinking sent as enabled with a budget of {budget} ({model} has no adaptive thinking)"
                ),
            ),
            None => Thinking::Drop(format!(
                "thinking dropped (max_tokens {max_tokens} leaves no budget on {model})"
            )),
        },
        "enabled" if !takes(ThinkingKind::Enabled) => Thinking::Replace(
            json!({"type": "adaptive"}),
            format!("enabled thinking sent as adaptive ({model} takes only adaptive)"),
        ),
        "enabled" => {
            let budget = thinking["budget_tokens"].as_u64().unwrap_or(0);
            if budget < max_tokens {
                return Thinking::Keep;
            }
            match budget_for(max_tokens, effort) {
                Some(lowered) => {
                    let mut replaced = thinking.clone();
                    replaced["budget_tokens"] = json!(lowered);
                    Thinking::Replace(
                        replaced,
                        format!("thinking budget {budget} lowered to {lowered}, under max_tokens"),
                    )
                }
                None => Thinking::Drop(format!(
                    "thinking dropped (max_tokens {max_tokens} leaves no budget on {model})"
                )),
            }
        }
        _ => Thinking::Keep,
    }
}

/// Removes `thinking` and `redacted_thinking` blocks from the turns; whether there were any.
fn drop_thinking_blocks(fields: &mut Map<String, Value>) -> bool {
    let mut dropped = false;
    let Some(Value::Array(turns)) = fields.get_mut("messages") else {
        return false;
    };
    for turn in turns {
        if let Some(Value::Array(blocks)) = turn.get_mut("content") {
            let before = blocks.len();
            blocks.retain(|block| {
                !matches!(
                    block["type"].as_str(),
                    Some("thinking" | "redacted_thinking")
                )
            });
            dropped |= blocks.len() != before;
        }
    }
    dropped
}

/// Moves `system` turns out of `messages` into the top-level `system`, in order; whether there
/// were any.
fn fold_system_turns(fields: &mut Map<String, Value>) -> bool {
    let Some(Value::Array(turns)) = fields.get_mut("messages") else {
        return false;
    };
    if !turns.iter().any(|turn| turn["role"] == "system") {
        return false;
    }
    let mut texts = Vec::new();
    turns.retain(|turn| {
        if turn["role"] != "system" {
            return true;
        }
        match &turn["content"] {
            Value::String(text) => texts.push(text.clone()),
            Value::Array(blocks) => texts.extend(
                blocks
                    .iter()
                    .filter_map(|block| block["text"].as_str().map(str::to_owned)),
            ),
            _ => {}
        }
        false
    });
    let added: Vec<Value> = texts
        .iter()
        .map(|text| json!({"type": "text", "text": text}))
        .collect();
    let system = match fields.remove("system") {
        None | Some(Value::Null) => Value::String(texts.join("\n\n")),
        Some(Value::String(first)) if !first.is_empty() => Value::String(
            std::iter::once(first)
                .chain(texts)
                .collect::<Vec<_>>()
                .join("\n\n"),
        ),
        Some(Value::String(_)) => Value::String(texts.join("\n\n")),
        Some(Value::Array(mut blocks)) => {
            blocks.extend(added);
            Value::Array(blocks)
        }
        Some(other) => other,
    };
    fields.insert("system".into(), system);
    true
}

/// An OpenAI Responses body (its `model` already set) for that model.
pub fn responses(body: &Value, model: &str) -> (Value, Notes) {
    let mut notes = Notes::default();
    let mut body = body.clone();
    let Some(entry) = Catalog::built_in().find(ProviderKind::OpenAi, model) else {
        return (body, notes);
    };
    let Some(fields) = body.as_object_mut() else {
        return (body, notes);
    };
    clamp_output(fields, &["max_output_tokens"], entry, &mut notes);
    if entry.capabilities.reasoning {
        for field in ["temperature", "top_p"] {
            if let Some(value) = fields.remove(field)
                && !value.is_null()
                && value.as_f64() != Some(1.0)
            {
                notes.push(format!("{field} dropped ({} takes none)", entry.model));
            }
        }
    } else {
        if fields
            .remove("reasoning")
            .is_some_and(|value| !value.is_null())
        {
            notes.push(format!(
                "reasoning dropped ({} does not reason)",
                entry.model
            ));
        }
        if let Some(Value::Array(include)) = fields.get_mut("include") {
            let before = include.len();
            include.retain(|item| item != "reasoning.encrypted_content");
            if include.len() != before {
                notes.push(format!(
                    "include reasoning.encrypted_content dropped ({} does not reason)",
                    entry.model
                ));
            }
        }
    }
    (body, notes)
}

#[cfg(test)]
mod tests;
