//! Retention by plan: events and roll-ups older than the account's plan keeps are deleted.

use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::clock::{DAY_MS, HOUR_MS, now_ms};
use crate::entities::{account, account_change, usage_event, usage_hourly};
use crate::plans::{Plan, PlanTable};

/// Rows deleted per statement: a long DELETE holds the write lock (all of it, on SQLite) for as
/// long as it runs, so the usage writer and the portal would wait behind a large backlog.
const DELETE_BATCH: u64 = 5_000;

/// How long the account change journal is kept: far longer than any server's poll interval.
const CHANGE_JOURNAL_MS: i64 = DAY_MS;

/// Deletes events and roll-ups older than each plan's retention, a batch at a time. Returns the
/// events deleted.
pub async fn delete_expired(
    db: &DatabaseConnection,
    plans: &PlanTable,
    now: i64,
) -> Result<u64, DbErr> {
    delete_expired_in_batches(db, plans, now, DELETE_BATCH).await
}

/// [`delete_expired`] with `batch` events per statement.
pub async fn delete_expired_in_batches(
    db: &DatabaseConnection,
    plans: &PlanTable,
    now: i64,
    batch_size: u64,
) -> Result<u64, DbErr> {
    let mut deleted = 0;
    for plan in Plan::ALL {
        let cutoff = now - i64::from(plans.limits(plan).retention_days) * DAY_MS;
        let on_plan = Query::select()
            .column(account::Column::Id)
            .from(account::Entity)
            .and_where(account::Column::Plan.eq(plan.id()))
            .to_owned();
        loop {
            let batch = Query::select()
                .column(usage_event::Column::Id)
                .from(usage_event::Entity)
                .and_where(usage_event::Column::CreatedAt.lt(cutoff))
                .and_where(usage_event::Column::AccountId.in_subquery(on_plan.clone()))
                .limit(batch_size)
                .to_owned();
            let rows = usage_event::Entity::delete_many()
                .filter(usage_event::Column::Id.in_subquery(batch))
                .exec(db)
                .await?
                .rows_affected;
            deleted += rows;
            if rows < batch_size {
                break;
            }
            // Let the writers that queued behind this batch go first.
            tokio::task::yield_now().await;
        }
        // An hour is dropped once it has wholly passed the cutoff (a few rows per key and model
        // and hour: small next to the events).
        usage_hourly::Entity::delete_many()
            .filter(usage_hourly::Column::Hour.lt(cutoff - HOUR_MS))
            .filter(usage_hourly::Column::AccountId.in_subquery(on_plan.clone()))
            .exec(db)
            .await?;
        // Quality verdicts are analytics too: kept as long as the events they were sampled from.
        crate::entities::quality_verdict::Entity::delete_many()
            .filter(crate::entities::quality_verdict::Column::CreatedAt.lt(cutoff))
            .filter(crate::entities::quality_verdict::Column::AccountId.in_subquery(on_plan))
            .exec(db)
            .await?;
    }
    account_change::Entity::delete_many()
        .filter(account_change::Column::ChangedAt.lt(now - CHANGE_JOURNAL_MS))
        .exec(db)
        .await?;
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
