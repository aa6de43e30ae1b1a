//! `llm-gateway route verify` and `route eval --answers`: the cascade's checks (`gateway::verify`)
//! on answers given as text, for offline evaluation against published outcomes.

use std::collections::HashMap;
use std::io::{BufRead as _, Write as _};
use std::path::Path;

use anyhow::Context as _;
use gateway::openai::ChatCompletionRequest;
use gateway::routing::train::{self, LabelledRequest, RouterMetrics};
use gateway::routing::{Router, semantic};
use gateway::verify::{self, Answer, Check, Signals};

/// The route commands' stdin: JSON lines of chat requests, each answered on stdout, in input
/// order, by `answer`'s fields with the line's `id` first. A line that is not a request stops
/// the run with its number.
pub fn map_request_lines(
    mut answer: impl FnMut(
        &serde_json::Value,
        &ChatCompletionRequest,
    ) -> anyhow::Result<serde_json::Value>,
) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (number, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("reading standard input")?;
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("line {}", number + 1);
        let value: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("{}: not JSON", at()))?;
        let request = ChatCompletionRequest::from_json_bytes(line.as_bytes())
            .map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        let mut shown = serde_json::Map::new();
        let id = value.get("id").cloned().unwrap_or(serde_json::Value::Null);
        shown.insert("id".into(), id);
        match answer(&value, &request).with_context(at)? {
            serde_json::Value::Object(fields) => shown.extend(fields),
            other => anyhow::bail!("{}: not an object to write: {other}", at()),
        }
        writeln!(out, "{}", serde_json::Value::Object(shown))?;
    }
    Ok(())
}

/// A score as the route commands print it: four decimals.
pub fn rounded(score: f32) -> f64 {
    (f64::from(score) * 10_000.0).round() / 10_000.0
}

/// Reads `{"id", "messages", "answer"}` lines on stdin; writes `{"id", "score", "escalate",
/// "checks"}` lines in input order (`checks`: the failed checks and what they saw).
pub fn verify_lines(router: &Router) -> anyhow::Result<()> {
    map_request_lines(|value, request| {
        let text = value
            .get("answer")
            .and_then(serde_json::Value::as_str)
            .context("no \"answer\" text")?;
        let prompt_score = router.classify(request).score;
        let signals = read(request, text);
        let checks: Vec<serde_json::Value> = signals
            .failures
            .iter()
            .map(|f| serde_json::json!({"check": f.check.id(), "detail": f.detail}))
            .collect();
        Ok(serde_json::json!({
            "score": rounded(signals.score_with_prompt(prompt_score)),
            "escalate": !signals.failures.is_empty(),
            "checks": checks,
        }))
    })
}

fn read(request: &ChatCompletionRequest, text: &str) -> Signals {
    let question = semantic::last_user_text(request);
    Signals::read(request, &question, &Answer::text(text))
}

/// The cascade on the rows that have an answer in `answers` (`{"id", "weak_answer"}` or
/// `{"id", "answer"}` lines): each row's score combines its out-of-fold prompt score with the
/// checks on its answer. Prints APGR and the saving at 90 % and 95 % adequacy with the cheap
/// call counted on every request, and what the default decision (escalate on a failed check)
/// does.
pub fn eval_cascade(
    answers: &Path,
    rows: &[LabelledRequest],
    prompt_scores: &[f32],
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(answers)
        .with_context(|| format!("reading {}", answers.display()))?;
    let mut by_id = HashMap::new();
    for (number, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let value: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{} line {}: not JSON", answers.display(), number + 1))?;
        let id = value.get("id").and_then(serde_json::Value::as_str);
        let answer = ["weak_answer", "answer"]
            .iter()
            .find_map(|field| value.get(field).and_then(serde_json::Value::as_str));
        if let (Some(id), Some(answer)) = (id, answer) {
            by_id.insert(id.to_owned(), answer.to_owned());
        }
    }
    let mut by_source: std::collections::BTreeMap<&str, Vec<(f32, bool, bool)>> =
        Default::default();
    for (row, prompt_score) in rows.iter().zip(prompt_scores) {
        let Some(answer) = by_id.get(&row.id).filter(|_| row.measured) else {
            continue;
        };
        let signals = read(&row.request, answer);
        let score = signals.score_with_prompt(*prompt_score);
        by_source.entry(&row.source).or_default().push((
            score,
            !row.needs_strong,
            !signals.failures.is_empty(),
        ));
    }
    anyhow::ensure!(
        !by_source.is_empty(),
        "no labelled row of the data has an answer in {}",
        answers.display()
    );
    println!(
        "cascade: the cheap model answers first; checks ({}) on its answer, with the out-of-fold prompt score, order the escalations",
        Check::ALL.map(Check::id).join(", ")
    );
    println!(
        "{:<12} {:>6} {:>8} {:>6} {:>10} {:>10} {:>10} {:>11}",
        "source", "n", "weak_ok", "APGR", "saving@90", "saving@95", "escalated", "adequacy"
    );
    for (source, items) in &by_source {
        let pairs: Vec<(f32, bool)> = items.iter().map(|(s, ok, _)| (*s, *ok)).collect();
        let m: RouterMetrics = train::metrics(&pairs);
        let n = items.len() as f64;
        let escalated = items.iter().filter(|(_, _, e)| *e).count() as f64;
        let adequate = items.iter().filter(|(_, ok, e)| *ok || *e).count() as f64;
        println!(
            "{:<12} {:>6} {:>8.3} {:>6.3} {:>9.1}% {:>9.1}% {:>9.1}% {:>10.1}%",
            source,
            items.len(),
            m.weak_ok,
            m.apgr,
            train::cascade_saving(&pairs, 0.90) * 100.0,
            train::cascade_saving(&pairs, 0.95) * 100.0,
            escalated / n * 100.0,
            adequate / n * 100.0,
        );
    }
    println!(
        "default decision: escalate when a check fails (score >= {:.3}); savings count the cheap call on every request (1/{} of the strong price) and the strong one on each escalation",
        verify::ESCALATE_AT,
        train::PRICE_RATIO
    );
    Ok(())
}

/// Whether a score means the same across sources: the measured rows cut into five bins by the
/// pooled score (equal counts), and per bin and source the share that needed the strong model.
/// Comparable scores give each bin about the same share in every source.
pub fn print_reliability(rows: &[LabelledRequest], scores: &[f32]) {
    let mut measured: Vec<(f32, &str, bool)> = rows
        .iter()
        .zip(scores)
        .filter(|(row, _)| row.measured)
        .map(|(row, score)| (*score, row.source.as_str(), row.needs_strong))
        .collect();
    if measured.len() < 5 {
        return;
    }
    measured.sort_by(|a, b| a.0.total_cmp(&b.0));
    let sources: std::collections::BTreeSet<&str> = measured.iter().map(|m| m.1).collect();
    println!("needs the strong model, by score bin (pooled quintiles) and source:");
    print!("{:<18}", "score");
    for source in &sources {
        print!(" {source:>14}");
    }
    println!();
    let bins = 5;
    for bin in 0..bins {
        let part = &measured[bin * measured.len() / bins..(bin + 1) * measured.len() / bins];
        let (low, high) = (part[0].0, part[part.len() - 1].0);
        print!("{:<18}", format!("{low:.3}–{high:.3}"));
        for source in &sources {
            let mine: Vec<bool> = part
                .iter()
                .filter(|m| m.1 == *source)
                .map(|m| m.2)
                .collect();
            if mine.is_empty() {
                print!(" {:>14}", "—");
            } else {
                let share = mine.iter().filter(|s| **s).count() as f64 / mine.len() as f64;
                print!(
                    " {:>14}",
                    format!("{:.0} % of {}", share * 100.0, mine.len())
                );
            }
        }
        println!();
    }
}
