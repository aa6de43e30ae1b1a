//! The score thresholds between tiers, and how `auto:<mode>` moves them.

use super::decision::AUTO;
use super::policy::RoutingPolicy;
use crate::catalog::Tier;
use crate::error::RequestError;
use crate::openai::ChatCompletionRequest;

/// Score thresholds between tiers: below the first → cheap, below the second → standard, else
/// strong.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Thresholds {
    pub standard: f32,
    pub strong: f32,
}

/// Set by policy, not learned: the ranking metrics do not depend on them, and they express how
/// much quality a user buys (`auto:eco`, `auto:quality`, `auto:<n>` move them).
pub const DEFAULT_THRESHOLDS: Thresholds = Thresholds {
    standard: 0.5,
    strong: 0.62,
};

/// How far `auto:eco` and `auto:quality` move both thresholds.
const MODE_SHIFT: f32 = 0.1;

/// Reads `auto`, `auto:eco`, `auto:quality` and `auto:<0..1>` (the strong threshold; the
/// standard one keeps its distance below it). `None` for a pinned model.
const VERIFY_MODE: &str = "verify";

/// Whether an `auto` request is served by the cascade: it asks (`auto:verify`), or its policy
/// does (`"verify": true`) and it does not choose another mode. A forced model is never checked.
pub fn wants_verify(request: &ChatCompletionRequest, policy: &RoutingPolicy) -> bool {
    if policy.forced_model.is_some() {
        return false;
    }
    match request.model.as_deref().map(str::trim).unwrap_or_default() {
        "" | AUTO => policy.verify == Some(true),
        other => other.strip_prefix("auto:") == Some(VERIFY_MODE),
    }
}

pub fn auto_thresholds(
    requested: Option<&str>,
    base: Thresholds,
) -> Result<Option<Thresholds>, RequestError> {
    let requested = requested.map(str::trim).unwrap_or_default();
    let mode = match requested {
        "" | AUTO => return Ok(Some(base)),
        other => match other.strip_prefix("auto:") {
            Some(mode) => mode,
            None => return Ok(None),
        },
    };
    let shifted = |by: f32| Thresholds {
        standard: (base.standard + by).clamp(0.0, 1.0),
        strong: (base.strong + by).clamp(0.0, 1.0),
    };
    match mode {
        "eco" => Ok(Some(shifted(MODE_SHIFT))),
        // The cascade: routed as `auto`, then checked (`crate::verify`).
        VERIFY_MODE => Ok(Some(base)),
        "quality" => Ok(Some(shifted(-MODE_SHIFT))),
        number => match number.parse::<f32>() {
            Ok(strong) if (0.0..=1.0).contains(&strong) => Ok(Some(Thresholds {
                strong,
                standard: (strong - (base.strong - base.standard)).max(0.0),
            })),
            _ => Err(RequestError::InvalidField {
                param: "model".into(),
                reason: "expected auto, auto:eco, auto:quality, auto:verify or auto:<threshold between 0 and 1>"
                    .into(),
            }),
        },
    }
}

pub fn tier_for_score(score: f32, thresholds: Thresholds) -> Tier {
    if score >= thresholds.strong {
        Tier::Strong
    } else if score >= thresholds.standard {
        Tier::Standard
    } else {
        Tier::Cheap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_modes_move_the_thresholds() {
        let base = DEFAULT_THRESHOLDS;
        assert_eq!(auto_thresholds(None, base).unwrap(), Some(base));
        assert_eq!(auto_thresholds(Some("auto"), base).unwrap(), Some(base));
        assert!(
            auto_thresholds(Some("auto:eco"), base)
                .unwrap()
                .unwrap()
                .strong
                > base.strong
        );
        assert!(
            auto_thresholds(Some("auto:quality"), base)
                .unwrap()
                .unwrap()
                .strong
                < base.strong
        );
        assert_eq!(
            auto_thresholds(Some("auto:0.8"), base)
                .unwrap()
                .unwrap()
                .strong,
            0.8
        );
        assert_eq!(auto_thresholds(Some("gpt-4o"), base).unwrap(), None);
        assert!(auto_thresholds(Some("auto:2"), base).is_err());
        assert!(auto_thresholds(Some("auto:cheapest"), base).is_err());
    }
}
