use sea_orm_migration::{prelude::*, schema::*};

/// What auto-routing chose for each request, and what it cost and saved against the baseline.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    Tier,
    BaselineModel,
    CostUsd,
    SavingUsd,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            string_null(UsageEvents::Tier),
            string_null(UsageEvents::BaselineModel),
            double(UsageEvents::CostUsd).default(0.0).to_owned(),
            double(UsageEvents::SavingUsd).default(0.0).to_owned(),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(UsageEvents::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            UsageEvents::Tier,
            UsageEvents::BaselineModel,
            UsageEvents::CostUsd,
            UsageEvents::SavingUsd,
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
        Ok(())
    }
}
