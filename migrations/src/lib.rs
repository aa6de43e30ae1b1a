//! Database schema, as sea-orm migrations. Runs on SQLite and PostgreSQL alike.
//!
//! Timestamps are milliseconds since the Unix epoch in BIGINT columns: one representation that
//! compares and sorts the same on both back-ends.

pub use sea_orm_migration::prelude::*;

/// A 64-bit auto-incremented primary key on both back-ends: SQLite only auto-increments an
/// INTEGER PRIMARY KEY (which is 64-bit there anyway), PostgreSQL takes BIGINT.
pub(crate) fn big_auto_id(manager: &SchemaManager, column: impl IntoIden) -> ColumnDef {
    let mut id = ColumnDef::new(column);
    match manager.get_database_backend() {
        sea_orm_migration::sea_orm::DatabaseBackend::Sqlite => id.integer(),
        _ => id.big_integer(),
    };
    id.not_null().auto_increment().primary_key();
    id
}

mod m20261126_000001_foundation;
mod m20261127_000002_routing_usage;
mod m20261127_000003_routing_policies;
mod m20261127_000004_plans_billing;
mod m20261127_000005_analytics_cache;
mod m20261203_000006_route_reason;
mod m20261203_000007_portal_sessions;
mod m20261205_000008_account_changes;
mod m20261205_000009_limits;
mod m20261205_000010_email;
mod m20261205_000011_members;
mod m20261206_000012_honest_savings;
mod m20261206_000013_quality_verdicts;
mod m20261206_000014_threshold_changes;
mod m20261207_000015_key_prefix_index;
mod m20261207_000016_request_ids;
mod m20261207_000017_latency_split;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_foundation::Migration),
            Box::new(m20261127_000002_routing_usage::Migration),
            Box::new(m20261127_000003_routing_policies::Migration),
            Box::new(m20261127_000004_plans_billing::Migration),
            Box::new(m20261127_000005_analytics_cache::Migration),
            Box::new(m20261203_000006_route_reason::Migration),
            Box::new(m20261203_000007_portal_sessions::Migration),
            Box::new(m20261205_000008_account_changes::Migration),
            Box::new(m20261205_000009_limits::Migration),
            Box::new(m20261205_000010_email::Migration),
            Box::new(m20261205_000011_members::Migration),
            Box::new(m20261206_000012_honest_savings::Migration),
            Box::new(m20261206_000013_quality_verdicts::Migration),
            Box::new(m20261206_000014_threshold_changes::Migration),
            Box::new(m20261207_000015_key_prefix_index::Migration),
            Box::new(m20261207_000016_request_ids::Migration),
            Box::new(m20261207_000017_latency_split::Migration),
        ]
    }
}
