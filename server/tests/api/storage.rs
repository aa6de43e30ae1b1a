//! What reaches the disk: never the prompt, the completion or a provider key in clear.

use serde_json::json;

use crate::helpers::{Backend, spawn_app};

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
