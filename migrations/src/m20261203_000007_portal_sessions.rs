use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::{prelude::*, schema::*};

/// Portal sessions, kept by the application's own store through sea-orm on both back-ends.
///
/// They used to live in tables that tower-sessions-sqlx-store created outside the migrations
/// (`tower_sessions` on SQLite, `tower_sessions.session` on PostgreSQL); that crate pulled a
/// second copy of sqlx and SQLite into the build for its query macros. Old sessions are
/// dropped with their tables: people signed in before the upgrade sign in once more.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PortalSessions {
    Table,
    Id,
    Record,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PortalSessions::Table)
                    .col(string(PortalSessions::Id).primary_key())
                    .col(text(PortalSessions::Record))
                    .col(big_integer(PortalSessions::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("portal_sessions_expires_at")
                    .table(PortalSessions::Table)
                    .col(PortalSessions::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        let old_tables = match manager.get_database_backend() {
            DatabaseBackend::Postgres => "DROP SCHEMA IF EXISTS tower_sessions CASCADE",
            _ => "DROP TABLE IF EXISTS tower_sessions",
        };
        manager
            .get_connection()
            .execute_unprepared(old_tables)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PortalSessions::Table).to_owned())
            .await
    }
}
