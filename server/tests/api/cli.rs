//! The admin CLI as self-hosters and scripts use it: stable output, one-line errors.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, eventually, hello, spawn_app};

struct Cli {
    database_url: String,
    data_dir: std::path::PathBuf,
}

impl Cli {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.run_with_master_key(None, args, stdin)
    }

    /// Runs with `GATEWAY_MASTER_KEY` set (else from the data folder's file).
    fn run_with_master_key(
        &self,
        master_key: Option<&str>,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_llm-gateway"));
        match master_key {
            Some(key) => command.env("GATEWAY_MASTER_KEY", key),
            None => command.env_remove("GATEWAY_MASTER_KEY"),
        };
        let mut child = command
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("GATEWAY_DATA_DIR", &self.data_dir)
            .env_remove("GATEWAY_CONFIG")
            .env_remove("ALLOWED_PRIVATE_UPSTREAMS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let output = self.run(args, stdin);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// A failure prints exactly one line on stderr and exits non-zero.
    fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let output = self.run(args, stdin);
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "one-line error expected, got: {stderr}"
        );
        stderr
    }
}

fn cli_on_fresh_sqlite() -> (Cli, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli {
        database_url: format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("gateway.db").display()
        ),
        data_dir: dir.path().join("data"),
    };
    (cli, dir)
}

#[test]
fn users_keys_and_providers_from_the_command_line() {
    let (cli, _dir) = cli_on_fresh_sqlite();
    assert_eq!(cli.ok(&["migrate"], None).trim(), "database is up to date");
    cli.ok(
        &[
            "user",
            "create",
            "--email",
            "ada@example.com",
            "--plan",
            "pro",
        ],
        Some(&format!("{PASSWORD}\n")),
    );

    let shown: Value = serde_json::from_str(&cli.ok(
        &["user", "show", "--email", "ada@example.com", "--json"],
        None,
    ))
    .unwrap();
    assert_eq!(shown["email"], "ada@example.com");
    assert_eq!(shown["plan"], "pro");
    assert!(shown["id"].as_i64().is_some());

    let key = cli.ok(
        &[
            "key",
            "create",
            "--email",
            "ada@example.com",
            "--name",
            "ci",
        ],
        None,
    );
    let key = key.strip_suffix('\n').expect("one line");
    assert!(
        gateway::crypto::looks_like_gateway_key(key),
        "stdout holds only the key: {key:?}"
    );
    let second = cli.ok(&["key", "create", "--email", "ada@example.com"], None);

    let ambiguous = cli.fails(
        &[
            "key",
            "revoke",
            "--email",
            "ada@example.com",
            "--key-prefix",
            "gw_",
        ],
        None,
    );
    assert!(ambiguous.contains("matches 2 keys"), "{ambiguous}");
    // A multi-byte character at the cut is a key that is not there, not a panic.
    let not_there = cli.fails(
        &[
            "key",
            "revoke",
            "--email",
            "ada@example.com",
            "--key-prefix",
            "gw_abcdefgé",
        ],
        None,
    );
    assert!(not_there.contains("no such key"), "{not_there}");
    let revoked = cli.ok(
        &[
            "key",
            "revoke",
            "--email",
            "ada@example.com",
            "--key-prefix",
            &key[..10],
        ],
        None,
    );
    assert!(revoked.starts_with("revoked key"));
    // The other key is now the only active one: "gw_" is unambiguous.
    cli.ok(
        &[
            "key",
            "revoke",
            "--email",
            "ada@example.com",
            "--key-prefix",
            &second[..5],
        ],
        None,
    );
    cli.fails(
        &[
            "key",
            "revoke",
            "--email",
            "ada@example.com",
            "--key-prefix",
            &key[..10],
        ],
        None,
    );

    let add_openai_at = |base_url: &str| {
        [
            "provider",
            "add",
            "--email",
            "ada@example.com",
            "--provider",
            "openai",
            "--base-url",
        ]
        .into_iter()
        .chain([base_url])
        .map(str::to_owned)
        .collect::<Vec<_>>()
    };
    let args = add_openai_at("https://93.184.216.34/v1");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let added = cli.ok(&args, Some("sk-cli-provider-key-123456\n"));
    assert!(
        added.contains("openai") && !added.contains("sk-cli-provider-key-123456"),
        "{added}"
    );
    // The SSRF guard: this machine's own addresses and the cloud metadata service are refused
    // unless the operator allows them (ALLOWED_PRIVATE_UPSTREAMS, unset here).
    for (inside, says) in [
        ("http://93.184.216.34/v1", "must start with https://"),
        ("http://127.0.0.1:9/v1", "127.0.0.1 is a loopback address"),
        ("https://127.0.0.1:9/v1", "127.0.0.1 is a loopback address"),
        (
            "https://169.254.169.254/latest/meta-data",
            "169.254.169.254 is a link-local (cloud metadata) address",
        ),
        (
            "https://[::ffff:10.0.0.8]/v1",
            "::ffff:10.0.0.8 is a private address",
        ),
    ] {
        let args = add_openai_at(inside);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let refused = cli.fails(&args, Some("sk-cli-provider-key-123456\n"));
        assert!(
            refused.contains(says) && refused.contains("ALLOWED_PRIVATE_UPSTREAMS"),
            "{inside}: {refused}"
        );
    }
    // Ollama runs without a key; every other provider needs one.
    cli.ok(
        &[
            "provider",
            "add",
            "--email",
            "ada@example.com",
            "--provider",
            "ollama",
        ],
        Some(""),
    );
    let missing = cli.fails(
        &[
            "provider",
            "add",
            "--email",
            "ada@example.com",
            "--provider",
            "anthropic",
        ],
        Some(""),
    );
    assert!(missing.contains("expected the API key"), "{missing}");
    cli.ok(
        &[
            "provider",
            "add",
            "--email",
            "ada@example.com",
            "--provider",
            "gemini",
        ],
        Some("AIza-test-key-123456\n"),
    );
    let shown: Value = serde_json::from_str(&cli.ok(
        &["user", "show", "--email", "ada@example.com", "--json"],
        None,
    ))
    .unwrap();
    assert_eq!(
        shown["providers"],
        serde_json::json!(["openai", "ollama", "gemini"])
    );

    // The master key was generated into the data folder, readable by its owner only.
    let master = cli.data_dir.join("master.key");
    assert!(master.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&master).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[test]
fn bad_input_gives_one_line_errors() {
    let (cli, _dir) = cli_on_fresh_sqlite();
    let unknown = cli.fails(
        &["user", "show", "--email", "nobody@example.com", "--json"],
        None,
    );
    assert!(
        unknown.contains("no account with email nobody@example.com"),
        "{unknown}"
    );
    cli.fails(&["key", "create", "--email", "nobody@example.com"], None);
    let weak = cli.fails(
        &["user", "create", "--email", "ada@example.com"],
        Some("short\n"),
    );
    assert!(weak.contains("at least 10 characters"), "{weak}");
    cli.fails(&["user", "create", "--email", "ada@example.com"], Some(""));
    cli.ok(
        &["user", "create", "--email", "ada@example.com"],
        Some(PASSWORD),
    );
    let taken = cli.fails(
        &["user", "create", "--email", "ada@example.com"],
        Some(PASSWORD),
    );
    assert!(taken.contains("already exists"), "{taken}");
    let provider = cli.fails(
        &[
            "provider",
            "add",
            "--email",
            "ada@example.com",
            "--provider",
            "acme",
        ],
        Some("sk-x\n"),
    );
    assert!(provider.contains("Unknown provider"), "{provider}");
    let output = cli.run(
        &[
            "user",
            "create",
            "--plan",
            "platinum",
            "--email",
            "x@example.com",
        ],
        None,
    );
    assert!(!output.status.success());
    let output = cli.run(&["no-such-command"], None);
    assert!(!output.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_by_the_cli_stops_working_on_a_running_server() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = app.tenant("ada@example.com").await;
    assert_eq!(app.chat(Some(&tenant.key), &hello()).await.status(), 200);
    let cli = Cli {
        database_url: app.config.database_url.clone(),
        data_dir: app.data_dir.path().to_path_buf(),
    };
    let prefix = tenant.key[..14].to_owned();
    let output = tokio::task::spawn_blocking(move || {
        cli.ok(
            &[
                "key",
                "revoke",
                "--email",
                "ada@example.com",
                "--key-prefix",
                &prefix,
            ],
            None,
        )
    })
    .await
    .unwrap();
    assert!(output.starts_with("revoked key"));
    let refused = eventually(Duration::from_secs(5), || async {
        app.chat(Some(&tenant.key), &hello()).await.status() == 401
    })
    .await;
    assert!(refused);
}

/// The operator's member commands: invite (printing the link), list, change a role, remove, and
/// the removed member's keys stop working on the running server.
#[tokio::test]
async fn members_from_the_command_line() {
    let app = spawn_app(Backend::Sqlite).await;
    let tenant = app.tenant("owner@example.com").await;
    let cli = std::sync::Arc::new(Cli {
        database_url: app.config.database_url.clone(),
        data_dir: app.data_dir.path().to_path_buf(),
    });
    let run = |args: &'static [&'static str]| {
        let cli = cli.clone();
        async move {
            tokio::task::spawn_blocking(move || cli.ok(args, None))
                .await
                .unwrap()
        }
    };
    let link = run(&[
        "member",
        "invite",
        "--email",
        "owner@example.com",
        "--invitee",
        "Bob@Example.com",
        "--role",
        "admin",
    ])
    .await;
    // The CLI's own configuration names the public address; here the default listen address.
    let token = link
        .trim()
        .strip_prefix("http://127.0.0.1:3000/invite?token=")
        .unwrap_or_else(|| panic!("a link to /invite: {link}"))
        .to_owned();
    let db = &app.state.db;
    let bob = gateway::accounts::members::accept_invitation(
        db,
        &token,
        PASSWORD,
        gateway::mail::Lang::En,
    )
    .await
    .unwrap();
    let bobs_key = gateway::accounts::create_member_key(
        db,
        &app.state.settings.plans,
        tenant.account_id,
        Some(bob.id),
        "bob's",
    )
    .await
    .unwrap()
    .secret;
    assert_eq!(app.chat(Some(&bobs_key), &hello()).await.status(), 200);

    let listed = run(&["member", "list", "--email", "owner@example.com"]).await;
    assert_eq!(
        listed,
        format!(
            "owner   owner@example.com 0\nadmin   bob@example.com {}\n",
            bob.id
        )
    );
    let changed = run(&[
        "member",
        "set-role",
        "--email",
        "owner@example.com",
        "--member",
        "bob@example.com",
        "--role",
        "viewer",
    ])
    .await;
    assert_eq!(changed, "bob@example.com is now viewer\n");
    let json: Value = serde_json::from_str(
        &run(&["member", "list", "--email", "owner@example.com", "--json"]).await,
    )
    .unwrap();
    assert_eq!(json[1]["role"], "viewer");

    // An address that already has a login is refused, in one line.
    let refused = {
        let cli = cli.clone();
        tokio::task::spawn_blocking(move || {
            cli.fails(
                &[
                    "member",
                    "invite",
                    "--email",
                    "owner@example.com",
                    "--invitee",
                    "bob@example.com",
                ],
                None,
            )
        })
        .await
        .unwrap()
    };
    assert!(
        refused.contains("already has an LLM Gateway login"),
        "{refused}"
    );

    let removed = run(&[
        "member",
        "remove",
        "--email",
        "owner@example.com",
        "--member",
        "bob@example.com",
    ])
    .await;
    assert_eq!(
        removed,
        "removed bob@example.com and revoked 1 of their keys\n"
    );
    let refused = eventually(Duration::from_secs(5), || async {
        app.chat(Some(&bobs_key), &hello()).await.status() == 401
    })
    .await;
    assert!(refused, "the removed member's key stops working");
    assert_eq!(app.chat(Some(&tenant.key), &hello()).await.status(), 200);
}

/// `route verify` reads the cheap model's answers and says, in input order, which to escalate and
/// why; `route eval --answers` scores the cascade on labelled rows and their answers.
#[test]
fn route_verify_explains_each_escalation_and_eval_scores_the_cascade() {
    let (cli, dir) = cli_on_fresh_sqlite();
    let question = "Tom has 3 apples and buys 4 more. How many?";
    let answers = [
        ("right", "3 + 4 = 7\n#### 7"),
        ("slip", "3 + 4 = 8\n#### 8"),
        ("cut", "Tom has 3 + 4"),
    ];
    let input: Vec<String> = answers
        .iter()
        .map(|(id, answer)| {
            serde_json::json!({"id": id, "messages": [{"role": "user", "content": question}], "answer": answer}).to_string()
        })
        .collect();
    let output = cli.ok(&["route", "verify"], Some(&input.join("\n")));
    let lines: Vec<Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let ids: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["right", "slip", "cut"]);
    let escalate: Vec<bool> = lines
        .iter()
        .map(|l| l["escalate"].as_bool().unwrap())
        .collect();
    assert_eq!(escalate, [false, true, true]);
    assert_eq!(lines[0]["checks"], serde_json::json!([]));
    assert_eq!(lines[1]["checks"][0]["check"], "math");
    assert!(
        lines[1]["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("3 + 4 = 8"),
        "{output}"
    );
    assert_eq!(lines[2]["checks"][0]["detail"], "no final answer");
    for line in &lines {
        let score = line["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score), "{line}");
    }
    assert!(lines[1]["score"].as_f64() > lines[0]["score"].as_f64());
    cli.fails(
        &["route", "verify"],
        Some("{\"id\": 1, \"messages\": []}\n"),
    );

    // Labelled rows with answers: the cascade's table.
    let rows: Vec<String> = (0..20)
        .map(|i| serde_json::json!({"id": format!("m{i}"), "source": "maths", "messages": [{"role": "user", "content": question}], "weak_ok": i % 2 == 0}).to_string())
        .collect();
    let answers: Vec<String> = (0..20)
        .map(|i| {
            let answer = if i % 2 == 0 {
                "3 + 4 = 7\n#### 7"
            } else {
                "3 + 4 = 9\n#### 9"
            };
            serde_json::json!({"id": format!("m{i}"), "weak_answer": answer}).to_string()
        })
        .collect();
    let data = dir.path().join("maths.jsonl");
    let answers_file = dir.path().join("answers.jsonl");
    std::fs::write(&data, rows.join("\n")).unwrap();
    std::fs::write(&answers_file, answers.join("\n")).unwrap();
    let report = cli.ok(
        &[
            "route",
            "eval",
            "--data",
            data.to_str().unwrap(),
            "--answers",
            answers_file.to_str().unwrap(),
        ],
        None,
    );
    // The cascade's row comes after the prompt router's.
    let cascade = report
        .lines()
        .filter(|line| line.starts_with("maths "))
        .last()
        .unwrap_or_else(|| panic!("{report}"));
    // Every wrong answer fails its check: the cascade finds them all (APGR of a perfect order).
    let apgr: f64 = cascade.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!(apgr > 0.7, "{report}");
    assert!(
        cascade.ends_with("100.0%"),
        "every request adequately served: {report}"
    );
    assert!(
        report.contains("needs the strong model, by score bin"),
        "{report}"
    );
}

#[test]
fn route_classify_keeps_input_order_and_eval_reports_metrics() {
    let (cli, dir) = cli_on_fresh_sqlite();
    let input = [
        r#"{"id": "first", "messages": [{"role": "user", "content": "hi"}]}"#,
        r#"{"id": 2, "messages": [{"role": "user", "content": "Prove that there are infinitely many primes, step by step."}], "max_tokens": 2000}"#,
        r#"{"id": "third", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}]}"#,
    ]
    .join("\n");
    let output = cli.ok(&["route", "classify"], Some(&input));
    let lines: Vec<Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        lines.iter().map(|l| l["id"].clone()).collect::<Vec<_>>(),
        vec![
            serde_json::json!("first"),
            serde_json::json!(2),
            serde_json::json!("third")
        ]
    );
    for line in &lines {
        let score = line["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score), "{line}");
        assert!(
            ["cheap", "standard", "strong"].contains(&line["tier"].as_str().unwrap()),
            "{line}"
        );
        assert!(
            line["reason"].as_str().unwrap().starts_with("difficulty"),
            "{line}"
        );
    }
    cli.fails(&["route", "classify"], Some("{\"id\": 1}\n"));

    // A tiny labelled set: eval prints per-source and macro rows.
    let rows: Vec<String> = (0..20)
        .map(|i| {
            let (text, weak_ok) = if i % 4 == 0 { (format!("Prove theorem {i} rigorously"), false) } else { (format!("Say hi to {i}"), true) };
            serde_json::json!({"id": format!("t{i}"), "source": "toy", "messages": [{"role": "user", "content": text}], "weak_ok": weak_ok}).to_string()
        })
        .collect();
    let data = dir.path().join("toy.jsonl");
    std::fs::write(&data, rows.join("\n")).unwrap();
    let report = cli.ok(&["route", "eval", "--data", data.to_str().unwrap()], None);
    assert!(
        report.contains("toy") && report.contains("macro") && report.contains("APGR"),
        "{report}"
    );
    assert!(
        report.starts_with("semantic classifier, 5-fold cross-validated on 20 measured prompts")
            && report.contains("near-duplicate groups")
            && report.contains("calibrated thresholds: strong >="),
        "{report}"
    );
    let header = report.lines().nth(1).unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        [
            "source",
            "n",
            "weak_ok",
            "APGR",
            "CPT80",
            "strong@95",
            "saving@95"
        ]
    );
    let surface = cli.ok(
        &[
            "route",
            "eval",
            "--classifier",
            "surface",
            "--folds",
            "4",
            "--data",
            data.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        surface.starts_with("surface classifier, 4-fold"),
        "{surface}"
    );

    // `route train` writes a model that loads, and the same data give the same bytes.
    let model_dir = dir.path().join("model");
    std::fs::create_dir(&model_dir).unwrap();
    std::fs::copy(
        gateway::routing::semantic::default_model_dir().join("embeddings.bin"),
        model_dir.join("embeddings.bin"),
    )
    .unwrap();
    let train = |out: &str| {
        cli.ok(
            &[
                "route",
                "train",
                "--data",
                data.to_str().unwrap(),
                "--model-dir",
                model_dir.to_str().unwrap(),
            ],
            None,
        );
        let head = std::fs::read(model_dir.join("semantic.json")).unwrap();
        std::fs::rename(model_dir.join("semantic.json"), model_dir.join(out)).unwrap();
        head
    };
    let first = train("first.json");
    let second = train("second.json");
    assert_eq!(first, second, "training is deterministic");
    std::fs::rename(
        model_dir.join("first.json"),
        model_dir.join("semantic.json"),
    )
    .unwrap();
    gateway::routing::semantic::SemanticModel::load(&model_dir).expect("the trained model loads");
    let classified = cli.ok(
        &[
            "route",
            "classify",
            "--model-dir",
            model_dir.to_str().unwrap(),
        ],
        Some(
            r#"{"id": 1, "messages": [{"role": "user", "content": "Prove theorem 3 rigorously"}]}"#,
        ),
    );
    assert!(classified.contains("topic"), "{classified}");

    // Published outcomes (`--extra`): multiple-choice rows become the outcome memory, written
    // beside the head, which names it; a model without it, or with another, does not load.
    let extra_rows: Vec<String> = (0..30)
        .map(|i| {
            let (topic, weak_ok) = if i % 3 == 0 { ("abstract algebra field extension", false) } else { ("the capital city of a country", true) };
            serde_json::json!({"id": format!("x{i}"), "source": "toy", "messages": [{"role": "user", "content": format!("Question {i} about {topic}?\nA. one\nB. two\nC. three\nD. four\nAnswer:")}], "weak_ok": weak_ok}).to_string()
        })
        .collect();
    let extra = dir.path().join("extra.jsonl");
    std::fs::write(&extra, extra_rows.join("\n")).unwrap();
    let with_extra = |model_dir: &std::path::Path| {
        cli.ok(
            &[
                "route",
                "train",
                "--data",
                data.to_str().unwrap(),
                "--extra",
                extra.to_str().unwrap(),
                "--model-dir",
                model_dir.to_str().unwrap(),
            ],
            None,
        )
    };
    let trained = with_extra(&model_dir);
    assert!(trained.contains("the outcome memory: 30 rows"), "{trained}");
    let memory = std::fs::read(model_dir.join("neighbours.bin")).unwrap();
    with_extra(&model_dir);
    assert_eq!(
        memory,
        std::fs::read(model_dir.join("neighbours.bin")).unwrap(),
        "the memory is deterministic too"
    );
    let model = gateway::routing::semantic::SemanticModel::load(&model_dir)
        .expect("the model with its memory loads");
    assert!(model.head.neighbours.is_some() && model.neighbours.is_some());
    // Another memory (trained on fewer published outcomes) under this head: refused.
    std::fs::write(&extra, extra_rows[..20].join("\n")).unwrap();
    with_extra(&model_dir);
    std::fs::write(model_dir.join("neighbours.bin"), &memory).unwrap();
    let other = gateway::routing::semantic::SemanticModel::load(&model_dir).err();
    assert!(
        matches!(
            other,
            Some(gateway::routing::semantic::ModelError::Mismatch { .. })
        ),
        "{other:?}"
    );
    std::fs::write(&extra, extra_rows.join("\n")).unwrap();
    std::fs::remove_file(model_dir.join("neighbours.bin")).unwrap();
    let missing = gateway::routing::semantic::SemanticModel::load(&model_dir).err();
    assert!(
        matches!(
            missing,
            Some(gateway::routing::semantic::ModelError::Missing(_))
        ),
        "{missing:?}"
    );
    let scored = cli.ok(
        &[
            "route",
            "eval",
            "--data",
            data.to_str().unwrap(),
            "--extra",
            extra.to_str().unwrap(),
            "--extra-only",
        ],
        None,
    );
    assert!(
        scored.starts_with("semantic classifier trained on the 30 extra rows only, with their outcome memory (30 rows"),
        "{scored}"
    );
    // Trained again without published outcomes: the stale memory goes, and the model loads.
    with_extra(&model_dir);
    train("third.json");
    std::fs::rename(
        model_dir.join("third.json"),
        model_dir.join("semantic.json"),
    )
    .unwrap();
    assert!(!model_dir.join("neighbours.bin").exists());
    let plain = gateway::routing::semantic::SemanticModel::load(&model_dir).unwrap();
    assert!(plain.head.neighbours.is_none() && plain.neighbours.is_none());
}

#[test]
fn plans_limits_and_routing_policies_from_the_command_line() {
    let (cli, _dir) = cli_on_fresh_sqlite();
    let email = "plans@example.com";
    cli.ok(
        &["user", "create", "--email", email],
        Some(&format!("{PASSWORD}\n")),
    );
    cli.ok(&["key", "create", "--email", email], None);
    cli.ok(&["key", "create", "--email", email], None);
    let refused = cli.fails(&["key", "create", "--email", email], None);
    assert!(
        refused.contains("Free plan includes 2 gateway keys"),
        "{refused}"
    );
    for provider in ["openai", "anthropic"] {
        cli.ok(
            &["provider", "add", "--email", email, "--provider", provider],
            Some("sk-cli-provider-key\n"),
        );
    }
    let refused = cli.fails(
        &["provider", "add", "--email", email, "--provider", "groq"],
        Some("gsk-key\n"),
    );
    assert!(
        refused.contains("Free plan includes 2 providers"),
        "{refused}"
    );

    assert_eq!(
        cli.ok(
            &["user", "set-plan", "--email", email, "--plan", "pro"],
            None
        )
        .trim(),
        "plan of plans@example.com set to pro"
    );
    let shown: Value =
        serde_json::from_str(&cli.ok(&["user", "show", "--email", email, "--json"], None)).unwrap();
    assert_eq!(shown["plan"], "pro");
    let third = cli.ok(
        &["key", "create", "--email", email, "--name", "third"],
        None,
    );
    assert!(third.trim().starts_with("gw_"));
    // Clap explains an unknown plan (with the possible values) and exits non-zero.
    assert!(
        !cli.run(
            &["user", "set-plan", "--email", email, "--plan", "platinum"],
            None
        )
        .status
        .success()
    );

    // Routing policies: the account's, then one key's; invalid ones are refused with the reason.
    let policy = r#"{"max_tier":"standard","rules":[{"when":"tools","at_least":"standard"}]}"#;
    cli.ok(
        &["routing", "set", "--email", email, "--json", policy],
        None,
    );
    assert_eq!(
        cli.ok(&["routing", "show", "--email", email], None).trim(),
        policy
    );
    let prefix = &third.trim()[..12];
    cli.ok(
        &[
            "routing",
            "set",
            "--email",
            email,
            "--key-prefix",
            prefix,
            "--json",
            r#"{"forced_model":"gpt-4o-mini"}"#,
        ],
        None,
    );
    assert_eq!(
        cli.ok(
            &["routing", "show", "--email", email, "--key-prefix", prefix],
            None
        )
        .trim(),
        r#"{"forced_model":"gpt-4o-mini"}"#
    );
    let bad = cli.fails(
        &[
            "routing",
            "set",
            "--email",
            email,
            "--json",
            r#"{"providers":["azure"]}"#,
        ],
        None,
    );
    assert!(bad.contains("unknown provider 'azure'"), "{bad}");
    cli.ok(&["routing", "set", "--email", email, "--clear"], None);
    assert_eq!(
        cli.ok(&["routing", "show", "--email", email], None).trim(),
        "{}"
    );
}

#[tokio::test]
async fn usage_export_is_clamped_to_the_plans_retention() {
    use gateway::sea_orm::{ActiveModelTrait, Database, Set};
    let (cli, _dir) = cli_on_fresh_sqlite();
    let email = "export@example.com";
    cli.ok(
        &["user", "create", "--email", email],
        Some(&format!("{PASSWORD}\n")),
    );
    let db = Database::connect(&cli.database_url).await.unwrap();
    let account = gateway::accounts::account_by_email(&db, email)
        .await
        .unwrap();
    let now = gateway::clock::now_ms();
    for (days_ago, model) in [(1, "gpt-4o-mini"), (10, "gpt-4o")] {
        gateway::entities::usage_event::ActiveModel {
            account_id: Set(account.id),
            key_id: Set(None),
            provider: Set("openai".into()),
            model: Set(model.into()),
            prompt_tokens: Set(12),
            completion_tokens: Set(3),
            latency_ms: Set(42),
            status: Set(200),
            error_code: Set(None),
            created_at: Set(now - days_ago * 86_400_000),
            tier: Set(Some("cheap".into())),
            baseline_model: Set(Some("openai/gpt-4o".into())),
            cost_usd: Set(0.001),
            saving_usd: Set(0.002),
            routed: Set(true),
            baseline_cost_usd: Set(Some(0.003)),
            counted: Set(true),
            cache_hit: Set(false),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
    }
    db.close().await.unwrap();

    // Free keeps 7 days: asking for 30 gives the recent event only.
    let csv = cli.ok(
        &[
            "usage", "export", "--email", email, "--since", "30d", "--format", "csv",
        ],
        None,
    );
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("time,key_id,provider,model,tier,status"));
    assert!(
        lines[0].contains(",cost_usd,baseline_cost_usd,saving_usd,"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(",openai,gpt-4o-mini,cheap,200,"),
        "{}",
        lines[1]
    );
    cli.ok(
        &["user", "set-plan", "--email", email, "--plan", "pro"],
        None,
    );
    let json = cli.ok(
        &[
            "usage", "export", "--email", email, "--since", "30d", "--format", "json",
        ],
        None,
    );
    let rows: Vec<Value> = json
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["model"].as_str(), rows[1]["model"].as_str()),
        (Some("gpt-4o"), Some("gpt-4o-mini"))
    );
    // What the same tokens cost on the baseline model, as recorded with the event.
    for row in &rows {
        let baseline_cost = row["baseline_cost_usd"].as_f64().unwrap();
        assert!((baseline_cost - 0.003).abs() < 1e-12, "{row}");
    }
    assert_eq!(
        cli.ok(
            &["usage", "export", "--email", email, "--since", "1h"],
            None
        )
        .trim_end()
        .lines()
        .count(),
        1
    );
    let bad = cli.fails(
        &["usage", "export", "--email", email, "--since", "lately"],
        None,
    );
    assert!(bad.contains("--since"), "{bad}");
}

/// The provider keys as stored, one ciphertext per row.
async fn sealed_provider_keys(database_url: &str) -> Vec<Vec<u8>> {
    use gateway::sea_orm::{Database, EntityTrait};
    let db = Database::connect(database_url).await.unwrap();
    let sealed = gateway::entities::provider_credential::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|credential| credential.key_ciphertext)
        .collect();
    db.close().await.unwrap();
    sealed
}

#[tokio::test]
async fn master_key_rotation_reseals_every_provider_key() {
    use gateway::crypto::MasterKey;
    let (cli, _dir) = cli_on_fresh_sqlite();
    cli.ok(
        &["user", "create", "--email", "ada@example.com"],
        Some(&format!("{PASSWORD}\n")),
    );
    for (provider, secret) in [
        ("openai", "sk-rotate-openai-123456"),
        ("groq", "gsk-rotate-groq-123456"),
    ] {
        cli.ok(
            &[
                "provider",
                "add",
                "--email",
                "ada@example.com",
                "--provider",
                provider,
            ],
            Some(&format!("{secret}\n")),
        );
    }
    let key_file = cli.data_dir.join("master.key");
    let old_encoded = std::fs::read_to_string(&key_file).unwrap();
    let old = MasterKey::from_base64(&old_encoded).unwrap();

    let rotated = cli.ok(&["master-key", "rotate"], None);
    assert!(rotated.contains("re-sealed 2 provider key(s)"), "{rotated}");
    let new_encoded = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_encoded, old_encoded);
    assert!(!cli.data_dir.join("master.key.next").exists());
    let new = MasterKey::from_base64(&new_encoded).unwrap();
    let mut opened: Vec<String> = Vec::new();
    for sealed in sealed_provider_keys(&cli.database_url).await {
        assert!(
            old.decrypt(&sealed).is_err(),
            "still sealed with the old key"
        );
        opened.push(String::from_utf8(new.decrypt(&sealed).unwrap()).unwrap());
    }
    opened.sort();
    assert_eq!(
        opened,
        ["gsk-rotate-groq-123456", "sk-rotate-openai-123456"]
    );
    // Everything else goes on working with the new key.
    cli.ok(
        &["user", "show", "--email", "ada@example.com", "--json"],
        None,
    );

    // A key from the environment: the new one comes on standard input and is the operator's to
    // set; the old one then refuses to start.
    let env_key = new_encoded.trim().to_owned();
    let next = MasterKey::generate_base64();
    let output = cli.run_with_master_key(
        Some(&env_key),
        &["master-key", "rotate"],
        Some(&format!("{next}\n")),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("set GATEWAY_MASTER_KEY"));
    let next_key = MasterKey::from_base64(&next).unwrap();
    for sealed in sealed_provider_keys(&cli.database_url).await {
        next_key
            .decrypt(&sealed)
            .expect("sealed with the operator's new key");
    }
    let stale = cli.run_with_master_key(
        Some(&env_key),
        &[
            "provider",
            "add",
            "--email",
            "ada@example.com",
            "--provider",
            "ollama",
        ],
        Some(""),
    );
    assert!(!stale.status.success());
    assert!(
        String::from_utf8_lossy(&stale.stderr).contains("does not open the provider keys"),
        "{}",
        String::from_utf8_lossy(&stale.stderr)
    );
    // Without a new key on standard input nothing changes.
    let refused = cli.run_with_master_key(Some(&next), &["master-key", "rotate"], Some(""));
    assert!(!refused.status.success());
    for sealed in sealed_provider_keys(&cli.database_url).await {
        next_key.decrypt(&sealed).expect("unchanged");
    }
}

/// A rotation that re-sealed the database and stopped before replacing `master.key` is finished
/// at the next start, instead of leaving provider keys no key opens.
#[tokio::test]
async fn an_interrupted_rotation_is_finished_at_the_next_start() {
    use gateway::crypto::MasterKey;
    use gateway::sea_orm::Database;
    let (cli, _dir) = cli_on_fresh_sqlite();
    cli.ok(
        &["user", "create", "--email", "ada@example.com"],
        Some(&format!("{PASSWORD}\n")),
    );
    cli.ok(
        &[
            "provider",
            "add",
            "--email",
            "ada@example.com",
            "--provider",
            "openai",
        ],
        Some("sk-interrupted-123456\n"),
    );
    let key_file = cli.data_dir.join("master.key");
    let old = MasterKey::from_base64(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    // What `rotate` does up to its last step: the new key beside the old, the database re-sealed.
    let next_encoded = MasterKey::generate_base64();
    std::fs::write(cli.data_dir.join("master.key.next"), &next_encoded).unwrap();
    let next = MasterKey::from_base64(&next_encoded).unwrap();
    let db = Database::connect(&cli.database_url).await.unwrap();
    gateway::accounts::reseal_provider_keys(&db, &old, &next)
        .await
        .unwrap();
    db.close().await.unwrap();

    // Any command that needs the master key finishes it (here: adding a provider).
    cli.ok(
        &[
            "provider",
            "add",
            "--email",
            "ada@example.com",
            "--provider",
            "ollama",
        ],
        Some(""),
    );
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), next_encoded);
    assert!(!cli.data_dir.join("master.key.next").exists());
}

#[test]
fn a_proxy_in_the_environment_stops_the_start_unless_the_operator_chooses() {
    let (cli, _dir) = cli_on_fresh_sqlite();
    let serve = |upstream_proxy: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_llm-gateway"));
        command
            .arg("serve")
            .env("DATABASE_URL", &cli.database_url)
            .env("GATEWAY_DATA_DIR", &cli.data_dir)
            .env("GATEWAY_ADDR", "127.0.0.1:0")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env_remove("GATEWAY_CONFIG")
            .env_remove("GATEWAY_MASTER_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match upstream_proxy {
            Some(value) => command.env("UPSTREAM_PROXY", value),
            None => command.env_remove("UPSTREAM_PROXY"),
        };
        let mut child = command.spawn().expect("the binary runs");
        // It says where it runs once started; refused, it ends without saying so.
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let started = std::io::BufRead::lines(stdout)
            .map_while(Result::ok)
            .any(|line| line.starts_with("LLM Gateway is running at "));
        if started {
            child.kill().unwrap();
            child.wait().unwrap();
            return None;
        }
        let output = child.wait_with_output().unwrap();
        Some(String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let refused = serve(None).expect("a start with HTTPS_PROXY set and no UPSTREAM_PROXY ends");
    assert!(
        refused.contains("HTTPS_PROXY is set") && refused.contains("UPSTREAM_PROXY=none"),
        "{refused}"
    );
    assert!(
        serve(Some("none")).is_none(),
        "with UPSTREAM_PROXY=none the server starts"
    );
}
