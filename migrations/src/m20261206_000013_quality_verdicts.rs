use sea_orm_migration::{prelude::*, schema::*};

/// Quality checks on an account's own traffic (issue 32): one row per sampled request, holding the
/// verdict and its scores, the models and the evaluation's own cost. Never the prompt or the
/// answers: those live in memory only until the verdict is in.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum QualityVerdicts {
    Table,
    Id,
    AccountId,
    KeyId,
    CreatedAt,
    ServedModel,
    BaselineModel,
    JudgeModel,
    Tier,
    RouteReason,
    CheapScore,
    BaselineScore,
    Adequate,
    Outcome,
    EvalCostUsd,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let id = crate::big_auto_id(manager, QualityVerdicts::Id);
        manager
            .create_table(
                Table::create()
                    .table(QualityVerdicts::Table)
                    .col(id)
                    .col(integer(QualityVerdicts::AccountId))
                    .col(integer_null(QualityVerdicts::KeyId))
                    .col(big_integer(QualityVerdicts::CreatedAt))
                    .col(string(QualityVerdicts::ServedModel))
                    .col(string(QualityVerdicts::BaselineModel))
                    .col(string(QualityVerdicts::JudgeModel))
                    .col(string_null(QualityVerdicts::Tier))
                    .col(string_null(QualityVerdicts::RouteReason))
                    .col(double_null(QualityVerdicts::CheapScore))
                    .col(double_null(QualityVerdicts::BaselineScore))
                    .col(boolean_null(QualityVerdicts::Adequate))
                    .col(string(QualityVerdicts::Outcome))
                    .col(double(QualityVerdicts::EvalCostUsd))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_quality_verdicts_account_time")
                    .table(QualityVerdicts::Table)
                    .col(QualityVerdicts::AccountId)
                    .col(QualityVerdicts::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(QualityVerdicts::Table).to_owned())
            .await
    }
}
