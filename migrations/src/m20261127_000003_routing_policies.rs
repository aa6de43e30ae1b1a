use sea_orm_migration::{prelude::*, schema::*};

/// Routing overrides (`gateway::routing::RoutingPolicy` as JSON) on accounts and on keys; NULL is
/// no override.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    RoutingPolicy,
}

#[derive(DeriveIden)]
enum GatewayKeys {
    Table,
    RoutingPolicy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .add_column(text_null(Accounts::RoutingPolicy))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(GatewayKeys::Table)
                    .add_column(text_null(GatewayKeys::RoutingPolicy))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .drop_column(Accounts::RoutingPolicy)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(GatewayKeys::Table)
                    .drop_column(GatewayKeys::RoutingPolicy)
                    .to_owned(),
            )
            .await
    }
}
