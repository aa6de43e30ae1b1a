//! What reaches the disk: never the prompt, the completion or a provider key in clear.

use serde_json::json;

use crate::helpers::{Backend, TestDatabase, spawn_app};

#[tokio::test]
async fn database_files_hold_no_prompt_and_no_provider_key() {
    let app = spawn_app(Backend::Sqlite).await;
    let prompt = "MY-SECRET-PROMPT-c0ffee-do-not-store";
    let request =
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]});

    // One account whose provider key the fake refuses (a 401 is recorded like any request) ...
    let provider_key = "sk-live-UNIQUEPROVIDERKEY-7f3a9c";
    let ada = app.create_account("ada@example.com").await;
    app.add_openai(ada, provider_key).await;
    let ada_key = app.create_key(ada).await;
    assert_eq!(app.chat(Some(&ada_key), &request).await.status(), 401);
    let sent = app.fake_openai.requests();
    assert_eq!(
        sent[0].authorization(),
        Some(format!("Bearer {provider_key}").as_str())
    );

    // ... and one that gets a completion.
    let bob = app.tenant("bob@example.com").await;
    assert_eq!(app.chat(Some(&bob.key), &request).await.status(), 200);
    app.flush_usage().await;

    let dir = app.database.sqlite_dir().unwrap().to_path_buf();
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let contains = |needle: &str| {
        bytes
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    };
    // The scan can fail: emails and model names are stored in clear, and are found.
    assert!(
        contains("bob@example.com") && contains("gpt-4o-mini"),
        "the scan reads the database files"
    );
    assert!(!contains(prompt), "prompt text reached the database");
    assert!(
        !contains("Hello from the fake OpenAI server."),
        "completion text reached the database"
    );
    assert!(
        !contains(provider_key),
        "a provider key reached the database in clear"
    );
    assert!(
        !contains(&bob.key),
        "a gateway key reached the database in clear"
    );
    assert!(
        !contains(&ada_key[3..]),
        "a gateway key reached the database in clear"
    );
}

/// Provider keys are sealed with the master key: losing `master.key` must stop the start with a
/// clear message, never make a new key that leaves every stored provider key unreadable, and a
/// wrong `GATEWAY_MASTER_KEY` must be refused before it serves a request.
#[tokio::test]
async fn a_lost_or_wrong_master_key_stops_the_start_instead_of_orphaning_provider_keys() {
    let app = spawn_app(Backend::Sqlite).await;
    let ada = app.create_account("ada@example.com").await;
    app.add_openai(ada, "sk-live-sealed-0123456789").await;
    let addr = "127.0.0.1:0".parse().unwrap();
    let start = |config: server::config::Config| async move {
        match server::app::build(&config, addr).await {
            Ok(application) => {
                application.tasks.shutdown(&application.state).await;
                Ok(())
            }
            Err(err) => Err(format!("{err:#}")),
        }
    };

    let key_file = app.config.gateway_data_dir.join("master.key");
    let original = std::fs::read_to_string(&key_file).expect("the first start wrote the key");
    std::fs::remove_file(&key_file).unwrap();
    let refused = start(app.config.clone()).await.unwrap_err();
    assert!(
        refused.contains("master.key is missing") && refused.contains("1 provider key"),
        "{refused}"
    );
    assert!(!key_file.exists(), "no new master key was generated");

    let mut wrong = app.config.clone();
    wrong.gateway_master_key = Some(gateway::crypto::MasterKey::generate_base64());
    let refused = start(wrong).await.unwrap_err();
    assert!(
        refused.contains("GATEWAY_MASTER_KEY does not open the provider keys"),
        "{refused}"
    );

    std::fs::write(&key_file, original).unwrap();
    start(app.config.clone())
        .await
        .expect("the restored key opens the stored provider keys");
}

/// SQLite in write-ahead-log mode with a pool: a long read (an export, the dashboard) holds one
/// connection and its snapshot while writes go on. On a single connection the write would wait
/// for the read to end, here for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_long_read_does_not_hold_up_writes() {
    use gateway::sea_orm::{ConnectionTrait, Statement, TransactionTrait};
    let app = spawn_app(Backend::Sqlite).await;
    let db = &app.state.db;
    let mode = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "PRAGMA journal_mode",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mode.try_get_by_index::<String>(0).unwrap(), "wal");

    let reading = db.begin().await.unwrap();
    reading
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM usage_events",
        ))
        .await
        .unwrap();
    let written = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        app.create_account("writer@example.com"),
    )
    .await;
    assert!(written.is_ok(), "a write waited on an open read");
    reading.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_starting_together_on_an_empty_postgres_take_turns_migrating() {
    for _ in 0..3 {
        let (_database, url) = TestDatabase::create(Backend::Postgres).await;
        let config = server::config::Config {
            database_url: url,
            ..Default::default()
        };
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let config = config.clone();
                tokio::spawn(async move { server::app::connect_database(&config).await })
            })
            .collect();
        for start in starts {
            let db = start
                .await
                .unwrap()
                .unwrap_or_else(|err| panic!("a server died migrating: {err:#}"));
            db.close().await.ok();
        }
    }
}
