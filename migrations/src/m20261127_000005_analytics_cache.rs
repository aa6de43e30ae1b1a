use sea_orm_migration::{prelude::*, schema::*};

/// Analytics and the response cache: cache hits on usage events, hourly roll-ups for fast
/// charts, and the index retention deletes by.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    CacheHit,
    CreatedAt,
}

/// Latency histogram bucket columns `l00` … `l15` (see `gateway::usage::rollup::LATENCY_BOUNDS_MS`).
pub const LATENCY_BUCKETS: usize = 16;

#[derive(DeriveIden)]
enum UsageHourly {
    Table,
    AccountId,
    Hour,
    KeyId,
    Provider,
    Model,
    Tier,
    Requests,
    Errors,
    CacheHits,
    PromptTokens,
    CompletionTokens,
    CostUsd,
    SavingUsd,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(UsageEvents::Table)
                    .add_column(boolean(UsageEvents::CacheHit).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("usage_events_created_at")
                    .table(UsageEvents::Table)
                    .col(UsageEvents::CreatedAt)
                    .to_owned(),
            )
            .await?;
        let mut table = Table::create();
        table
            .table(UsageHourly::Table)
            .col(integer(UsageHourly::AccountId))
            .col(big_integer(UsageHourly::Hour))
            .col(integer(UsageHourly::KeyId))
            .col(string(UsageHourly::Provider))
            .col(string(UsageHourly::Model))
            .col(string(UsageHourly::Tier))
            .col(big_integer(UsageHourly::Requests))
            .col(big_integer(UsageHourly::Errors))
            .col(big_integer(UsageHourly::CacheHits))
            .col(big_integer(UsageHourly::PromptTokens))
            .col(big_integer(UsageHourly::CompletionTokens))
            .col(double(UsageHourly::CostUsd))
            .col(double(UsageHourly::SavingUsd));
        for bucket in 0..LATENCY_BUCKETS {
            table.col(big_integer(Alias::new(format!("l{bucket:02}"))).default(0));
        }
        table.primary_key(
            Index::create()
                .col(UsageHourly::AccountId)
                .col(UsageHourly::Hour)
                .col(UsageHourly::KeyId)
                .col(UsageHourly::Provider)
                .col(UsageHourly::Model)
                .col(UsageHourly::Tier),
        );
        manager.create_table(table.to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UsageHourly::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("usage_events_created_at")
                    .table(UsageEvents::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UsageEvents::Table)
                    .drop_column(UsageEvents::CacheHit)
                    .to_owned(),
            )
            .await
    }
}
