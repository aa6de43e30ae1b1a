//! Retention by plan: events and roll-ups older than the account's plan keeps are deleted.

use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use super::{DAY_MS, HOUR_MS};
use crate::clock::now_ms;
use crate::entities::{account, usage_event, usage_hourly};
use crate::plans::{Plan, PlanTable};

/// Deletes events and roll-ups older than each plan's retention. Returns the events deleted.
pub async fn delete_expired(
    db: &DatabaseConnection,
    plans: &PlanTable,
    now: i64,
) -> Result<u64, DbErr> {
    let mut deleted = 0;
    for plan in Plan::ALL {
        let cutoff = now - i64::from(plans.limits(plan).retention_days) * DAY_MS;
        let on_plan = Query::select()
            .column(account::Column::Id)
            .from(account::Entity)
            .and_where(account::Column::Plan.eq(plan.id()))
            .to_owned();
        deleted += usage_event::Entity::delete_many()
            .filter(usage_event::Column::CreatedAt.lt(cutoff))
            .filter(usage_event::Column::AccountId.in_subquery(on_plan.clone()))
            .exec(db)
            .await?
            .rows_affected;
        // An hour is dropped once it has wholly passed the cutoff.
        usage_hourly::Entity::delete_many()
            .filter(usage_hourly::Column::Hour.lt(cutoff - HOUR_MS))
            .filter(usage_hourly::Column::AccountId.in_subquery(on_plan))
            .exec(db)
            .await?;
    }
    Ok(deleted)
}

/// Runs [`delete_expired`] every `interval` until aborted.
pub fn spawn_retention_job(
    db: DatabaseConnection,
    plans: PlanTable,
    interval: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match delete_expired(&db, &plans, now_ms()).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(
                    deleted,
                    "retention: deleted usage events past their plan's retention"
                ),
                Err(err) => tracing::warn!(error = %err, "retention job failed; will retry"),
            }
        }
    })
}
