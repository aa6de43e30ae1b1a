//! What a request cost and what the gateway's choice saved, at list prices. The rules a customer
//! can check against their own bill:
//! - a saving is claimed only where the gateway chose: an `auto` request saves the baseline's cost
//!   of the same tokens minus its actual cost (negative when routed above the baseline); a cache
//!   hit saves what it avoided (the served model's cost, or for an `auto` request the baseline's);
//! - a pinned model saves nothing, whatever it costs;
//! - a model without a price is "unpriced": no cost and no saving are claimed for it (it counts
//!   in requests and tokens only), and a baseline without a price claims nothing either.

use crate::catalog::CatalogModel;
use crate::openai::Usage;

/// One request's money, as stored on its usage event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accounting {
    /// What was spent at list price (0 when served from the cache or unpriced).
    pub cost_usd: f64,
    /// Whether the served model has a price.
    pub priced: bool,
    /// The same tokens on the baseline model, when it has a price.
    pub baseline_cost_usd: Option<f64>,
    /// What the gateway's choice saved (see the module's rules).
    pub saving_usd: f64,
}

/// How a request was served, as far as the money goes.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    /// The served model's catalog entry; `None`: unpriced.
    pub model: Option<&'a CatalogModel>,
    /// The gateway chose the model (`auto`).
    pub routed: bool,
    /// Served from the response cache: nothing spent.
    pub cache_hit: bool,
    /// A cascade's first call, whose answer a stronger model's replaced (`auto:verify`): what it
    /// cost is a loss against the baseline, which the request's final answer accounts for once.
    pub superseded: bool,
}

pub fn account(served: Served<'_>, baseline: Option<&CatalogModel>, usage: Usage) -> Accounting {
    let cost_of = |model: &CatalogModel| model.cost(usage.prompt_tokens, usage.completion_tokens);
    // A superseded call's baseline is counted on the answer that replaced it.
    let baseline_cost_usd = baseline.map(|b| if served.superseded { 0.0 } else { cost_of(b) });
    let Some(model) = served.model else {
        return Accounting {
            cost_usd: 0.0,
            priced: false,
            baseline_cost_usd,
            saving_usd: 0.0,
        };
    };
    let list_cost = cost_of(model);
    let cost_usd = if served.cache_hit { 0.0 } else { list_cost };
    // What it would have cost had the gateway not chosen: the baseline for a routed request, the
    // served model for a pinned one served from the cache.
    let without_gateway = match (served.routed, baseline_cost_usd) {
        (true, Some(baseline)) => Some(baseline),
        _ if served.cache_hit => Some(list_cost),
        _ => None,
    };
    Accounting {
        cost_usd,
        priced: true,
        baseline_cost_usd,
        saving_usd: without_gateway.map_or(0.0, |base| base - cost_usd),
    }
}

/// Whether a request counts among those a saving is claimed for: priced, and served from the
/// cache or routed against a priced baseline.
pub fn claims_saving(priced: bool, routed: bool, cache_hit: bool, baseline_priced: bool) -> bool {
    priced && (cache_hit || (routed && baseline_priced))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::providers::ProviderKind;

    fn model(kind: ProviderKind, name: &str) -> &'static CatalogModel {
        Catalog::built_in().find(kind, name).unwrap()
    }

    const TOKENS: Usage = Usage {
        prompt_tokens: 1_000_000,
        completion_tokens: 1_000_000,
        total_tokens: 2_000_000,
    };

    fn claims_of(accounting: &Accounting, served: Served<'_>) -> bool {
        claims_saving(
            accounting.priced,
            served.routed,
            served.cache_hit,
            accounting.baseline_cost_usd.is_some(),
        )
    }

    fn served(model: Option<&CatalogModel>, routed: bool, cache_hit: bool) -> Served<'_> {
        Served {
            model,
            routed,
            cache_hit,
            superseded: false,
        }
    }

    #[test]
    fn a_superseded_call_is_a_loss_and_leaves_the_baseline_to_its_replacement() {
        let cheap = model(ProviderKind::OpenAi, "gpt-4o-mini");
        let baseline = model(ProviderKind::OpenAi, "gpt-4o");
        let superseded = Served {
            superseded: true,
            ..served(Some(cheap), true, false)
        };
        let accounting = account(superseded, Some(baseline), TOKENS);
        assert!(accounting.cost_usd > 0.0 && accounting.priced);
        assert_eq!(accounting.saving_usd, -accounting.cost_usd);
        assert_eq!(accounting.baseline_cost_usd, Some(0.0));
        // Without a priced baseline nothing is claimed, a loss included.
        let alone = account(superseded, None, TOKENS);
        assert_eq!((alone.saving_usd, alone.baseline_cost_usd), (0.0, None));
        // Unpriced: no cost, no saving, the baseline still counted once elsewhere.
        let unpriced = account(
            Served {
                model: None,
                ..superseded
            },
            Some(baseline),
            TOKENS,
        );
        assert_eq!((unpriced.cost_usd, unpriced.saving_usd), (0.0, 0.0));
        assert_eq!(unpriced.baseline_cost_usd, Some(0.0));
    }

    #[test]
    fn auto_below_at_and_above_the_baseline() {
        let gpt_4o = model(ProviderKind::OpenAi, "gpt-4o"); // $2.50 + $10.00
        let mini = model(ProviderKind::OpenAi, "gpt-4o-mini"); // $0.15 + $0.60
        let o3 = model(ProviderKind::OpenAi, "o3"); // $2.00 + $8.00

        let below = account(served(Some(mini), true, false), Some(gpt_4o), TOKENS);
        assert!((below.cost_usd - 0.75).abs() < 1e-9);
        assert!((below.saving_usd - 11.75).abs() < 1e-9);
        assert_eq!(below.baseline_cost_usd, Some(12.5));

        let at = account(served(Some(gpt_4o), true, false), Some(gpt_4o), TOKENS);
        assert_eq!(at.saving_usd, 0.0);

        // Routed above a cheaper baseline: a negative saving, shown as such.
        let above = account(served(Some(gpt_4o), true, false), Some(o3), TOKENS);
        assert!((above.saving_usd + 2.5).abs() < 1e-9);
    }

    #[test]
    fn a_pinned_model_saves_nothing() {
        let gpt_4o = model(ProviderKind::OpenAi, "gpt-4o");
        let mini = model(ProviderKind::OpenAi, "gpt-4o-mini");
        let pinned = served(Some(mini), false, false);
        let accounting = account(pinned, Some(gpt_4o), TOKENS);
        assert_eq!(accounting.saving_usd, 0.0);
        assert!((accounting.cost_usd - 0.75).abs() < 1e-9);
        assert_eq!(accounting.baseline_cost_usd, Some(12.5));
        assert!(!claims_of(&accounting, pinned));
    }

    #[test]
    fn a_cache_hit_saves_what_it_avoided() {
        let gpt_4o = model(ProviderKind::OpenAi, "gpt-4o");
        let mini = model(ProviderKind::OpenAi, "gpt-4o-mini");
        let pinned_hit = account(served(Some(mini), false, true), Some(gpt_4o), TOKENS);
        assert_eq!(pinned_hit.cost_usd, 0.0);
        assert!(
            (pinned_hit.saving_usd - 0.75).abs() < 1e-9,
            "the served model's cost"
        );
        let routed_hit = account(served(Some(mini), true, true), Some(gpt_4o), TOKENS);
        assert!(
            (routed_hit.saving_usd - 12.5).abs() < 1e-9,
            "the baseline's cost"
        );
    }

    #[test]
    fn unpriced_models_claim_nothing() {
        let gpt_4o = model(ProviderKind::OpenAi, "gpt-4o");
        let unpriced = served(None, true, false);
        let accounting = account(unpriced, Some(gpt_4o), TOKENS);
        assert_eq!((accounting.cost_usd, accounting.saving_usd), (0.0, 0.0));
        assert!(!accounting.priced);
        assert!(!claims_of(&accounting, unpriced));
        // No baseline price: a routed request claims nothing either.
        let mini = model(ProviderKind::OpenAi, "gpt-4o-mini");
        let no_baseline = served(Some(mini), true, false);
        let accounting = account(no_baseline, None, TOKENS);
        assert_eq!(accounting.saving_usd, 0.0);
        assert!(!claims_of(&accounting, no_baseline));
    }
}
