//! Calibration to a quality target: from the checks' verdicts, the account's routing threshold
//! moves toward the adequacy the account asked for (`target_adequacy`), slowly, within bounds, and
//! only once enough verdicts have come in since the last move. Each move is stored with what it was
//! based on ([`crate::entities::threshold_change`]); the latest is the threshold in force.
//!
//! The adequacy of the traffic is estimated as `1 - cheap_share * (1 - adequate_share)`: answers
//! served at the baseline's tier or above are taken as adequate, and those served below it (the
//! only ones checked) are adequate as often as the judged sample says.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};
use tokio::sync::Mutex;

use crate::entities::{quality_verdict, threshold_change, usage_event};
use crate::state::GatewayState;

/// Verdicts needed since the last move before the next one.
pub const MIN_VERDICTS: u64 = 20;
/// A step, in shipped thresholds per point of adequacy missed: thresholds differ by router (the
/// semantic one ships near 0.15, the surface one near 0.62), and so does how far a step moves.
const GAIN: f64 = 2.0;
/// The most one move changes the threshold, as a share of the shipped threshold.
const MAX_STEP: f64 = 0.1;
/// How far from the shipped threshold calibration may take it, and never to all-strong or
/// all-cheap.
pub const REACH: f64 = 0.3;
const LIMITS: (f64, f64) = (0.01, 0.99);
/// Closer to the target than this, the threshold stays.
const TOLERANCE: f64 = 0.005;

/// What the checks measured since the last move.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub judged: u64,
    pub adequate: u64,
    /// The share of the routed traffic served below the baseline's tier (what the verdicts speak
    /// for).
    pub cheap_share: f64,
}

impl Measured {
    /// The standard error of [`Measured::adequacy`] (the inadequate share's binomial error,
    /// scaled by the share it applies to; never zero, as 20 of 20 is not certainty).
    pub fn standard_error(&self) -> f64 {
        let n = self.judged.max(1) as f64;
        let bad = (1.0 - self.adequate as f64 / n).max(0.5 / n);
        self.cheap_share * (bad * (1.0 - bad) / n).sqrt()
    }

    /// The estimated adequate share of the whole routed traffic.
    pub fn adequacy(&self) -> Option<f64> {
        (self.judged > 0).then(|| {
            let bad = 1.0 - self.adequate as f64 / self.judged as f64;
            1.0 - self.cheap_share * bad
        })
    }
}

/// Where calibration may take a threshold shipped at `shipped`.
pub fn bounds(shipped: f64) -> (f64, f64) {
    (
        (shipped - REACH).max(LIMITS.0),
        (shipped + REACH).min(LIMITS.1),
    )
}

/// The next threshold, or `None` to stay: too few verdicts, or already within the tolerance.
/// Below the target the threshold falls (more requests reach the strong tier), above it rises.
pub fn next_threshold(current: f64, shipped: f64, target: f64, measured: Measured) -> Option<f64> {
    if measured.judged < MIN_VERDICTS {
        return None;
    }
    let missed = target - measured.adequacy()?;
    // Within the tolerance, or within the estimate's own noise (its standard error): stay.
    if missed.abs() < TOLERANCE.max(measured.standard_error()) {
        return None;
    }
    let step = (GAIN * missed * shipped).clamp(-MAX_STEP * shipped, MAX_STEP * shipped);
    let (low, high) = bounds(shipped);
    let next = (current - step).clamp(low, high);
    ((next - current).abs() > f64::EPSILON).then_some(next)
}

use crate::accounts::latest_threshold_change as latest;

/// The account's moves, newest first.
pub async fn history(
    db: &DatabaseConnection,
    account_id: i32,
    limit: u64,
) -> Result<Vec<threshold_change::Model>, DbErr> {
    use sea_orm::QuerySelect as _;
    threshold_change::Entity::find()
        .filter(threshold_change::Column::AccountId.eq(account_id))
        .order_by_desc(threshold_change::Column::ChangedAt)
        .order_by_desc(threshold_change::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// One move at a time on a server: two verdicts arriving together must not both move it.
static MOVING: Mutex<()> = Mutex::const_new(());

/// After a verdict: moves the account's threshold if what was measured since the last move says
/// so. `shipped` is the threshold in force before any move.
pub async fn recalibrate(
    state: &GatewayState,
    account_id: i32,
    target: f64,
    shipped: f64,
    baseline_tier: crate::catalog::Tier,
) -> Result<(), DbErr> {
    let _one_at_a_time = MOVING.lock().await;
    let db = &state.db;
    let last = latest(db, account_id).await?;
    let since = last.as_ref().map_or(0, |change| change.changed_at);
    let threshold = last.as_ref().map_or(shipped, |change| change.new_threshold);
    let verdicts = || {
        quality_verdict::Entity::find()
            .filter(quality_verdict::Column::AccountId.eq(account_id))
            .filter(quality_verdict::Column::CreatedAt.gt(since))
            .filter(quality_verdict::Column::Adequate.is_not_null())
    };
    let judged = verdicts().count(db).await?;
    if judged < MIN_VERDICTS {
        return Ok(());
    }
    let adequate = verdicts()
        .filter(quality_verdict::Column::Adequate.eq(true))
        .count(db)
        .await?;
    let routed = || {
        usage_event::Entity::find()
            .filter(usage_event::Column::AccountId.eq(account_id))
            .filter(usage_event::Column::CreatedAt.gt(since))
            .filter(usage_event::Column::Routed.eq(true))
            .filter(usage_event::Column::Counted.eq(true))
    };
    let all = routed().count(db).await?;
    if all == 0 {
        // The traffic's usage is not written yet (it is, within a second): nothing to weigh the
        // verdicts by.
        return Ok(());
    }
    let below: Vec<&str> = [crate::catalog::Tier::Cheap, crate::catalog::Tier::Standard]
        .into_iter()
        .filter(|tier| *tier < baseline_tier)
        .map(|tier| tier.id())
        .collect();
    let cheap = routed()
        .filter(usage_event::Column::Tier.is_in(below))
        .count(db)
        .await?;
    let measured = Measured {
        judged,
        adequate,
        cheap_share: cheap as f64 / all as f64,
    };
    let Some(next) = next_threshold(threshold, shipped, target, measured) else {
        return Ok(());
    };
    threshold_change::ActiveModel {
        account_id: Set(account_id),
        changed_at: Set(crate::clock::now_ms()),
        old_threshold: Set(threshold),
        new_threshold: Set(next),
        judged: Set(i64::try_from(judged).unwrap_or(i64::MAX)),
        adequacy: Set(measured.adequacy().unwrap_or_default()),
        cheap_share: Set(measured.cheap_share),
        target: Set(target),
        ..Default::default()
    }
    .insert(db)
    .await?;
    tracing::info!(
        account_id,
        from = threshold,
        to = next,
        adequacy = measured.adequacy().unwrap_or_default(),
        target,
        judged,
        "calibration moved the routing threshold"
    );
    // Every server drops what it cached of the account, and routes with the new threshold.
    crate::accounts::touch_account(db, account_id).await?;
    state.directory.evict_account(account_id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(judged: u64, adequate: u64, cheap_share: f64) -> Measured {
        Measured {
            judged,
            adequate,
            cheap_share,
        }
    }

    #[test]
    fn the_threshold_moves_toward_the_target_slowly_and_within_bounds() {
        let next = |current, m| next_threshold(current, 0.62, 0.95, m);
        // 20 judged, 14 adequate, 60 % served cheap: 1 - 0.6 * 0.3 = 82 % < 95 %: down by the
        // largest step, a tenth of the shipped threshold.
        let down = next(0.62, measured(20, 14, 0.6)).unwrap();
        assert!((down - 0.558).abs() < 1e-12, "{down}");
        // Above the target by more than the noise: up, by twice the points missed (in shipped
        // thresholds).
        let up = next(0.62, measured(400, 400, 0.6)).unwrap();
        assert!((up - 0.682).abs() < 1e-12, "{up}");
        let near = next(0.62, measured(400, 385, 0.6)).unwrap();
        let missed = 0.95 - (1.0 - 0.6 * 15.0 / 400.0);
        assert!(
            (near - (0.62 - 2.0 * missed * 0.62)).abs() < 1e-12,
            "{near}"
        );
        // Within the noise of 20 verdicts, too few verdicts, or at a bound: it stays.
        assert_eq!(next(0.62, measured(20, 19, 0.6)), None);
        assert_eq!(next(0.62, measured(19, 0, 1.0)), None);
        assert_eq!(next(0.32, measured(50, 0, 1.0)), None);
        let low = next(0.34, measured(50, 0, 1.0)).unwrap();
        assert!((low - 0.32).abs() < 1e-12, "{low}");
        // Bounds follow the shipped threshold, within 0.01..0.99.
        assert_eq!(bounds(0.15), (0.01, 0.44999999999999996));
    }

    #[test]
    fn adequacy_counts_only_the_share_served_below_the_baseline() {
        assert_eq!(measured(10, 5, 0.0).adequacy(), Some(1.0));
        assert_eq!(measured(10, 5, 1.0).adequacy(), Some(0.5));
        assert_eq!(measured(0, 0, 0.5).adequacy(), None);
    }
}
