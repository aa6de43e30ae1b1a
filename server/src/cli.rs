//! The admin CLI. Its output is stable: scripts parse it.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use gateway::accounts::{self, Plan};
use gateway::limits::{Limits, Scope};
use gateway::providers::ProviderKind;
use gateway::routing::RoutingPolicy;

use crate::app::{connect_database, load_master_key};
use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "llm-gateway",
    version,
    about = "LLM Gateway: an OpenAI-compatible gateway to your LLM providers"
)]
pub struct Cli {
    /// A TOML configuration file (also GATEWAY_CONFIG); environment variables override it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the portal and the API (the default).
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// The people of an account's organisation (the operator's view: no role is checked).
    #[command(subcommand)]
    Member(MemberCommand),
    /// Manage gateway keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage provider keys.
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// The auto-routing classifier: classify requests, evaluate and train it.
    #[command(subcommand)]
    Route(RouteCommand),
    /// Routing overrides of an account or one of its keys.
    #[command(subcommand)]
    Routing(RoutingCommand),
    /// Budgets and rate limits of an account (its organisation) or one of its keys.
    #[command(subcommand)]
    Limits(LimitsCommand),
    /// Usage events (metadata only).
    #[command(subcommand)]
    Usage(UsageCommand),
    /// The master key that seals provider keys.
    #[command(subcommand)]
    MasterKey(MasterKeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum MasterKeyCommand {
    /// Re-seal every provider key under a new master key, in one transaction. With the key in
    /// `<data dir>/master.key` a new one is generated into that file; with GATEWAY_MASTER_KEY the
    /// new key is read from standard input, to be set in the environment afterwards. Stop the
    /// servers first and start them with the new key.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum UsageCommand {
    /// Print the account's events, oldest first, clamped to the plan's retention: the same
    /// columns as the portal's CSV export.
    Export {
        #[arg(long)]
        email: String,
        /// How far back: `1h`, `24h`, `7d`, `90d`….
        #[arg(long, default_value = "7d")]
        since: String,
        #[arg(long, value_parser = ["csv", "json"], default_value = "csv")]
        format: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoutingCommand {
    /// Print the routing policy as JSON (the account's, or the key's own overrides).
    Show(RoutingTarget),
    /// Replace the routing policy with the JSON given (see the README for its fields).
    Set {
        #[command(flatten)]
        target: RoutingTarget,
        /// The policy, e.g. '{"max_tier": "standard", "rules": [{"when": "tools", "at_least": "standard"}]}'.
        #[arg(long, conflicts_with = "clear", required_unless_present = "clear")]
        json: Option<String>,
        /// Remove every override.
        #[arg(long)]
        clear: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LimitsCommand {
    /// Print the limits as JSON, with this month's spend at list price.
    Show(RoutingTarget),
    /// Replace the limits; a limit not given is removed.
    Set {
        #[command(flatten)]
        target: RoutingTarget,
        /// Monthly budget in US dollars at catalog list prices: requests past it get 429
        /// `budget_exceeded` until the month ends.
        #[arg(long)]
        budget_usd: Option<f64>,
        /// E-mail the owners when this percentage of the budget is spent (once a month).
        #[arg(long)]
        alert_percent: Option<u8>,
        /// Requests per minute.
        #[arg(long)]
        rpm: Option<u32>,
        /// Tokens (prompt + completion) per minute.
        #[arg(long)]
        tpm: Option<u32>,
    },
}

#[derive(Debug, Args)]
pub struct RoutingTarget {
    #[arg(long)]
    email: String,
    /// A key's prefix: its own overrides instead of the account's.
    #[arg(long)]
    key_prefix: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RouteCommand {
    /// Read JSON lines `{"id", "messages", ...}` on stdin; write `{"id", "score", "tier", "reason"}`
    /// lines on stdout, in input order.
    Classify {
        /// The semantic router's files (default: the configured `router_model_dir`).
        #[arg(long)]
        model_dir: Option<PathBuf>,
    },
    /// Cross-validated APGR, CPT80 and saving at 95 % adequacy, per source and macro-averaged;
    /// folds keep near-duplicate prompts together, and no prompt is scored by a model trained on it.
    Eval {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 5)]
        folds: u64,
        /// `semantic` (embedding table + head) or `surface` (the fallback classifier).
        #[arg(long, value_parser = ["semantic", "surface"], default_value = "semantic")]
        classifier: String,
        #[arg(long)]
        model_dir: Option<PathBuf>,
        /// Designed prior-labelled prompts added to the training folds (everyday chat the
        /// labelled data lacks); default: `priors.jsonl` beside the shipped model.
        #[arg(long)]
        priors: Option<PathBuf>,
        #[arg(long)]
        no_priors: bool,
        /// Also write the out-of-fold scores, one `{"id", "score"}` a line (for score_router.py).
        #[arg(long)]
        scores_out: Option<PathBuf>,
        #[arg(long)]
        l2: Option<f32>,
        #[arg(long)]
        iterations: Option<usize>,
        /// More labelled outcomes (`dev.jsonl`'s shape, e.g. `../shared/router-eval/mmlu-extra.jsonl`)
        /// added to every training fold and never scored.
        #[arg(long)]
        extra: Vec<PathBuf>,
        /// What each extra row counts as in training (1: as much as a row of the data).
        #[arg(long, default_value_t = 1.0)]
        extra_weight: f32,
        /// Score every row of the data with one head trained on the extra rows alone (no folds:
        /// they share no prompt).
        #[arg(long, requires = "extra")]
        extra_only: bool,
        /// Train on the extra rows without reading their outcome memory (the neighbour input):
        /// to measure what the memory adds.
        #[arg(long)]
        no_neighbours: bool,
        /// The cheap model's answers (`{"id", "weak_answer"}` lines, e.g.
        /// `../shared/router-eval/gsm8k-answers-dev.jsonl`): also evaluate the cascade on them.
        #[arg(long)]
        answers: Option<PathBuf>,
    },
    /// Read JSON lines `{"id", "messages", "answer"}` (the cheap model's answer text) on stdin;
    /// write `{"id", "score", "escalate", "checks"}` lines in input order: the cascade's checks.
    Verify {
        #[arg(long)]
        model_dir: Option<PathBuf>,
    },
    /// Fit both classifiers on every labelled row and write them: the semantic head
    /// (`semantic.json`, thresholds calibrated on cross-validated scores) and the surface
    /// classifier (`weights.json`), into the model directory. Deterministic.
    Train {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "gateway/router")]
        model_dir: PathBuf,
        #[arg(long)]
        priors: Option<PathBuf>,
        #[arg(long)]
        no_priors: bool,
        /// More labelled outcomes, for training only (see `route eval --extra`).
        #[arg(long)]
        extra: Vec<PathBuf>,
        #[arg(long, default_value_t = 1.0)]
        extra_weight: f32,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["free", "pro", "enterprise"], default_value = "free")]
        plan: String,
    },
    /// Set an account's plan (when billing is off, this is how plans change).
    SetPlan {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["free", "pro", "enterprise"])]
        plan: String,
    },
    /// Show an account.
    Show {
        #[arg(long)]
        email: String,
        /// Print JSON: {"id", "email", "plan", "created_at", "active_keys", "providers"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// The organisation's people, owner first: `<role> <email> <id>` per line (the owner's id is 0).
    List {
        /// The owner's e-mail (the account).
        #[arg(long)]
        email: String,
        /// Print JSON: [{"id", "email", "role"}].
        #[arg(long)]
        json: bool,
    },
    /// Invite someone and print the one-time link (valid 7 days) for the operator to pass on.
    Invite {
        #[arg(long)]
        email: String,
        #[arg(long)]
        invitee: String,
        #[arg(long, value_parser = ["admin", "member", "viewer"], default_value = "member")]
        role: String,
    },
    /// Change a member's role.
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long)]
        member: String,
        #[arg(long, value_parser = ["admin", "member", "viewer"])]
        role: String,
    },
    /// Remove a member; the keys they created are revoked.
    Remove {
        #[arg(long)]
        email: String,
        #[arg(long)]
        member: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a gateway key and print it (only the key) on standard output.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Revoke the key that a prefix (any unambiguous leading part of the key) designates.
    Revoke {
        #[arg(long)]
        email: String,
        #[arg(long)]
        key_prefix: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Add (or replace) a provider key; the API key is read from standard input (optional for
    /// ollama). An unknown `--provider` is answered with the providers there are.
    Add(ProviderAdd),
}

#[derive(Debug, Args)]
pub struct ProviderAdd {
    #[arg(long)]
    email: String,
    #[arg(long)]
    provider: String,
    #[arg(long)]
    base_url: Option<String>,
}

/// Reads a secret from standard input: the first line, without its line ending.
fn read_secret(what: &str) -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .with_context(|| format!("reading the {what} from standard input"))?;
    let secret = input.lines().next().unwrap_or_default().to_owned();
    if secret.is_empty() {
        bail!("expected the {what} on standard input");
    }
    Ok(secret)
}

fn read_optional_secret() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the API key from standard input")?;
    Ok(input.lines().next().unwrap_or_default().trim().to_owned())
}

fn print_report(
    title: &str,
    per_source: &std::collections::BTreeMap<String, gateway::routing::train::RouterMetrics>,
    macro_average: &gateway::routing::train::RouterMetrics,
) {
    println!("{title}");
    println!(
        "{:<12} {:>6} {:>8} {:>6} {:>6} {:>9} {:>10}",
        "source", "n", "weak_ok", "APGR", "CPT80", "strong@95", "saving@95"
    );
    let row = |name: &str, m: &gateway::routing::train::RouterMetrics| {
        println!(
            "{:<12} {:>6} {:>8.3} {:>6.3} {:>6.3} {:>9.3} {:>9.1}%",
            name,
            m.n,
            m.weak_ok,
            m.apgr,
            m.cpt80,
            m.strong_at_95,
            m.saving_at_95 * 100.0
        )
    };
    for (source, m) in per_source {
        row(source, m);
    }
    row("macro", macro_average);
}

fn write_scores(
    path: &std::path::Path,
    ids: impl Iterator<Item = String>,
    scores: &[f32],
) -> anyhow::Result<()> {
    let lines: Vec<String> = ids
        .zip(scores)
        .map(|(id, score)| serde_json::json!({"id": id, "score": score}).to_string())
        .collect();
    std::fs::write(path, lines.join("\n") + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

fn load_table(dir: &std::path::Path) -> anyhow::Result<gateway::routing::semantic::EmbeddingTable> {
    Ok(gateway::routing::semantic::EmbeddingTable::load(
        &dir.join(gateway::routing::semantic::TABLE_FILE),
    )?)
}

/// The rows of `--extra` files as training-only examples, and (unless `memory` is false) as
/// the outcome memory whose neighbours every other prompt reads.
fn read_extra(
    table: &gateway::routing::semantic::EmbeddingTable,
    paths: &[PathBuf],
    weight: f32,
    memory: bool,
) -> anyhow::Result<(
    Option<gateway::routing::semantic::Neighbours>,
    Vec<gateway::routing::semantic_train::SemanticExample>,
)> {
    use gateway::routing::semantic::neighbours::DEFAULT_K;
    use gateway::routing::{semantic_train, train};
    let mut rows = Vec::new();
    for path in paths {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        rows.extend(train::load_requests(&text).map_err(|e| anyhow::anyhow!(e))?);
    }
    let (memory, examples) = if memory && !rows.is_empty() {
        let (memory, examples) = semantic_train::outcome_memory(table, &rows, DEFAULT_K);
        (Some(memory), examples)
    } else {
        (None, semantic_train::examples(table, &rows, None))
    };
    Ok((memory, semantic_train::training_only(examples, weight)))
}

/// Runs a `route` command: no database needed.
pub fn run_route(config: &Config, command: RouteCommand) -> anyhow::Result<()> {
    use gateway::routing::{Router, semantic_train, train};
    // The labelled data, then the designed priors (training only: they carry no measured label).
    let read_text =
        |data: &PathBuf, priors: &Option<PathBuf>, no_priors: bool| -> anyhow::Result<String> {
            let mut text = std::fs::read_to_string(data)
                .with_context(|| format!("reading {}", data.display()))?;
            if !no_priors {
                let priors = priors.clone().unwrap_or_else(|| {
                    gateway::routing::semantic::default_model_dir().join("priors.jsonl")
                });
                text.push('\n');
                text.push_str(
                    &std::fs::read_to_string(&priors)
                        .with_context(|| format!("reading {}", priors.display()))?,
                );
            }
            Ok(text)
        };
    let read_rows = |text: &str, data: &PathBuf| -> anyhow::Result<Vec<train::LabelledRequest>> {
        let rows = train::load_requests(text).map_err(|e| anyhow::anyhow!(e))?;
        anyhow::ensure!(
            rows.iter().any(|r| r.measured),
            "{} has no labelled rows",
            data.display()
        );
        Ok(rows)
    };
    match command {
        RouteCommand::Classify { model_dir } => {
            let router = Router::load(model_dir.as_deref().unwrap_or(&config.router_model_dir));
            let thresholds = router.thresholds();
            crate::cascade_eval::map_request_lines(|_, request| {
                let classification = router.classify(request);
                let tier = gateway::routing::tier_for_score(classification.score, thresholds).id();
                Ok(serde_json::json!({
                    "score": crate::cascade_eval::rounded(classification.score),
                    "tier": tier,
                    "reason": classification.reason,
                }))
            })?;
        }
        RouteCommand::Verify { model_dir } => {
            let router = Router::load(model_dir.as_deref().unwrap_or(&config.router_model_dir));
            crate::cascade_eval::verify_lines(&router)?;
        }
        RouteCommand::Eval {
            data,
            folds,
            classifier,
            model_dir,
            priors,
            no_priors,
            scores_out,
            l2,
            iterations,
            extra,
            extra_weight,
            extra_only,
            no_neighbours,
            answers,
        } => {
            let text = read_text(&data, &priors, no_priors)?;
            let rows = read_rows(&text, &data)?;
            let folds = folds.max(2);
            let measured = rows.iter().filter(|r| r.measured).count();
            let dir = model_dir.as_deref().unwrap_or(&config.router_model_dir);
            let table = load_table(dir)?;
            let (memory, extra) = if classifier == "semantic" {
                read_extra(&table, &extra, extra_weight, !no_neighbours)?
            } else {
                anyhow::ensure!(extra.is_empty(), "--extra is for the semantic classifier");
                (None, Vec::new())
            };
            let semantic_examples = semantic_train::examples(&table, &rows, memory.as_ref());
            let fold_of = semantic_train::folds(&semantic_examples, folds);
            let groups = {
                let mut g = semantic_train::near_duplicate_groups(&semantic_examples);
                g.sort_unstable();
                g.dedup();
                g.len()
            };
            let mut title = format!(
                "{classifier} classifier, {folds}-fold cross-validated on {measured} measured prompts ({} prior-labelled prompts used for training only); {groups} near-duplicate groups kept within one fold each",
                rows.len() - measured
            );
            let labels = || {
                rows.iter()
                    .map(|r| (r.source.as_str(), r.measured, r.needs_strong))
            };
            let scores = if classifier == "semantic" {
                let defaults = semantic_train::HeadSettings::default();
                let settings = semantic_train::HeadSettings {
                    l2: l2.unwrap_or(defaults.l2),
                    iterations: iterations.unwrap_or(defaults.iterations),
                    ..defaults
                };
                let memory_note = memory.as_ref().map_or(String::new(), |m| {
                    format!(
                        ", with their outcome memory ({} rows, {} neighbours)",
                        m.len(),
                        gateway::routing::semantic::neighbours::DEFAULT_K
                    )
                });
                let scores = if extra_only {
                    title = format!(
                        "semantic classifier trained on the {} extra rows only{memory_note}, scoring the {measured} measured prompts of the data (no folds: they share no prompt)",
                        extra.len()
                    );
                    semantic_train::scores_from(&extra, &semantic_examples, settings)
                } else {
                    if !extra.is_empty() {
                        title.push_str(&format!(
                            "; {} extra rows in every training fold{memory_note}",
                            extra.len()
                        ));
                    }
                    semantic_train::cross_validated_scores(
                        &semantic_examples,
                        &extra,
                        folds,
                        settings,
                    )
                };
                let thresholds = semantic_train::calibrate(&semantic_examples, &scores);
                let (per_source, macro_average) = train::report_labels(labels(), &scores);
                print_report(&title, &per_source, &macro_average);
                println!(
                    "calibrated thresholds: strong >= {:.3} (95 % adequacy), standard >= {:.3} (98 %)",
                    thresholds.strong, thresholds.standard
                );
                scores
            } else {
                let examples = train::load_examples(&text).map_err(|e| anyhow::anyhow!(e))?;
                let defaults = train::TrainSettings::default();
                let settings = train::TrainSettings {
                    l2: l2.unwrap_or(defaults.l2),
                    iterations: iterations.unwrap_or(defaults.iterations),
                    ..defaults
                };
                let scores = train::cross_validated_scores(&examples, &fold_of, folds, settings);
                let (per_source, macro_average) = train::report_labels(labels(), &scores);
                print_report(&title, &per_source, &macro_average);
                scores
            };
            if let Some(path) = scores_out {
                write_scores(&path, rows.iter().map(|r| r.id.clone()), &scores)?;
            }
            crate::cascade_eval::print_reliability(&rows, &scores);
            if let Some(answers) = answers {
                crate::cascade_eval::eval_cascade(&answers, &rows, &scores)?;
            }
        }
        RouteCommand::Train {
            data,
            model_dir,
            priors,
            no_priors,
            extra,
            extra_weight,
        } => {
            let text = read_text(&data, &priors, no_priors)?;
            let rows = read_rows(&text, &data)?;
            let table = load_table(&model_dir)?;
            let (memory, extra) = read_extra(&table, &extra, extra_weight, true)?;
            let examples = semantic_train::examples(&table, &rows, memory.as_ref());
            let (head, scores) = semantic_train::train_head(
                &table,
                &examples,
                &extra,
                memory.as_ref(),
                5,
                semantic_train::HeadSettings::default(),
            );
            let (per_source, macro_average) = train::report_labels(
                rows.iter()
                    .map(|r| (r.source.as_str(), r.measured, r.needs_strong)),
                &scores,
            );
            print_report(
                "semantic head, 5-fold cross-validated",
                &per_source,
                &macro_average,
            );
            let memory_path = model_dir.join(gateway::routing::semantic::NEIGHBOURS_FILE);
            match &memory {
                Some(memory) => {
                    let bytes = memory
                        .encoded()
                        .context("the outcome memory was built in this run, so it has its bytes")?;
                    std::fs::write(&memory_path, bytes)
                        .with_context(|| format!("writing {}", memory_path.display()))?;
                    println!(
                        "wrote {} (the outcome memory: {} rows)",
                        memory_path.display(),
                        memory.len()
                    );
                }
                // A memory left from an earlier training would not match the head: the loader
                // ignores it, and removing it says so.
                None => match std::fs::remove_file(&memory_path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(e)
                            .with_context(|| format!("removing {}", memory_path.display()));
                    }
                    _ => {}
                },
            }
            let head_path = model_dir.join(gateway::routing::semantic::HEAD_FILE);
            std::fs::write(&head_path, serde_json::to_string_pretty(&head)? + "\n")
                .with_context(|| format!("writing {}", head_path.display()))?;
            println!(
                "wrote {} (thresholds: strong >= {:.3}, standard >= {:.3})",
                head_path.display(),
                head.thresholds.strong,
                head.thresholds.standard
            );

            // The surface classifier keeps its own training set: the labelled data alone.
            let surface = train::load_examples(&std::fs::read_to_string(&data)?)
                .map_err(|e| anyhow::anyhow!(e))?;
            let refs: Vec<&train::Example> = surface.iter().collect();
            let mut weights = train::train(&refs, train::TrainSettings::default());
            weights.trained_on = format!(
                "llm-gateway route train --data router-eval/dev.jsonl: {} prompts (measured and prior-labelled), full-batch Adam, {:?}",
                surface.len(),
                train::TrainSettings::default()
            );
            let weights_path = model_dir.join("weights.json");
            std::fs::write(&weights_path, serde_json::to_string(&weights)? + "\n")
                .with_context(|| format!("writing {}", weights_path.display()))?;
            println!(
                "wrote {} (the surface classifier, the fallback)",
                weights_path.display()
            );
        }
    }
    Ok(())
}

/// The member of `account_id` whose address is `email`.
async fn member_by_email(
    db: &gateway::sea_orm::DatabaseConnection,
    account_id: i32,
    email: &str,
) -> anyhow::Result<gateway::entities::member::Model> {
    accounts::members::find_member(db, email)
        .await?
        .filter(|member| member.account_id == account_id)
        .with_context(|| format!("{email} is not a member of this organisation"))
}

async fn run_member(
    config: &Config,
    db: &gateway::sea_orm::DatabaseConnection,
    command: MemberCommand,
) -> anyhow::Result<()> {
    use accounts::members::{self, Role};
    let role_of = |role: &str| Role::parse(role).context("unknown role");
    match command {
        MemberCommand::List { email, json } => {
            let account = accounts::account_by_email(db, &email).await?;
            let mut people = vec![(0, account.email, Role::Owner.id().to_owned())];
            for member in members::list_members(db, account.id).await? {
                people.push((member.id, member.email, member.role));
            }
            if json {
                let shown: Vec<_> = people
                    .iter()
                    .map(|(id, email, role)| serde_json::json!({"id": id, "email": email, "role": role}))
                    .collect();
                println!("{}", serde_json::Value::Array(shown));
            } else {
                for (id, email, role) in people {
                    println!("{role:<7} {email} {id}");
                }
            }
        }
        MemberCommand::Invite {
            email,
            invitee,
            role,
        } => {
            let account = accounts::account_by_email(db, &email).await?;
            // The operator may know who has a login; an inviter in the portal is not told.
            members::address_is_free(db, &invitee).await?;
            let invited = members::invite(db, account.id, &invitee, role_of(&role)?).await?;
            let link = accounts::tokens::link(&config.link_base(), "/invite", &invited.token);
            println!("{link}");
        }
        MemberCommand::SetRole {
            email,
            member,
            role,
        } => {
            let account = accounts::account_by_email(db, &email).await?;
            let member = member_by_email(db, account.id, &member).await?;
            members::set_role(db, account.id, member.id, role_of(&role)?).await?;
            println!("{} is now {role}", member.email);
        }
        MemberCommand::Remove { email, member } => {
            let account = accounts::account_by_email(db, &email).await?;
            let member = member_by_email(db, account.id, &member).await?;
            let revoked = members::remove_member(db, account.id, member.id).await?;
            println!(
                "removed {} and revoked {revoked} of their keys",
                member.email
            );
        }
    }
    Ok(())
}

/// Runs an admin command (anything but `serve` and `route`).
pub async fn run_admin(config: &Config, command: Command) -> anyhow::Result<()> {
    if let Command::Route(route) = command {
        return run_route(config, route);
    }
    let db = connect_database(config).await?;
    match command {
        Command::Serve | Command::Route(_) => unreachable!("handled elsewhere"),
        Command::Migrate => {
            println!("database is up to date");
        }
        Command::User(UserCommand::Create { email, plan }) => {
            let plan = Plan::parse(&plan).context("unknown plan")?;
            let password = read_secret("password")?;
            let account = accounts::create_account(&db, &email, &password, plan).await?;
            println!("created account {} ({})", account.email, account.id);
        }
        Command::User(UserCommand::SetPlan { email, plan }) => {
            let plan = Plan::parse(&plan).context("unknown plan")?;
            let account = accounts::account_by_email(&db, &email).await?;
            accounts::set_plan(&db, account.id, plan).await?;
            println!("plan of {} set to {}", account.email, plan.id());
        }
        Command::User(UserCommand::Show { email, json }) => {
            let account = accounts::account_by_email(&db, &email).await?;
            let keys = accounts::list_gateway_keys(&db, account.id).await?;
            let providers = accounts::list_providers(&db, account.id).await?;
            let active_keys = keys.iter().filter(|key| key.revoked_at.is_none()).count();
            let provider_ids: Vec<&str> = providers.iter().map(|p| p.provider.as_str()).collect();
            if json {
                let shown = serde_json::json!({
                    "id": account.id,
                    "email": account.email,
                    "plan": account.plan,
                    "created_at": account.created_at,
                    "active_keys": active_keys,
                    "providers": provider_ids,
                });
                println!("{shown}");
            } else {
                println!("id:          {}", account.id);
                println!("email:       {}", account.email);
                println!("plan:        {}", account.plan);
                println!("active keys: {active_keys}");
                println!("providers:   {}", provider_ids.join(", "));
            }
        }
        Command::Member(command) => run_member(config, &db, command).await?,
        Command::Key(KeyCommand::Create { email, name }) => {
            let account = accounts::account_by_email(&db, &email).await?;
            let created =
                accounts::create_gateway_key(&db, &config.plans, account.id, &name).await?;
            println!("{}", created.secret);
        }
        Command::Key(KeyCommand::Revoke { email, key_prefix }) => {
            let account = accounts::account_by_email(&db, &email).await?;
            let key = accounts::find_key_by_prefix(&db, account.id, &key_prefix).await?;
            accounts::revoke_gateway_key(&db, account.id, key.id).await?;
            println!("revoked key {}… ({})", key.prefix, key.name);
        }
        Command::Routing(RoutingCommand::Show(RoutingTarget { email, key_prefix })) => {
            let account = accounts::account_by_email(&db, &email).await?;
            let policies = accounts::routing_policies(&db, account.id).await?;
            let policy = match key_prefix {
                None => policies.account,
                Some(prefix) => {
                    let key = accounts::find_key_by_prefix(&db, account.id, &prefix).await?;
                    policies.keys.get(&key.id).cloned().unwrap_or_default()
                }
            };
            println!("{}", serde_json::to_string(&policy)?);
        }
        Command::Routing(RoutingCommand::Set {
            target: RoutingTarget { email, key_prefix },
            json,
            clear,
        }) => {
            let policy = if clear {
                RoutingPolicy::default()
            } else {
                RoutingPolicy::parse(json.as_deref().unwrap_or_default())
                    .map_err(accounts::AccountError::from)?
            };
            let account = accounts::account_by_email(&db, &email).await?;
            match key_prefix {
                None => {
                    accounts::set_account_routing_policy(&db, account.id, &policy).await?;
                    println!("routing policy of {} set", account.email);
                }
                Some(prefix) => {
                    let key = accounts::find_key_by_prefix(&db, account.id, &prefix).await?;
                    accounts::set_key_routing_policy(&db, account.id, key.id, &policy).await?;
                    println!("routing policy of key {}… ({}) set", key.prefix, key.name);
                }
            }
        }
        Command::Limits(LimitsCommand::Show(RoutingTarget { email, key_prefix })) => {
            let account = accounts::account_by_email(&db, &email).await?;
            let limits = accounts::account_limits(&db, account.id).await?;
            let (scope, limits) = match key_prefix {
                None => (Scope::Account(account.id), limits.account),
                Some(prefix) => {
                    let key = accounts::find_key_by_prefix(&db, account.id, &prefix).await?;
                    let own = limits.keys.get(&key.id).cloned().unwrap_or_default();
                    (Scope::Key(key.id), own)
                }
            };
            let (month_start, _) = gateway::plans::month_bounds_utc(gateway::clock::now_ms());
            let spent = gateway::limits::ledger::spent_since(&db, scope, month_start).await?;
            let shown = serde_json::json!({
                "limits": limits,
                "spent_this_month_usd": spent as f64 / gateway::limits::NANOS_PER_USD,
            });
            println!("{shown}");
        }
        Command::Limits(LimitsCommand::Set {
            target: RoutingTarget { email, key_prefix },
            budget_usd,
            alert_percent,
            rpm,
            tpm,
        }) => {
            let limits = Limits {
                monthly_budget_usd: budget_usd,
                alert_at_percent: alert_percent,
                requests_per_minute: rpm,
                tokens_per_minute: tpm,
            };
            limits.validate().map_err(accounts::AccountError::from)?;
            let account = accounts::account_by_email(&db, &email).await?;
            match key_prefix {
                None => {
                    accounts::set_account_limits(&db, account.id, &limits).await?;
                    println!("limits of {} set", account.email);
                }
                Some(prefix) => {
                    let key = accounts::find_key_by_prefix(&db, account.id, &prefix).await?;
                    accounts::set_key_limits(&db, account.id, key.id, &limits).await?;
                    println!("limits of key {}… ({}) set", key.prefix, key.name);
                }
            }
        }
        Command::MasterKey(MasterKeyCommand::Rotate) => {
            let new_key = if config.gateway_master_key.is_some() {
                Some(read_secret("new master key")?)
            } else {
                None
            };
            let resealed = crate::app::rotate_master_key(config, &db, new_key.as_deref()).await?;
            if config.gateway_master_key.is_some() {
                println!(
                    "re-sealed {resealed} provider key(s); set GATEWAY_MASTER_KEY to the new key before starting the servers again"
                );
            } else {
                println!(
                    "re-sealed {resealed} provider key(s); the new master key is in {}: back it up, and restart the servers",
                    config.gateway_data_dir.join("master.key").display()
                );
            }
        }
        Command::Usage(UsageCommand::Export {
            email,
            since,
            format,
        }) => {
            use gateway::analytics;
            use std::io::Write as _;
            let Some(range) = analytics::parse_range(&since) else {
                bail!("--since must look like 1h, 24h, 7d or 90d, not {since:?}");
            };
            let account = accounts::account_by_email(&db, &email).await?;
            let plan = Plan::parse(&account.plan).unwrap_or(Plan::Free);
            let now = gateway::clock::now_ms();
            let since =
                analytics::clamp_since(now, range, config.plans.limits(plan).retention_days);
            // A page at a time, as the portal's export: memory stays flat however many events.
            if format == "csv" {
                use futures::TryStreamExt as _;
                let mut chunks =
                    std::pin::pin!(analytics::csv_stream(db.clone(), account.id, since).await?);
                while let Some(chunk) = chunks.try_next().await? {
                    std::io::stdout().lock().write_all(&chunk)?;
                }
            } else {
                let mut after = None;
                loop {
                    let page = analytics::events_page(
                        &db,
                        account.id,
                        since,
                        after,
                        analytics::EXPORT_PAGE,
                    )
                    .await?;
                    let mut out = std::io::stdout().lock();
                    for event in &page {
                        writeln!(
                            out,
                            "{}",
                            serde_json::Value::Object(analytics::export_row(event))
                        )?;
                    }
                    if (page.len() as u64) < analytics::EXPORT_PAGE {
                        break;
                    }
                    after = page.last().map(|last| (last.created_at, last.id));
                }
            }
        }
        Command::Provider(ProviderCommand::Add(ProviderAdd {
            email,
            provider,
            base_url,
        })) => {
            let account = accounts::account_by_email(&db, &email).await?;
            let Some(kind) = ProviderKind::parse(&provider) else {
                return Err(accounts::AccountError::UnknownProvider(provider).into());
            };
            // Ollama usually runs without a key: an empty standard input is fine there.
            let api_key = if kind.requires_api_key() {
                read_secret("API key")?
            } else {
                read_optional_secret()?
            };
            let master_key = load_master_key(config, &db).await?;
            let added = accounts::add_provider(
                &db,
                &config.plans,
                &master_key,
                &config.egress_policy()?,
                account.id,
                &provider,
                &api_key,
                base_url.as_deref(),
            )
            .await?;
            println!("added provider {} ({})", added.provider, added.key_hint);
        }
    }
    db.close().await.ok();
    Ok(())
}
