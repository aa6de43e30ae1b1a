use sea_orm_migration::{prelude::*, schema::*};

/// A journal of account changes, numbered by the database: servers find what other processes
/// changed (a revoked key, a new provider key, a plan) by the numbers they have not seen yet,
/// not by timestamps from each writer's own clock, which may be behind.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AccountChanges {
    Table,
    Version,
    AccountId,
    ChangedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let version = crate::big_auto_id(manager, AccountChanges::Version);
        manager
            .create_table(
                Table::create()
                    .table(AccountChanges::Table)
                    .col(version)
                    .col(integer(AccountChanges::AccountId))
                    .col(big_integer(AccountChanges::ChangedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("account_changes_changed_at")
                    .table(AccountChanges::Table)
                    .col(AccountChanges::ChangedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AccountChanges::Table).to_owned())
            .await
    }
}
