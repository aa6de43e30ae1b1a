//! The usage pipeline: proxied requests leave a metadata-only [`UsageEvent`] in a bounded
//! in-memory queue; one writer task stores them in batches. A slow or failing database never
//! slows a request: when the queue is full the event is dropped and counted.

mod chunks;
mod event;
pub mod rollup;
mod rows;
pub mod savings;

use chunks::fixed_chunks;
pub use event::{RequestId, UsageEvent, millis};

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use crate::entities::gateway_key;
use crate::settings::UsageSettings;

enum Message {
    Event(UsageEvent),
    Flush(oneshot::Sender<()>),
}

#[derive(Debug, Default)]
pub struct UsageCounters {
    pub recorded: AtomicU64,
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    /// Batches written (each one transaction).
    pub batches: AtomicU64,
}

/// The sending side, cheap to clone into every request.
#[derive(Clone)]
pub struct UsageRecorder {
    queue: mpsc::Sender<Message>,
    counters: Arc<UsageCounters>,
}

/// The writer task; `shutdown` writes what is queued, then stops it.
pub struct UsageWriter {
    handle: tokio::task::JoinHandle<()>,
}

impl UsageRecorder {
    pub fn start(db: DatabaseConnection, settings: UsageSettings) -> (Self, UsageWriter) {
        let (queue, receiver) = mpsc::channel(settings.queue_capacity.max(1));
        let counters = Arc::new(UsageCounters::default());
        let handle = tokio::spawn(write_batches(db, settings, receiver, counters.clone()));
        (Self { queue, counters }, UsageWriter { handle })
    }

    /// Queues an event without waiting. A full queue drops the event and says so.
    pub fn record(&self, event: UsageEvent) {
        event.trace();
        self.counters.recorded.fetch_add(1, Ordering::Relaxed);
        if self.queue.try_send(Message::Event(event)).is_err() {
            let dropped = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // One line per thousand drops keeps the log readable under a flood.
            if dropped % 1000 == 1 {
                tracing::warn!(dropped, "usage queue full: dropping usage events");
            }
        }
    }

    /// Waits until everything queued before this call is written (or given up on).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    pub fn counters(&self) -> &UsageCounters {
        &self.counters
    }
}

impl UsageWriter {
    /// Writes everything queued so far, then stops the writer. Call it after the server has
    /// stopped taking requests.
    pub async fn shutdown(self, recorder: &UsageRecorder) {
        recorder.flush().await;
        self.handle.abort();
    }
}

async fn write_batches(
    db: DatabaseConnection,
    settings: UsageSettings,
    mut receiver: mpsc::Receiver<Message>,
    counters: Arc<UsageCounters>,
) {
    let mut batch = Vec::with_capacity(settings.batch_size);
    let mut messages = Vec::with_capacity(settings.batch_size);
    // Messages are taken as many at a time as are waiting: under load the writer shares its
    // thread with every request, and one await per event would let the queue fill.
    while receiver.recv_many(&mut messages, settings.batch_size).await > 0 {
        // The batch's first message has come: give the rest until the flush interval.
        let mut waiting_flushes = Vec::new();
        let deadline = tokio::time::Instant::now() + settings.flush_interval;
        loop {
            for message in messages.drain(..) {
                match message {
                    Message::Event(mut event) => {
                        make_storable(&mut event);
                        batch.push(event);
                    }
                    Message::Flush(done) => waiting_flushes.push(done),
                }
            }
            if !waiting_flushes.is_empty() || batch.len() >= settings.batch_size {
                break;
            }
            let room = settings.batch_size - batch.len();
            match tokio::time::timeout_at(deadline, receiver.recv_many(&mut messages, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if !batch.is_empty() {
            write_with_retries(&db, &mut batch, &counters).await;
        }
        for done in waiting_flushes {
            let _ = done.send(());
        }
    }
}

/// Longest wait between two tries while the database is unreachable.
const OUTAGE_RETRY_CAP: Duration = Duration::from_secs(2);

/// Writes one batch, retrying a failing database a few times. While the database cannot be
/// reached at all, the batch is kept and retried until it can (the queue holds what comes
/// meanwhile, up to its capacity), so usage catches up after an outage instead of being lost. A
/// batch that fails although the database answers is written event by event, so that one event
/// the database refuses (its account deleted meanwhile, say) costs only itself and not every
/// tenant's usage batched with it.
async fn write_with_retries(
    db: &DatabaseConnection,
    batch: &mut Vec<UsageEvent>,
    counters: &UsageCounters,
) {
    const ATTEMPTS: u32 = 4;
    let mut attempt = 0u32;
    let mut outage_logged = false;
    loop {
        attempt += 1;
        let err = match write_batch(db, batch).await {
            Ok(()) => {
                counters
                    .written
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                counters.batches.fetch_add(1, Ordering::Relaxed);
                batch.clear();
                if outage_logged {
                    tracing::info!("the database is back: usage written again");
                }
                return;
            }
            Err(err) => err,
        };
        if attempt < ATTEMPTS {
            tracing::warn!(error = %err, attempt, events = batch.len(), "usage batch write failed; retrying");
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            continue;
        }
        if db.ping().await.is_err() {
            if !outage_logged {
                tracing::error!(error = %err, events = batch.len(), "the database is unreachable: keeping usage in memory until it is back");
                outage_logged = true;
            }
            let wait = Duration::from_millis(200 * u64::from(attempt)).min(OUTAGE_RETRY_CAP);
            tokio::time::sleep(wait).await;
            continue;
        }
        tracing::error!(error = %err, events = batch.len(), "usage batch write failed; writing its events one by one");
        break;
    }
    let mut refused = 0u64;
    for event in batch.drain(..) {
        match write_batch(db, std::slice::from_ref(&event)).await {
            Ok(()) => {
                counters.written.fetch_add(1, Ordering::Relaxed);
                counters.batches.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                refused += 1;
                tracing::error!(error = %err, account_id = event.account_id, "usage event refused by the database; dropping it");
            }
        }
    }
    counters.dropped.fetch_add(refused, Ordering::Relaxed);
}

/// Text as PostgreSQL stores it, for the event row and its roll-up alike: it refuses NUL in text
/// columns (a model name or an upstream error code may carry one), which would fail the whole
/// batch. Done once per event in the writer, off the request path.
fn make_storable(event: &mut UsageEvent) {
    let texts = [&mut event.provider, &mut event.model].into_iter().chain(
        [
            &mut event.error_code,
            &mut event.tier,
            &mut event.baseline_model,
            &mut event.route_reason,
        ]
        .into_iter()
        .flatten(),
    );
    for text in texts {
        if text.contains('\0') {
            *text = text.replace('\0', "\u{FFFD}");
        }
    }
}

async fn write_batch(db: &DatabaseConnection, batch: &[UsageEvent]) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    for chunk in fixed_chunks(batch) {
        rows::insert_events(&txn, chunk).await?;
    }
    rollup::add_to_rollups(&txn, batch).await?;
    // "Last used" of each key rides along with the batch instead of costing a write per request.
    let mut last_used: HashMap<i32, i64> = HashMap::new();
    for event in batch.iter().filter(|event| event.key_accepted) {
        let seen = last_used.entry(event.key_id).or_default();
        *seen = (*seen).max(event.created_at_ms);
    }
    for (key_id, used_at) in last_used {
        gateway_key::Entity::update_many()
            .col_expr(gateway_key::Column::LastUsedAt, Expr::value(used_at))
            .filter(gateway_key::Column::Id.eq(key_id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::usage_event;
    use migrations::{Migrator, MigratorTrait};
    use sea_orm::{ConnectionTrait, Database, PaginatorTrait};

    fn event(n: u32) -> UsageEvent {
        UsageEvent {
            account_id: 1,
            key_id: 1,
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            prompt_tokens: n,
            completion_tokens: 1,
            latency_ms: 10,
            upstream_ms: Some(8),
            first_byte_ms: None,
            status: 200,
            error_code: None,
            created_at_ms: crate::clock::now_ms(),
            tier: None,
            baseline_model: None,
            cost_usd: 0.0,
            saving_usd: 0.0,
            counted: true,
            cache_hit: false,
            route_reason: None,
            routed: false,
            priced: true,
            baseline_cost_usd: None,
            key_accepted: true,
            request_id: RequestId(i64::from(n)),
        }
    }

    /// A SQLite file with no schema yet, in a directory that lives as long as the returned guard.
    async fn empty_sqlite() -> (sea_orm::DatabaseConnection, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("usage.db").display()
        );
        (Database::connect(url).await.unwrap(), dir)
    }

    /// [`empty_sqlite`] migrated, with one account (id 1).
    async fn sqlite_with_an_account() -> (sea_orm::DatabaseConnection, tempfile::TempDir) {
        let (db, dir) = empty_sqlite().await;
        Migrator::up(&db, None).await.unwrap();
        db.execute_unprepared("INSERT INTO accounts (email, password_hash, plan, created_at, updated_at) VALUES ('a@example.com', 'x', 'pro', 0, 0)")
            .await
            .unwrap();
        (db, dir)
    }

    #[test]
    fn batches_of_any_size_are_cut_into_a_few_fixed_shapes() {
        let mut shapes = std::collections::HashSet::new();
        for len in 0..=600usize {
            let items: Vec<usize> = (0..len).collect();
            let chunks: Vec<&[usize]> = fixed_chunks(&items).collect();
            assert_eq!(chunks.concat(), items, "every item once, in order");
            shapes.extend(chunks.iter().map(|chunk| chunk.len()));
        }
        let mut shapes: Vec<_> = shapes.into_iter().collect();
        shapes.sort_unstable();
        assert_eq!(shapes, [1, 4, 16, 64, 256]);
    }

    #[tokio::test]
    async fn events_are_written_in_batches_within_the_flush_interval() {
        let (db, _dir) = sqlite_with_an_account().await;
        let settings = UsageSettings {
            queue_capacity: 10_000,
            batch_size: 500,
            flush_interval: Duration::from_millis(300),
        };
        let (recorder, writer) = UsageRecorder::start(db.clone(), settings);

        for n in 0..1200 {
            recorder.record(event(n));
        }
        recorder.flush().await;
        let counters = recorder.counters();
        assert_eq!(counters.written.load(Ordering::Relaxed), 1200);
        assert_eq!(
            counters.batches.load(Ordering::Relaxed),
            3,
            "500 + 500 + 200"
        );
        assert_eq!(usage_event::Entity::find().count(&db).await.unwrap(), 1200);

        // A lone event is written once the flush interval has passed, without anyone asking.
        recorder.record(event(7));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            counters.written.load(Ordering::Relaxed),
            1200,
            "not before the interval"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while counters.written.load(Ordering::Relaxed) < 1201
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(counters.written.load(Ordering::Relaxed), 1201);

        // Shutdown writes what is still queued.
        recorder.record(event(8));
        writer.shutdown(&recorder).await;
        assert_eq!(usage_event::Entity::find().count(&db).await.unwrap(), 1202);
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (db, _dir) = empty_sqlite().await;
        // No schema: every write fails, and the writer is slow to give up, so the queue fills.
        let settings = UsageSettings {
            queue_capacity: 10,
            batch_size: 5,
            flush_interval: Duration::from_millis(50),
        };
        let (recorder, _writer) = UsageRecorder::start(db, settings);
        // `record` is synchronous: it cannot wait for the writer; what does not fit is dropped.
        for n in 0..100 {
            recorder.record(event(n));
        }
        let counters = recorder.counters();
        assert_eq!(counters.recorded.load(Ordering::Relaxed), 100);
        assert!(
            counters.dropped.load(Ordering::Relaxed) >= 80,
            "{}",
            counters.dropped.load(Ordering::Relaxed)
        );
    }

    /// Every field lands in its own column: each has a value no other field of its type has.
    #[tokio::test]
    async fn an_event_reads_back_as_written() {
        let (db, _dir) = sqlite_with_an_account().await;
        let event = UsageEvent {
            account_id: 1,
            key_id: 2,
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            prompt_tokens: 3,
            completion_tokens: 4,
            latency_ms: 5,
            upstream_ms: Some(6),
            first_byte_ms: Some(7),
            status: 429,
            error_code: Some("rate_limited".into()),
            created_at_ms: 8,
            tier: Some("cheap".into()),
            baseline_model: Some("gpt-4o".into()),
            cost_usd: 0.25,
            saving_usd: 0.5,
            counted: true,
            cache_hit: false,
            route_reason: Some("short prompt".into()),
            routed: true,
            priced: false,
            baseline_cost_usd: Some(0.75),
            key_accepted: true,
            request_id: RequestId(9),
        };
        // The second row's flags differ so that no two flag columns hold the same pair.
        let second = UsageEvent {
            cache_hit: true,
            routed: false,
            ..event.clone()
        };
        rows::insert_events(&db, &[event, second]).await.unwrap();
        let rows = usage_event::Entity::find().all(&db).await.unwrap();
        assert_eq!(rows.len(), 2);
        let expected = usage_event::Model {
            id: rows[0].id,
            account_id: 1,
            key_id: Some(2),
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            prompt_tokens: 3,
            completion_tokens: 4,
            latency_ms: 5,
            upstream_ms: Some(6),
            first_byte_ms: Some(7),
            status: 429,
            error_code: Some("rate_limited".into()),
            created_at: 8,
            tier: Some("cheap".into()),
            baseline_model: Some("gpt-4o".into()),
            cost_usd: 0.25,
            saving_usd: 0.5,
            routed: true,
            priced: false,
            baseline_cost_usd: Some(0.75),
            counted: true,
            cache_hit: false,
            route_reason: Some("short prompt".into()),
            request_id: Some(9),
        };
        assert_eq!(rows[0], expected);
        let second = usage_event::Model {
            id: rows[1].id,
            cache_hit: true,
            routed: false,
            ..expected
        };
        assert_eq!(rows[1], second);
    }
}
