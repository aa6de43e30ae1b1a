//! `llm-gateway route …`: the router's offline tools (classify, verify, eval, train). No
//! database: they read JSON lines and the router's model files. Their output is stable: scripts
//! parse it.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

use crate::config::Config;

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
