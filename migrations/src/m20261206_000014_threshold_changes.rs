use sea_orm_migration::{prelude::*, schema::*};

/// Calibration to a quality target (issue 32): each move of an account's routing threshold, with
/// what the quality checks had measured and why it moved. The latest row is the threshold in
/// force; the rows are its history, shown on the Routing page.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ThresholdChanges {
    Table,
    Id,
    AccountId,
    ChangedAt,
    OldThreshold,
    NewThreshold,
    Judged,
    Adequacy,
    CheapShare,
    Target,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let id = crate::big_auto_id(manager, ThresholdChanges::Id);
        manager
            .create_table(
                Table::create()
                    .table(ThresholdChanges::Table)
                    .col(id)
                    .col(integer(ThresholdChanges::AccountId))
                    .col(big_integer(ThresholdChanges::ChangedAt))
                    .col(double(ThresholdChanges::OldThreshold))
                    .col(double(ThresholdChanges::NewThreshold))
                    .col(big_integer(ThresholdChanges::Judged))
                    .col(double(ThresholdChanges::Adequacy))
                    .col(double(ThresholdChanges::CheapShare))
                    .col(double(ThresholdChanges::Target))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_threshold_changes_account_time")
                    .table(ThresholdChanges::Table)
                    .col(ThresholdChanges::AccountId)
                    .col(ThresholdChanges::ChangedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ThresholdChanges::Table).to_owned())
            .await
    }
}
