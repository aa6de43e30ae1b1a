//! Usage events into `usage_events`: one multi-row INSERT per chunk, its SQL text made once per
//! backend and chunk size. Building the statement with the query builder for every batch cost
//! more than storing it: 18k instructions per event (a placeholder formatted per value), out of
//! the ~42k the writer spent per event (callgrind, 100 requests/s).

use std::sync::OnceLock;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

use super::chunks::CHUNK_SIZES;
use super::event::UsageEvent;

/// The columns written, in the order [`push_row`] pushes their values.
const COLUMNS: [&str; 23] = [
    "account_id",
    "key_id",
    "provider",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "upstream_ms",
    "first_byte_ms",
    "status",
    "error_code",
    "created_at",
    "tier",
    "baseline_model",
    "cost_usd",
    "saving_usd",
    "counted",
    "cache_hit",
    "route_reason",
    "routed",
    "priced",
    "baseline_cost_usd",
    "request_id",
];

/// Inserts `batch` (a chunk: PostgreSQL binds at most 65,535 values, 2,849 events) in one
/// statement, inside the caller's transaction.
pub(super) async fn insert_events(
    txn: &impl ConnectionTrait,
    batch: &[UsageEvent],
) -> Result<(), DbErr> {
    if batch.is_empty() {
        return Ok(());
    }
    let backend = txn.get_database_backend();
    let mut values = Vec::with_capacity(batch.len() * COLUMNS.len());
    for event in batch {
        push_row(&mut values, event);
    }
    let sql = insert_sql(backend, batch.len());
    txn.execute(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// One event's values, in [`COLUMNS`]' order.
fn push_row(values: &mut Vec<Value>, event: &UsageEvent) {
    values.extend([
        event.account_id.into(),
        Some(event.key_id).into(),
        event.provider.clone().into(),
        event.model.clone().into(),
        saturating_i32(event.prompt_tokens).into(),
        saturating_i32(event.completion_tokens).into(),
        saturating_i32(event.latency_ms).into(),
        event.upstream_ms.map(saturating_i32).into(),
        event.first_byte_ms.map(saturating_i32).into(),
        (event.status as i16).into(),
        event.error_code.clone().into(),
        event.created_at_ms.into(),
        event.tier.clone().into(),
        event.baseline_model.clone().into(),
        event.cost_usd.into(),
        event.saving_usd.into(),
        event.counted.into(),
        event.cache_hit.into(),
        event.route_reason.clone().into(),
        event.routed.into(),
        event.priced.into(),
        event.baseline_cost_usd.into(),
        Some(event.request_id.0).into(),
    ]);
}

fn saturating_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// The INSERT for `rows` events: kept for the chunk sizes (the only sizes the writer uses),
/// made afresh for any other.
fn insert_sql(backend: DbBackend, rows: usize) -> String {
    static SQLITE: [OnceLock<String>; CHUNK_SIZES.len()] =
        [const { OnceLock::new() }; CHUNK_SIZES.len()];
    static POSTGRES: [OnceLock<String>; CHUNK_SIZES.len()] =
        [const { OnceLock::new() }; CHUNK_SIZES.len()];
    let kept = match backend {
        DbBackend::Sqlite => &SQLITE,
        DbBackend::Postgres => &POSTGRES,
        _ => return build_insert_sql(backend, rows),
    };
    match CHUNK_SIZES.iter().position(|size| *size == rows) {
        Some(index) => kept[index]
            .get_or_init(|| build_insert_sql(backend, rows))
            .clone(),
        None => build_insert_sql(backend, rows),
    }
}

/// `INSERT INTO "usage_events" ("account_id", ...) VALUES (?, ...), ...` with the backend's
/// placeholders (`$1`, `$2`, ... on PostgreSQL).
fn build_insert_sql(backend: DbBackend, rows: usize) -> String {
    let mut sql = String::from("INSERT INTO \"usage_events\" (");
    for (index, column) in COLUMNS.iter().enumerate() {
        if index > 0 {
            sql.push_str(", ");
        }
        sql.push('"');
        sql.push_str(column);
        sql.push('"');
    }
    sql.push_str(") VALUES ");
    let mut number = 0usize;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..COLUMNS.len() {
            if column > 0 {
                sql.push_str(", ");
            }
            number += 1;
            match backend {
                DbBackend::Postgres => {
                    sql.push('$');
                    sql.push_str(&number.to_string());
                }
                _ => sql.push('?'),
            }
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_has_a_placeholder_per_value() {
        let sqlite = insert_sql(DbBackend::Sqlite, 4);
        assert_eq!(sqlite.matches('?').count(), 4 * COLUMNS.len());
        assert!(sqlite.starts_with("INSERT INTO \"usage_events\" (\"account_id\", \"key_id\""));
        let postgres = insert_sql(DbBackend::Postgres, 2);
        assert!(postgres.ends_with(&format!("${})", 2 * COLUMNS.len())));
        assert!(postgres.contains("($24, $25"), "{postgres}");
        // A kept text is the one a fresh build gives.
        assert_eq!(
            insert_sql(DbBackend::Postgres, 16),
            build_insert_sql(DbBackend::Postgres, 16)
        );
        assert_eq!(
            insert_sql(DbBackend::Sqlite, 3),
            build_insert_sql(DbBackend::Sqlite, 3)
        );
    }

    #[test]
    fn every_column_of_the_entity_but_its_id_is_written() {
        use sea_orm::{EntityTrait, IdenStatic, Iterable};
        let mut expected: Vec<String> =
            <crate::entities::usage_event::Entity as EntityTrait>::Column::iter()
                .map(|column| column.as_str().to_owned())
                .filter(|column| column != "id")
                .collect();
        let mut written: Vec<String> = COLUMNS.iter().map(|column| column.to_string()).collect();
        written.sort_unstable();
        expected.sort_unstable();
        assert_eq!(written, expected);
    }
}
