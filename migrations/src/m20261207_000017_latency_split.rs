use sea_orm_migration::{prelude::*, schema::*};

/// Where a request's time went: waiting for providers, and a stream's first byte. The request
/// log's detail splits a request's latency into the provider's part and the gateway's. Rows
/// written before have neither.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    UpstreamMs,
    FirstByteMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [UsageEvents::UpstreamMs, UsageEvents::FirstByteMs] {
            manager
                .alter_table(
                    Table::alter()
                        .table(UsageEvents::Table)
                        .add_column(&mut integer_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [UsageEvents::UpstreamMs, UsageEvents::FirstByteMs] {
            manager
                .alter_table(
                    Table::alter()
                        .table(UsageEvents::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
