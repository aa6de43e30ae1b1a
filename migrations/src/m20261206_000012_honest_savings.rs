use sea_orm_migration::{prelude::*, schema::*};

/// Savings a customer can believe (issue 32): each event says whether the gateway chose its model
/// (`routed`), whether its model has a price (`priced`) and what the same tokens cost on the
/// baseline model (`baseline_cost_usd`); the hourly roll-ups count the requests a saving is
/// claimed for, what those would have cost without the gateway, and the unpriced ones.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    Routed,
    Priced,
    BaselineCostUsd,
}

#[derive(DeriveIden)]
enum UsageHourly {
    Table,
    SavingRequests,
    SavingBaseUsd,
    UnpricedRequests,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        for column in [
            boolean(UsageEvents::Routed).default(false).to_owned(),
            boolean(UsageEvents::Priced).default(true).to_owned(),
            double_null(UsageEvents::BaselineCostUsd),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(UsageEvents::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [
            big_integer(UsageHourly::SavingRequests)
                .default(0)
                .to_owned(),
            double(UsageHourly::SavingBaseUsd).default(0.0).to_owned(),
            big_integer(UsageHourly::UnpricedRequests)
                .default(0)
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(UsageHourly::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            UsageEvents::Routed,
            UsageEvents::Priced,
            UsageEvents::BaselineCostUsd,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(UsageEvents::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [
            UsageHourly::SavingRequests,
            UsageHourly::SavingBaseUsd,
            UsageHourly::UnpricedRequests,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(UsageHourly::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
