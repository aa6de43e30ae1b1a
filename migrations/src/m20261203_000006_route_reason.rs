use sea_orm_migration::{prelude::*, schema::*};

/// Why each request went where it went (`x-gateway-route-reason`: the router's score and the
/// features that drove it; never prompt text).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    RouteReason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(UsageEvents::Table)
                    .add_column(&mut string_null(UsageEvents::RouteReason))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(UsageEvents::Table)
                    .drop_column(UsageEvents::RouteReason)
                    .to_owned(),
            )
            .await
    }
}
