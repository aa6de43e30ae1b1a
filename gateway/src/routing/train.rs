//! Training and evaluation of the difficulty classifier on labelled prompts
//! (`../shared/router-eval/dev.jsonl`): logistic regression fitted by full-batch Adam with L2,
//! deterministic from start to end, and the router metrics of `router-eval/README.md` (APGR,
//! CPT80, saving at 95 % adequacy), per source and macro-averaged, on out-of-fold scores.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::classifier::{BUCKETS, DENSE, Features, PRIOR_DENSE, Weights, extract, sigmoid};
use crate::openai::ChatCompletionRequest;

/// One labelled prompt.
pub struct Example {
    pub id: String,
    pub source: String,
    pub features: Features,
    /// True when the weak model was not enough: the prompt needs the strong one.
    pub needs_strong: bool,
    /// Measured outcome (`weak_ok`), as opposed to a source's coarse `tier_prior`. Only measured
    /// rows are scored; prior rows only teach the classifier what real traffic looks like
    /// (code, open-ended hard questions), which the measured sources lack.
    pub measured: bool,
}

#[derive(Deserialize)]
struct Row {
    id: String,
    source: String,
    messages: Vec<Value>,
    weak_ok: Option<bool>,
    #[serde(default)]
    tier_prior: Option<String>,
    #[serde(default)]
    weight: Option<f32>,
}

/// A labelled row, before any features are read.
pub struct LabelledRequest {
    pub id: String,
    pub source: String,
    pub request: ChatCompletionRequest,
    pub needs_strong: bool,
    pub measured: bool,
    /// How many labelled rows this one counts as when training (1 unless the row says).
    pub weight: f32,
}

/// Reads the rows of a `dev.jsonl` that carry a label: a measured `weak_ok`, or a `tier_prior`.
pub fn load_examples(jsonl: &str) -> Result<Vec<Example>, String> {
    Ok(load_requests(jsonl)?
        .into_iter()
        .map(|row| Example {
            features: extract(&row.request),
            id: row.id,
            source: row.source,
            needs_strong: row.needs_strong,
            measured: row.measured,
        })
        .collect())
}

pub fn load_requests(jsonl: &str) -> Result<Vec<LabelledRequest>, String> {
    let mut examples = Vec::new();
    for (number, line) in jsonl
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let row: Row =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", number + 1))?;
        let (needs_strong, measured) = match (row.weak_ok, row.tier_prior.as_deref()) {
            (Some(weak_ok), _) => (!weak_ok, true),
            (None, Some(prior)) => (prior == "strong", false),
            (None, None) => continue,
        };
        let body = serde_json::json!({"messages": row.messages});
        let request = ChatCompletionRequest::from_json_bytes(body.to_string().as_bytes())
            .map_err(|e| format!("line {}: {e}", number + 1))?;
        examples.push(LabelledRequest {
            id: row.id,
            source: row.source,
            request,
            needs_strong,
            measured,
            weight: row
                .weight
                .filter(|w| w.is_finite() && *w > 0.0)
                .unwrap_or(1.0),
        });
    }
    Ok(examples)
}

#[derive(Debug, Clone, Copy)]
pub struct TrainSettings {
    pub iterations: usize,
    pub learning_rate: f32,
    pub l2: f32,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            iterations: 200,
            learning_rate: 0.05,
            l2: 1e-2,
        }
    }
}

/// Fits the weights on `examples`. Features that never vary in them keep their designed prior
/// ([`PRIOR_DENSE`]): the data cannot say anything about them.
pub fn train(examples: &[&Example], settings: TrainSettings) -> Weights {
    let mut weights = Weights::zeros();
    let constant: Vec<bool> = (0..DENSE)
        .map(|i| {
            examples
                .windows(2)
                .all(|pair| pair[0].features.dense[i] == pair[1].features.dense[i])
        })
        .collect();
    for i in 0..DENSE {
        if constant[i] {
            weights.dense[i] = PRIOR_DENSE[i];
        }
    }
    let n = examples.len().max(1) as f32;
    let params = 1 + DENSE + BUCKETS;
    let (mut m, mut v) = (vec![0f32; params], vec![0f32; params]);
    let (beta1, beta2, epsilon) = (0.9f32, 0.999f32, 1e-8f32);
    for step in 1..=settings.iterations {
        let mut gradient = vec![0f32; params];
        for example in examples {
            let error = sigmoid(weights.logit(&example.features))
                - f32::from(u8::from(example.needs_strong));
            gradient[0] += error;
            for (i, x) in example.features.dense.iter().enumerate() {
                gradient[1 + i] += error * x;
            }
            for &(bucket, x) in &example.features.hashed {
                gradient[1 + DENSE + bucket as usize] += error * x;
            }
        }
        let (bias_correction1, bias_correction2) =
            (1.0 - beta1.powi(step as i32), 1.0 - beta2.powi(step as i32));
        for p in 0..params {
            if (1..=DENSE).contains(&p) && constant[p - 1] {
                continue;
            }
            let current = match p {
                0 => weights.bias,
                p if p <= DENSE => weights.dense[p - 1],
                p => weights.hashed[p - 1 - DENSE],
            };
            let regularisation = if p == 0 { 0.0 } else { settings.l2 * current };
            let g = gradient[p] / n + regularisation;
            m[p] = beta1 * m[p] + (1.0 - beta1) * g;
            v[p] = beta2 * v[p] + (1.0 - beta2) * g * g;
            let update = settings.learning_rate * (m[p] / bias_correction1)
                / ((v[p] / bias_correction2).sqrt() + epsilon);
            match p {
                0 => weights.bias -= update,
                p if p <= DENSE => weights.dense[p - 1] -= update,
                p => weights.hashed[p - 1 - DENSE] -= update,
            }
        }
    }
    weights
}

/// The fold of an example: a stable hash of its id, so folds never change between runs.
pub fn fold_of(id: &str, folds: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash % folds
}

/// Out-of-fold scores: each example scored by weights trained without its fold.
/// `fold_of_example` gives each example's fold (see `semantic_train::folds`, which keeps
/// near-duplicates together).
pub fn cross_validated_scores(
    examples: &[Example],
    fold_of_example: &[u64],
    folds: u64,
    settings: TrainSettings,
) -> Vec<f32> {
    let mut scores = vec![0f32; examples.len()];
    for fold in 0..folds {
        let training: Vec<&Example> = examples
            .iter()
            .zip(fold_of_example)
            .filter(|(_, f)| **f != fold)
            .map(|(e, _)| e)
            .collect();
        let weights = train(&training, settings);
        for (i, example) in examples.iter().enumerate() {
            if fold_of_example[i] == fold {
                scores[i] = sigmoid(weights.logit(&example.features));
            }
        }
    }
    scores
}

/// The router metrics of one set of (score, weak_ok) pairs, as `score_router.py` computes them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouterMetrics {
    pub n: usize,
    pub weak_ok: f64,
    pub apgr: f64,
    pub cpt80: f64,
    pub strong_at_95: f64,
    pub saving_at_95: f64,
}

pub const PRICE_RATIO: f64 = 16.7;

/// A cascade's saving at `target` adequacy: the cheap model answers every request (1/16.7 of the
/// strong price) and the highest-scored ones are escalated until adequacy reaches the target;
/// saving = 1 − (1/16.7 + share escalated). Negative when the cascade costs more than the
/// strong model alone.
pub fn cascade_saving(items: &[(f32, bool)], target: f64) -> f64 {
    let n = items.len();
    if n == 0 {
        return 0.0;
    }
    let mut sorted: Vec<(f32, bool)> = items.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut adequate = sorted.iter().filter(|(_, ok)| *ok).count();
    let mut escalated = 0;
    for (_, ok) in &sorted {
        if adequate as f64 / n as f64 >= target {
            break;
        }
        escalated += 1;
        if !ok {
            adequate += 1;
        }
    }
    1.0 - (1.0 / PRICE_RATIO + escalated as f64 / n as f64)
}

pub fn metrics(items: &[(f32, bool)]) -> RouterMetrics {
    let n = items.len();
    let mut sorted: Vec<(f32, bool)> = items.to_vec();
    // Stable sort by descending score, as Python's sorted() with key=-score.
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut adequate = sorted.iter().filter(|(_, ok)| *ok).count() as f64;
    let mut adequacy = vec![adequate / n as f64];
    for (_, ok) in &sorted {
        if !ok {
            adequate += 1.0;
        }
        adequacy.push(adequate / n as f64);
    }
    let weak = adequacy[0];
    let gap = 1.0 - weak;
    let pgr: Vec<f64> = adequacy
        .iter()
        .map(|a| if gap > 0.0 { (a - weak) / gap } else { 1.0 })
        .collect();
    let grid: Vec<f64> = (0..=100)
        .map(|i| pgr[(i as f64 * n as f64 / 100.0).round_ties_even() as usize])
        .collect();
    let apgr = (0..100).map(|i| (grid[i] + grid[i + 1]) / 2.0).sum::<f64>() / 100.0;
    let cpt80 = pgr.iter().position(|p| *p >= 0.8).unwrap_or(n) as f64 / n as f64;
    let k95 = adequacy.iter().position(|a| *a >= 0.95).unwrap_or(n) as f64 / n as f64;
    RouterMetrics {
        n,
        weak_ok: weak,
        apgr,
        cpt80,
        strong_at_95: k95,
        saving_at_95: 1.0 - (k95 + (1.0 - k95) / PRICE_RATIO),
    }
}

/// Metrics per measured source (sorted by name) and their macro average.
pub fn report(
    examples: &[Example],
    scores: &[f32],
) -> (BTreeMap<String, RouterMetrics>, RouterMetrics) {
    report_labels(
        examples
            .iter()
            .map(|e| (e.source.as_str(), e.measured, e.needs_strong)),
        scores,
    )
}

/// [`report`] over (source, measured, needs strong) labels, for any model's examples.
pub fn report_labels<'a>(
    labels: impl Iterator<Item = (&'a str, bool, bool)>,
    scores: &[f32],
) -> (BTreeMap<String, RouterMetrics>, RouterMetrics) {
    let mut by_source: BTreeMap<String, Vec<(f32, bool)>> = BTreeMap::new();
    for ((source, measured, needs_strong), score) in labels.zip(scores) {
        if !measured {
            continue;
        }
        by_source
            .entry(source.to_owned())
            .or_default()
            .push((*score, !needs_strong));
    }
    let per_source: BTreeMap<String, RouterMetrics> = by_source
        .iter()
        .map(|(s, items)| (s.clone(), metrics(items)))
        .collect();
    let count = per_source.len().max(1) as f64;
    let mean = |f: fn(&RouterMetrics) -> f64| per_source.values().map(f).sum::<f64>() / count;
    let macro_average = RouterMetrics {
        n: per_source.values().map(|m| m.n).sum(),
        weak_ok: mean(|m| m.weak_ok),
        apgr: mean(|m| m.apgr),
        cpt80: mean(|m| m.cpt80),
        strong_at_95: mean(|m| m.strong_at_95),
        saving_at_95: mean(|m| m.saving_at_95),
    };
    (per_source, macro_average)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_the_reference_definitions() {
        // A perfect ranking of 2 hard prompts among 10.
        let items: Vec<(f32, bool)> = (0..10).map(|i| (1.0 - i as f32 / 10.0, i >= 2)).collect();
        let perfect = metrics(&items);
        assert_eq!(perfect.weak_ok, 0.8);
        assert_eq!(perfect.cpt80, 0.2);
        assert_eq!(perfect.strong_at_95, 0.2);
        assert!((perfect.saving_at_95 - (1.0 - (0.2 + 0.8 / 16.7))).abs() < 1e-12);
        assert!(perfect.apgr > 0.85);
        // The worst ranking puts the hard prompts last.
        let reversed: Vec<(f32, bool)> = items.iter().map(|(s, ok)| (-s, *ok)).collect();
        assert!(metrics(&reversed).apgr < 0.2);
    }

    #[test]
    fn training_learns_a_separable_signal() {
        let request = |text: &str| {
            let body = serde_json::json!({"messages": [{"role": "user", "content": text}]});
            extract(&ChatCompletionRequest::from_json_bytes(body.to_string().as_bytes()).unwrap())
        };
        let examples: Vec<Example> = (0..40)
            .map(|i| {
                let hard = i % 2 == 0;
                let text = if hard {
                    format!("prove theorem number {i} about primes")
                } else {
                    format!("say hello to friend {i}")
                };
                Example {
                    id: format!("x{i}"),
                    source: "toy".into(),
                    features: request(&text),
                    needs_strong: hard,
                    measured: true,
                }
            })
            .collect();
        let fold_of_example: Vec<u64> = examples.iter().map(|e| fold_of(&e.id, 5)).collect();
        let scores = cross_validated_scores(
            &examples,
            &fold_of_example,
            5,
            TrainSettings {
                iterations: 200,
                ..TrainSettings::default()
            },
        );
        let (_, macro_average) = report(&examples, &scores);
        // A perfect ranking with half the prompts hard scores 0.75.
        assert!(macro_average.apgr > 0.74, "{macro_average:?}");
    }
}
