//! The server side of the Routing page: which scope a request edits, and the conversions
//! between the form's text fields and a routing policy (rules the form cannot show are kept).

use gateway::accounts::{self, RoutingPolicies};
use gateway::routing::RoutingPolicy;
use gateway::routing::policy::{Condition, RoutingRule};
use gateway_types::Tier;

use super::form::RoutingForm;
use crate::error::{PortalError, Problem};

pub enum Target {
    Account,
    Key(i32),
}

/// Reads a scope and checks that a key scope names one of the account's active keys.
pub async fn target(
    db: &gateway::sea_orm::DatabaseConnection,
    account_id: i32,
    scope: &str,
) -> Result<Target, PortalError> {
    let Some(id) = scope.strip_prefix("key:") else {
        return Ok(Target::Account);
    };
    let id: i32 = id
        .parse()
        .map_err(|_| PortalError::Refused(Problem::UnknownKey))?;
    let keys = accounts::list_gateway_keys(db, account_id).await?;
    if !keys
        .iter()
        .any(|key| key.id == id && key.revoked_at.is_none())
    {
        return Err(PortalError::Refused(Problem::UnknownKey));
    }
    Ok(Target::Key(id))
}

pub fn policy_of(policies: &RoutingPolicies, target: &Target) -> RoutingPolicy {
    match target {
        Target::Account => policies.account.clone(),
        Target::Key(id) => policies.keys.get(id).cloned().unwrap_or_default(),
    }
}

fn tier_text(tier: Option<Tier>) -> String {
    tier.map(|tier| tier.id().to_owned()).unwrap_or_default()
}

fn parse_tier(text: &str) -> Result<Option<Tier>, PortalError> {
    match text.trim() {
        "" => Ok(None),
        other => Tier::parse(other).map(Some).ok_or_else(|| {
            PortalError::Refused(Problem::UnknownChoice {
                value: other.to_owned(),
            })
        }),
    }
}

/// The simple "at least" rule on `condition` the form shows, if the policy has one.
fn floor_rule(
    policy: &RoutingPolicy,
    matches: impl Fn(&Condition) -> bool,
) -> Option<&RoutingRule> {
    policy
        .rules
        .iter()
        .find(|rule| matches(&rule.when) && rule.at_least.is_some() && rule.at_most.is_none())
}

fn on_off_text(value: Option<bool>) -> String {
    match value {
        None => String::new(),
        Some(true) => "on".into(),
        Some(false) => "off".into(),
    }
}

fn verify_text(policy: &RoutingPolicy) -> String {
    match (policy.verify, policy.verify_streams) {
        (Some(true), Some(true)) => "streams".into(),
        (verify, _) => on_off_text(verify),
    }
}

/// `verify` and `verify_streams` from the form's choice.
fn parse_verify(text: &str) -> Result<(Option<bool>, Option<bool>), PortalError> {
    match text.trim() {
        "streams" => Ok((Some(true), Some(true))),
        other => parse_on_off(other).map(|verify| (verify, None)),
    }
}

fn parse_on_off(text: &str) -> Result<Option<bool>, PortalError> {
    match text.trim() {
        "" => Ok(None),
        "on" => Ok(Some(true)),
        "off" => Ok(Some(false)),
        other => Err(PortalError::Refused(Problem::UnknownChoice {
            value: other.to_owned(),
        })),
    }
}

pub fn form_of(policy: &RoutingPolicy) -> RoutingForm {
    let floor = |condition: Condition| {
        tier_text(floor_rule(policy, |c| *c == condition).and_then(|r| r.at_least))
    };
    let long = floor_rule(policy, |c| matches!(c, Condition::PromptTokensOver(_)));
    RoutingForm {
        auto_routing: on_off_text(policy.auto_routing),
        cache: on_off_text(policy.cache),
        verify: verify_text(policy),
        forced_model: policy.forced_model.clone().unwrap_or_default(),
        threshold: policy.threshold.map(|t| t.to_string()).unwrap_or_default(),
        min_tier: tier_text(policy.min_tier),
        max_tier: tier_text(policy.max_tier),
        providers: policy
            .providers
            .as_ref()
            .map(|p| p.join(", "))
            .unwrap_or_default(),
        rule_tools: floor(Condition::Tools),
        rule_images: floor(Condition::Images),
        rule_json: floor(Condition::JsonOutput),
        long_prompt_tokens: match long.map(|rule| rule.when) {
            Some(Condition::PromptTokensOver(n)) => n.to_string(),
            _ => String::new(),
        },
        rule_long_prompt: tier_text(long.and_then(|rule| rule.at_least)),
        baseline_model: policy.baseline_model.clone().unwrap_or_default(),
        quality_percent: policy
            .quality_checks
            .as_ref()
            .map(|checks| format!("{}", checks.sample_rate * 100.0))
            .unwrap_or_default(),
        quality_judge: policy
            .quality_checks
            .as_ref()
            .and_then(|checks| checks.judge_model.clone())
            .unwrap_or_default(),
        quality_budget: policy
            .quality_checks
            .as_ref()
            .map(|checks| format!("{}", checks.monthly_budget_usd))
            .unwrap_or_default(),
        quality_target: policy
            .quality_checks
            .as_ref()
            .and_then(|checks| checks.target_adequacy)
            .map(|target| format!("{}", target * 100.0))
            .unwrap_or_default(),
    }
}

/// The policy a submitted form describes. Rules the form does not show are kept from
/// `current`.
pub fn policy_of_form(
    form: &RoutingForm,
    current: &RoutingPolicy,
) -> Result<RoutingPolicy, PortalError> {
    let text = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
    let threshold = match text(&form.threshold) {
        None => None,
        Some(value) => Some(
            value
                .parse::<f32>()
                .map_err(|_| PortalError::Refused(Problem::ThresholdNotNumber))?,
        ),
    };
    let providers = text(&form.providers).map(|list| {
        list.split([',', ' '])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
    });
    let shown = |rule: &RoutingRule| {
        matches!(
            rule.when,
            Condition::Tools
                | Condition::Images
                | Condition::JsonOutput
                | Condition::PromptTokensOver(_)
        ) && rule.at_least.is_some()
            && rule.at_most.is_none()
    };
    let mut rules: Vec<RoutingRule> = current
        .rules
        .iter()
        .filter(|rule| !shown(rule))
        .cloned()
        .collect();
    for (condition, value) in [
        (Condition::Tools, &form.rule_tools),
        (Condition::Images, &form.rule_images),
        (Condition::JsonOutput, &form.rule_json),
    ] {
        if let Some(tier) = parse_tier(value)? {
            rules.push(RoutingRule {
                when: condition,
                at_least: Some(tier),
                at_most: None,
            });
        }
    }
    if let Some(tier) = parse_tier(&form.rule_long_prompt)? {
        let tokens: u32 = text(&form.long_prompt_tokens)
            .and_then(|n| n.parse().ok())
            .ok_or(PortalError::Refused(Problem::LongPromptTokens))?;
        rules.push(RoutingRule {
            when: Condition::PromptTokensOver(tokens),
            at_least: Some(tier),
            at_most: None,
        });
    }
    let (verify, verify_streams) = parse_verify(&form.verify)?;
    let policy = RoutingPolicy {
        auto_routing: parse_on_off(&form.auto_routing)?,
        cache: parse_on_off(&form.cache)?,
        forced_model: text(&form.forced_model),
        threshold,
        min_tier: parse_tier(&form.min_tier)?,
        max_tier: parse_tier(&form.max_tier)?,
        providers,
        rules,
        baseline_model: text(&form.baseline_model),
        verify,
        verify_streams,
        // The checks are chosen with the CLI or the API: the form keeps them.
        verify_checks: current.verify_checks.clone(),
        quality_checks: match text(&form.quality_percent) {
            None => None,
            Some(percent) => {
                let number = |value: &str| {
                    value
                        .parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite())
                        .ok_or(PortalError::Refused(Problem::PolicyQualityChecks))
                };
                Some(gateway::routing::policy::QualityChecks {
                    sample_rate: number(&percent)? / 100.0,
                    judge_model: text(&form.quality_judge),
                    monthly_budget_usd: number(
                        &text(&form.quality_budget).unwrap_or_else(|| "0".into()),
                    )?,
                    target_adequacy: match text(&form.quality_target) {
                        None => None,
                        Some(target) => Some(number(&target)? / 100.0),
                    },
                })
            }
        },
    };
    policy
        .validate()
        .map_err(|err| PortalError::Refused(crate::problem::ssr::of_policy_error(err)))?;
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_checks_and_the_baseline_round_trip_through_the_form() {
        let empty = RoutingPolicy::default();
        let form = RoutingForm {
            baseline_model: "openai/gpt-4.1".into(),
            quality_percent: "2".into(),
            quality_budget: "5".into(),
            ..Default::default()
        };
        let policy = policy_of_form(&form, &empty).unwrap();
        let checks = policy.quality_checks.clone().unwrap();
        assert!((checks.sample_rate - 0.02).abs() < 1e-12);
        assert_eq!((checks.monthly_budget_usd, checks.judge_model), (5.0, None));
        assert_eq!(policy.baseline_model.as_deref(), Some("openai/gpt-4.1"));
        let back = form_of(&policy);
        assert_eq!(
            (back.quality_percent.as_str(), back.quality_budget.as_str()),
            ("2", "5")
        );
        // Emptied, the checks are off; out of range, refused.
        let off = policy_of_form(&RoutingForm::default(), &policy).unwrap();
        assert_eq!(off.quality_checks, None);
        let too_many = RoutingForm {
            quality_percent: "150".into(),
            ..Default::default()
        };
        assert!(policy_of_form(&too_many, &empty).is_err());
    }

    #[test]
    fn the_form_round_trips_and_keeps_rules_it_cannot_show() {
        let stored = RoutingPolicy::parse(
            r#"{"auto_routing": false, "forced_model": "gpt-4o-mini", "threshold": 0.7, "min_tier": "standard",
            "providers": ["anthropic", "openai"],
            "rules": [{"when": "tools", "at_least": "standard"}, {"when": {"prompt_tokens_over": 8000}, "at_least": "strong"},
                      {"when": {"messages_over": 20}, "at_least": "strong"}]}"#,
        )
        .unwrap();
        let form = form_of(&stored);
        assert_eq!(form.providers, "anthropic, openai");
        assert_eq!(form.rule_tools, "standard");
        assert_eq!(form.long_prompt_tokens, "8000");
        let back = policy_of_form(&form, &stored).unwrap();
        assert_eq!(back.rules.len(), 3);
        assert!(
            back.rules
                .iter()
                .any(|rule| rule.when == Condition::MessagesOver(20))
        );
        assert_eq!(
            RoutingPolicy {
                rules: vec![],
                ..back.clone()
            },
            RoutingPolicy {
                rules: vec![],
                ..stored.clone()
            }
        );

        // Clearing the tools rule in the form removes it.
        let cleared = policy_of_form(
            &RoutingForm {
                rule_tools: String::new(),
                ..form
            },
            &stored,
        )
        .unwrap();
        assert!(
            !cleared
                .rules
                .iter()
                .any(|rule| rule.when == Condition::Tools)
        );
    }

    #[test]
    fn bad_input_is_explained() {
        let empty = RoutingPolicy::default();
        let bad = |form: RoutingForm| match policy_of_form(&form, &empty) {
            Err(PortalError::Refused(problem)) => problem,
            other => panic!("expected an error, got {other:?}"),
        };
        assert_eq!(
            bad(RoutingForm {
                threshold: "high".into(),
                ..Default::default()
            }),
            Problem::ThresholdNotNumber
        );
        assert_eq!(
            bad(RoutingForm {
                threshold: "2".into(),
                ..Default::default()
            }),
            Problem::PolicyThreshold
        );
        assert_eq!(
            bad(RoutingForm {
                providers: "openai, azure".into(),
                ..Default::default()
            }),
            Problem::PolicyUnknownProvider {
                name: "azure".into(),
                expected: "openai, anthropic, gemini, groq, ollama".into()
            }
        );
        assert_eq!(
            bad(RoutingForm {
                min_tier: "strong".into(),
                max_tier: "cheap".into(),
                ..Default::default()
            }),
            Problem::PolicyTierOrder
        );
        assert_eq!(
            bad(RoutingForm {
                rule_long_prompt: "strong".into(),
                ..Default::default()
            }),
            Problem::LongPromptTokens
        );
        assert_eq!(
            bad(RoutingForm {
                cache: "sometimes".into(),
                ..Default::default()
            }),
            Problem::UnknownChoice {
                value: "sometimes".into()
            }
        );
        assert_eq!(
            policy_of_form(&RoutingForm::default(), &empty).unwrap(),
            empty
        );
    }

    #[test]
    fn the_cascade_choice_round_trips_and_keeps_the_checks() {
        let current = RoutingPolicy {
            verify_checks: Some(vec!["math".into()]),
            ..Default::default()
        };
        for (choice, verify, streams) in [
            ("", None, None),
            ("on", Some(true), None),
            ("streams", Some(true), Some(true)),
            ("off", Some(false), None),
        ] {
            let form = RoutingForm {
                verify: choice.into(),
                ..Default::default()
            };
            let policy = policy_of_form(&form, &current).unwrap();
            assert_eq!((policy.verify, policy.verify_streams), (verify, streams));
            assert_eq!(policy.verify_checks, current.verify_checks);
            assert_eq!(form_of(&policy).verify, choice);
        }
        let form = RoutingForm {
            verify: "always".into(),
            ..Default::default()
        };
        assert!(policy_of_form(&form, &current).is_err());
    }
}

/// Refuses a policy `/v1` could not serve, before it is saved: a forced model the catalog does
/// not know (a local server's model excepted: it serves whatever was pulled, written
/// `ollama/<model>`), or, once the account has providers, no model left for a plain `auto`
/// request.
pub fn check_serves(
    router: &gateway::routing::Router,
    providers: &[gateway::providers::ProviderEndpoint],
    policy: &RoutingPolicy,
) -> Result<(), PortalError> {
    if let Some(forced) = &policy.forced_model {
        let known = gateway::catalog::Catalog::chat_model_named(forced).is_some();
        let local = forced
            .split_once('/')
            .and_then(|(provider, _)| gateway::providers::ProviderKind::parse(provider))
            .is_some_and(|kind| !kind.spec().requires_api_key);
        if !known && !local {
            return Err(PortalError::Refused(Problem::PolicyUnknownForcedModel {
                model: forced.clone(),
            }));
        }
    }
    if providers.is_empty() {
        return Ok(());
    }
    let sample = gateway::openai::ChatCompletionRequest::from_json_bytes(
        br#"{"model": "auto", "messages": [{"role": "user", "content": "Hello"}]}"#,
    )
    .map_err(|_| PortalError::Internal)?;
    gateway::routing::resolve_chat(router, &sample, &[], providers, policy)
        .map(drop)
        .map_err(|err| {
            PortalError::Refused(Problem::PolicyLeavesNoModel {
                detail: err.to_string(),
            })
        })
}
