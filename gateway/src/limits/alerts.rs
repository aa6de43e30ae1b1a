//! Budget alert e-mails: once per scope and month, whichever server sees the threshold first and
//! however often it restarts (a unique row in `budget_alerts` decides), to the organisation's
//! owner and admins.

use std::sync::Arc;

use sea_orm::sea_query::{Alias, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use tokio::sync::mpsc::UnboundedReceiver;

use super::decision::BudgetAlert;
use super::refusal::Scope;
use super::settings::NANOS_PER_USD;
use crate::entities::{account, gateway_key, member};
use crate::mail::{Lang, Mailer, messages};

pub async fn deliver(
    db: DatabaseConnection,
    mailer: Arc<Mailer>,
    link_base: String,
    mut alerts: UnboundedReceiver<BudgetAlert>,
) {
    while let Some(alert) = alerts.recv().await {
        if let Err(err) = deliver_one(&db, &mailer, &link_base, &alert).await {
            tracing::warn!(error = %err, scope = ?alert.scope, "could not send a budget alert");
        }
    }
}

/// Claims the month's alert of the scope; `false` if it was sent already.
async fn claim(db: &DatabaseConnection, scope: Scope, month_start: i64) -> Result<bool, DbErr> {
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new("budget_alerts"))
        .columns([
            Alias::new("scope"),
            Alias::new("month_start"),
            Alias::new("sent_at"),
        ])
        .values_panic([
            scope.id().into(),
            month_start.into(),
            crate::clock::now_ms().into(),
        ])
        .on_conflict(
            OnConflict::columns([Alias::new("scope"), Alias::new("month_start")])
                .do_nothing()
                .to_owned(),
        );
    let done = db.execute(db.get_database_backend().build(&insert)).await?;
    Ok(done.rows_affected() == 1)
}

async fn deliver_one(
    db: &DatabaseConnection,
    mailer: &Mailer,
    link_base: &str,
    alert: &BudgetAlert,
) -> Result<(), DbErr> {
    if !claim(db, alert.scope, alert.month_start).await? {
        return Ok(());
    }
    let (account_id, what) = match alert.scope {
        Scope::Account(id) => (id, None),
        Scope::Key(id) => {
            let Some(key) = gateway_key::Entity::find_by_id(id).one(db).await? else {
                return Ok(());
            };
            (key.account_id, Some((key.name, key.prefix)))
        }
    };
    let Some(owner) = account::Entity::find_by_id(account_id).one(db).await? else {
        return Ok(());
    };
    let lang = Lang::of_stored(owner.locale.as_deref());
    let what = match (what, lang) {
        (Some((name, prefix)), Lang::En) => format!("The key “{name}” ({prefix}…)"),
        (Some((name, prefix)), Lang::Es) => format!("La clave «{name}» ({prefix}…)"),
        (None, Lang::En) => "Your organisation".to_owned(),
        (None, Lang::Es) => "Tu organización".to_owned(),
    };
    let mail = messages::budget_alert(
        lang,
        &what,
        alert.alert_at_percent,
        alert.spent_nanos as f64 / NANOS_PER_USD,
        alert.budget_nanos as f64 / NANOS_PER_USD,
        &format!("{}/keys", link_base.trim_end_matches('/')),
    );
    // The owner and the organisation's admins, who can raise the budget.
    let admins = member::Entity::find()
        .filter(member::Column::AccountId.eq(account_id))
        .filter(member::Column::Role.eq("admin"))
        .all(db)
        .await?;
    for to in std::iter::once(owner.email).chain(admins.into_iter().map(|admin| admin.email)) {
        if let Err(err) = mailer.send(&to, &mail).await {
            tracing::error!(error = %err, account_id, "could not send a budget alert");
        }
    }
    Ok(())
}
