//! What the Routing page and its server functions exchange: the form's fields as text, the
//! settings of a scope, the threshold's moves and a preview's row.

use serde::{Deserialize, Serialize};

/// The form's fields, as text: empty (or absent) means "not set" (for a key: the account's
/// setting applies).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoutingForm {
    /// "" (default: on), "on" or "off".
    pub auto_routing: String,
    /// The response cache: "" (account's setting / off), "on" or "off".
    pub cache: String,
    pub forced_model: String,
    pub threshold: String,
    pub min_tier: String,
    pub max_tier: String,
    /// Comma-separated provider ids, in order of preference.
    pub providers: String,
    /// The tier a request with tools needs at least: "", "standard" or "strong".
    pub rule_tools: String,
    pub rule_images: String,
    pub rule_json: String,
    pub long_prompt_tokens: String,
    pub rule_long_prompt: String,
    /// What savings are measured against (`openai/gpt-4o`); "": the default.
    pub baseline_model: String,
    /// Quality checks: the percent of eligible requests checked ("": off), the judge ("": the
    /// baseline) and the monthly budget in dollars.
    pub quality_percent: String,
    pub quality_judge: String,
    pub quality_budget: String,
    /// Calibration's target, in percent adequate ("": thresholds as shipped).
    pub quality_target: String,
    /// The cascade for `auto`: "" (not set), "on", "streams" (streamed requests held and checked
    /// too) or "off".
    pub verify: String,
}

/// A scope the page can edit: the account, or one active key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// "account" or "key:<id>".
    pub value: String,
    /// For a key: its name and prefix.
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingSettings {
    pub scope: String,
    pub scopes: Vec<Scope>,
    pub form: RoutingForm,
    /// The stored policy as JSON, as the CLI and API take it.
    pub json: String,
    /// For a key: what applies after merging with the account's policy.
    pub effective_json: Option<String>,
    /// The baseline in force for this scope (`openai/gpt-4o`), if any, and whether it is the
    /// default (the flagship of the first provider added) rather than chosen.
    pub baseline: Option<String>,
    pub baseline_is_default: bool,
    /// Chat models of the catalog a baseline may be, as `provider/model`.
    pub baseline_choices: Vec<String>,
    /// Calibration's moves of the account's threshold, newest first.
    pub threshold_moves: Vec<ThresholdMove>,
}

/// One move of the routing threshold by calibration, and what it was based on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdMove {
    /// `2026-12-06 18:40` (UTC).
    pub at: String,
    pub from: f64,
    pub to: f64,
    /// Percent adequate estimated for the traffic, on `judged` verdicts, with `cheap` percent of
    /// it served below the baseline, against `target` percent.
    pub adequacy: f64,
    pub judged: i64,
    pub cheap: f64,
    pub target: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviewRow {
    pub model: String,
    pub tier: String,
    pub reason: String,
    pub score: Option<f32>,
    pub fallbacks: Vec<String>,
}
