//! The export of an account's raw usage events (CSV and JSON lines): metadata only.

use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::entities::usage_event;

/// The account's events since `since`, oldest first (for CSV and JSON export).
pub async fn events_since(
    db: &DatabaseConnection,
    account_id: i32,
    since: i64,
) -> Result<Vec<usage_event::Model>, DbErr> {
    let mut events = Vec::new();
    let mut after = None;
    loop {
        let page = events_page(db, account_id, since, after, EXPORT_PAGE).await?;
        let full = page.len() as u64 == EXPORT_PAGE;
        after = page.last().map(|last| (last.created_at, last.id));
        events.extend(page);
        if !full {
            return Ok(events);
        }
    }
}

/// Events read per query by the export: a year of a busy account is millions of rows, which
/// are streamed out a page at a time instead of held in memory (and in one long query).
pub const EXPORT_PAGE: u64 = 2_000;

/// The account's events since `since` in export order (time, then id), after the position
/// `after` (the last event of the previous page), at most `limit`.
pub async fn events_page(
    db: &DatabaseConnection,
    account_id: i32,
    since: i64,
    after: Option<(i64, i64)>,
    limit: u64,
) -> Result<Vec<usage_event::Model>, DbErr> {
    let mut query = usage_event::Entity::find()
        .filter(usage_event::Column::AccountId.eq(account_id))
        .filter(usage_event::Column::CreatedAt.gte(since));
    if let Some((created_at, id)) = after {
        query = query.filter(
            Condition::any()
                .add(usage_event::Column::CreatedAt.gt(created_at))
                .add(
                    Condition::all()
                        .add(usage_event::Column::CreatedAt.eq(created_at))
                        .add(usage_event::Column::Id.gt(id)),
                ),
        );
    }
    query
        .order_by_asc(usage_event::Column::CreatedAt)
        .order_by_asc(usage_event::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// The CSV export as a stream of chunks, a page of events each, header first. The first page is
/// read before the stream is returned, so that a database that cannot be read is an error the
/// caller can answer with, not a broken download.
pub async fn csv_stream(
    db: DatabaseConnection,
    account_id: i32,
    since: i64,
) -> Result<impl futures::Stream<Item = Result<bytes::Bytes, DbErr>> + Send + 'static, DbErr> {
    let first = events_page(&db, account_id, since, None, EXPORT_PAGE).await?;
    Ok(async_stream::try_stream! {
        let mut chunk = csv_header();
        let mut page = first;
        loop {
            let full = page.len() as u64 == EXPORT_PAGE;
            csv_rows(&page, &mut chunk);
            yield bytes::Bytes::from(std::mem::take(&mut chunk));
            if !full {
                break;
            }
            let after = page.last().map(|last| (last.created_at, last.id));
            page = events_page(&db, account_id, since, after, EXPORT_PAGE).await?;
        }
    })
}

pub const EXPORT_COLUMNS: [&str; 20] = [
    "time",
    "key_id",
    "provider",
    "model",
    "tier",
    "status",
    "error_code",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "cost_usd",
    "baseline_cost_usd",
    "saving_usd",
    "baseline_model",
    "routed",
    "priced",
    "cache_hit",
    "counted",
    // Added after the others, so that readers by position keep working.
    "upstream_ms",
    "first_byte_ms",
];

/// One event as an export row, in `EXPORT_COLUMNS` order.
pub fn export_row(event: &usage_event::Model) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::json;
    let values = [
        json!(crate::plans::format_iso(event.created_at)),
        json!(event.key_id),
        json!(event.provider),
        json!(event.model),
        json!(event.tier),
        json!(event.status),
        json!(event.error_code),
        json!(event.prompt_tokens),
        json!(event.completion_tokens),
        json!(event.latency_ms),
        json!(event.cost_usd),
        // Empty when the baseline has no price (and for events from before it was stored).
        json!(event.baseline_cost_usd),
        json!(event.saving_usd),
        json!(event.baseline_model),
        json!(event.routed),
        json!(event.priced),
        json!(event.cache_hit),
        json!(event.counted),
        json!(event.upstream_ms),
        json!(event.first_byte_ms),
    ];
    EXPORT_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .zip(values)
        .collect()
}

/// CSV (RFC 4180) of the events, with a header row.
pub fn to_csv(events: &[usage_event::Model]) -> String {
    let mut out = csv_header();
    csv_rows(events, &mut out);
    out
}

fn csv_header() -> String {
    let mut header = EXPORT_COLUMNS.join(",");
    header.push_str("\r\n");
    header
}

fn csv_rows(events: &[usage_event::Model], out: &mut String) {
    for event in events {
        let row = export_row(event);
        let cells: Vec<String> = EXPORT_COLUMNS
            .iter()
            .map(|column| match &row[*column] {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(text) => csv_escape(text),
                other => other.to_string(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
}

fn csv_escape(text: &str) -> String {
    // A cell a spreadsheet would read as a formula (a model name or an error code a provider
    // chose) is kept as text, as OWASP advises: a leading apostrophe.
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routed_event() -> usage_event::Model {
        usage_event::Model {
            id: 1,
            account_id: 1,
            key_id: Some(2),
            provider: "openai".into(),
            model: "gpt-4.1-nano".into(),
            prompt_tokens: 10,
            completion_tokens: 20,
            latency_ms: 30,
            upstream_ms: Some(25),
            first_byte_ms: None,
            status: 200,
            error_code: None,
            created_at: 0,
            tier: Some("cheap".into()),
            baseline_model: Some("openai/gpt-4o".into()),
            cost_usd: 0.125,
            saving_usd: 0.375,
            counted: true,
            cache_hit: false,
            route_reason: Some("auto: difficulty 0.10 -> cheap tier".into()),
            request_id: Some(7),
            routed: true,
            priced: true,
            baseline_cost_usd: Some(0.5),
        }
    }

    #[test]
    fn the_export_has_the_baseline_cost_after_the_cost() {
        let at = |name: &str| EXPORT_COLUMNS.iter().position(|c| *c == name).unwrap();
        assert_eq!(at("baseline_cost_usd"), at("cost_usd") + 1);
        assert_eq!(at("saving_usd"), at("baseline_cost_usd") + 1);
        let event = routed_event();
        let row = export_row(&event);
        assert_eq!(row.len(), EXPORT_COLUMNS.len());
        assert_eq!(row["baseline_cost_usd"], serde_json::json!(0.5));
        assert_eq!(row["cost_usd"], serde_json::json!(0.125));
        // A pinned request keeps its baseline cost (what the baseline would have cost) and
        // claims no saving.
        let pinned = usage_event::Model {
            saving_usd: 0.0,
            routed: false,
            ..routed_event()
        };
        let row = export_row(&pinned);
        assert_eq!(row["baseline_cost_usd"], serde_json::json!(0.5));
        assert_eq!(row["saving_usd"], serde_json::json!(0.0));
        assert_eq!(row["routed"], serde_json::json!(false));
        let csv = to_csv(&[event]);
        let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
        assert_eq!(
            lines[0],
            "time,key_id,provider,model,tier,status,error_code,prompt_tokens,completion_tokens,\
             latency_ms,cost_usd,baseline_cost_usd,saving_usd,baseline_model,routed,priced,cache_hit,\
             counted,upstream_ms,first_byte_ms"
        );
        assert_eq!(
            lines[1],
            "1970-01-01T00:00:00.000Z,2,openai,gpt-4.1-nano,cheap,200,,10,20,30,0.125,0.5,0.375,\
             openai/gpt-4o,true,true,false,true,25,"
        );
    }

    #[test]
    fn csv_cells_that_would_be_formulas_stay_text() {
        assert_eq!(
            csv_escape("=HYPERLINK(\"x\")"),
            "\"'=HYPERLINK(\"\"x\"\")\""
        );
        for cell in ["+1", "-1+1", "@SUM(A1)", "\tx"] {
            assert!(
                csv_escape(cell).trim_start_matches('"').starts_with('\''),
                "{cell}"
            );
        }
        assert_eq!(csv_escape("gpt-4o"), "gpt-4o");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_escape("plain"), "plain");
        assert_eq!(csv_escape("a,b"), "\"a,b\"");
        assert_eq!(csv_escape("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
