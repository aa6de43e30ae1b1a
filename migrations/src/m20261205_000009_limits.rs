use sea_orm_migration::{prelude::*, schema::*};

/// Budgets and rate limits (`gateway::limits::Limits` as JSON) on the account and on each key, and
/// the budget alerts already sent (one per scope and month, whichever server sends it).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Limits,
}

#[derive(DeriveIden)]
enum GatewayKeys {
    Table,
    Limits,
}

#[derive(DeriveIden)]
enum BudgetAlerts {
    Table,
    Id,
    Scope,
    MonthStart,
    SentAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .add_column(&mut text_null(Accounts::Limits))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(GatewayKeys::Table)
                    .add_column(&mut text_null(GatewayKeys::Limits))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BudgetAlerts::Table)
                    .col(pk_auto(BudgetAlerts::Id))
                    .col(string(BudgetAlerts::Scope))
                    .col(big_integer(BudgetAlerts::MonthStart))
                    .col(big_integer(BudgetAlerts::SentAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("budget_alerts_scope_month")
                    .table(BudgetAlerts::Table)
                    .col(BudgetAlerts::Scope)
                    .col(BudgetAlerts::MonthStart)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BudgetAlerts::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(GatewayKeys::Table)
                    .drop_column(GatewayKeys::Limits)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .drop_column(Accounts::Limits)
                    .to_owned(),
            )
            .await
    }
}
