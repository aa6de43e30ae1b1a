//! Training and cross-validation of the semantic router's head: L2-regularised logistic
//! regression over the prompt's embedding and its request-shape features, fitted by full-batch
//! Adam (deterministic: no sampling, a fixed order), with folds that keep near-duplicate prompts
//! together, and default thresholds calibrated on the out-of-fold scores.

use super::classifier::{DENSE, PRIOR_DENSE, sigmoid};
use super::semantic::{self, EmbeddingTable, HEAD_VERSION, Head, NeighbourWeight, Neighbours};
use super::thresholds::Thresholds;
use super::train::{LabelledRequest, fold_of};

pub struct SemanticExample {
    pub id: String,
    pub source: String,
    /// The embedding (scaled as the head sees it), then the request-shape features, the
    /// neighbour input (0 without an outcome memory), and the request-shape features again for a
    /// free-form prompt (0 for a multiple-choice one): see [`semantic::free_form`].
    pub x: Vec<f32>,
    pub needs_strong: bool,
    pub measured: bool,
    /// How many rows this one counts as in the loss.
    pub weight: f32,
    /// Hashed word 4-grams of the prompt, sorted, for near-duplicate detection.
    shingles: Vec<u64>,
}

/// Inputs after the embedding: the request-shape features, the neighbour input, and the
/// request-shape features of free-form prompts.
pub const DENSE_INPUTS: usize = DENSE + 1 + DENSE;

/// The examples of `rows`, their neighbour input read from `memory` (which must not hold them:
/// see [`outcome_memory`] for its own rows).
pub fn examples(
    table: &EmbeddingTable,
    rows: &[LabelledRequest],
    memory: Option<&Neighbours>,
) -> Vec<SemanticExample> {
    let mut examples: Vec<SemanticExample> = rows
        .iter()
        .map(|row| {
            let features = semantic::features(table, &row.request);
            let mut x = features.embedding;
            x.extend_from_slice(&features.dense);
            x.push(0.0);
            let free_form = semantic::free_form(&features.dense);
            x.extend(features.dense.iter().map(|d| d * free_form));
            SemanticExample {
                id: row.id.clone(),
                source: row.source.clone(),
                x,
                needs_strong: row.needs_strong,
                measured: row.measured,
                weight: row.weight,
                shingles: shingles(&semantic::last_user_text(&row.request)),
            }
        })
        .collect();
    if let Some(memory) = memory {
        // All rows at once: one matrix product rather than a scan of the memory per row.
        let rates = memory.rates(&unit_embeddings(table, &examples));
        set_neighbour_inputs(table, &mut examples, rates);
    }
    examples
}

/// The examples' embeddings at unit length, one after another (as the memory compares them).
fn unit_embeddings(table: &EmbeddingTable, examples: &[SemanticExample]) -> Vec<f32> {
    let dims = table.dims();
    let scale = semantic::embedding_scale(dims);
    examples
        .iter()
        .flat_map(|e| e.x[..dims].iter().map(move |x| x / scale))
        .collect()
}

fn set_neighbour_inputs(table: &EmbeddingTable, examples: &mut [SemanticExample], rates: Vec<f32>) {
    let dims = table.dims();
    for (example, rate) in examples.iter_mut().zip(rates) {
        let multiple_choice = example.x[dims + super::classifier::MULTIPLE_CHOICE];
        example.x[dims + DENSE] = semantic::neighbours::neighbour_input(rate, multiple_choice);
    }
}

/// Published outcomes as an outcome memory (every row with its outcome) and as training
/// examples, each with its neighbour input read among the other rows (leave-one-out).
pub fn outcome_memory(
    table: &EmbeddingTable,
    rows: &[LabelledRequest],
    k: usize,
) -> (Neighbours, Vec<SemanticExample>) {
    let mut examples = examples(table, rows, None);
    let dims = table.dims();
    let unit: Vec<Vec<f32>> = unit_embeddings(table, &examples)
        .chunks_exact(dims)
        .map(<[f32]>::to_vec)
        .collect();
    let outcomes: Vec<bool> = examples.iter().map(|e| e.needs_strong).collect();
    let memory = Neighbours::from_rows(&table.sha256, dims, &unit, &outcomes, k);
    set_neighbour_inputs(table, &mut examples, memory.rates_leave_one_out());
    (memory, examples)
}

fn shingles(text: &str) -> Vec<u64> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut out: Vec<u64> = words
        .windows(4.min(words.len().max(1)))
        .map(|window| {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for byte in window.join(" ").bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            hash
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn jaccard(a: &[u64], b: &[u64]) -> f32 {
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - both;
    if union == 0 {
        0.0
    } else {
        both as f32 / union as f32
    }
}

/// Prompts sharing at least half their word 4-grams (the same passage, a question asked twice)
/// are one group; groups join transitively. Returns each example's group (its first member).
pub fn near_duplicate_groups(examples: &[SemanticExample]) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..examples.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for i in 0..examples.len() {
        for j in i + 1..examples.len() {
            if jaccard(&examples[i].shingles, &examples[j].shingles) >= 0.5 {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    (0..examples.len()).map(|i| root(&mut parent, i)).collect()
}

/// The fold of every example: that of its group's first member, so near-duplicates never
/// straddle folds.
pub fn folds(examples: &[SemanticExample], folds: u64) -> Vec<u64> {
    near_duplicate_groups(examples)
        .into_iter()
        .map(|group| fold_of(&examples[group].id, folds))
        .collect()
}

#[derive(Debug, Clone, Copy)]
pub struct HeadSettings {
    pub iterations: usize,
    pub learning_rate: f32,
    pub l2: f32,
}

impl Default for HeadSettings {
    fn default() -> Self {
        Self {
            iterations: 300,
            learning_rate: 0.05,
            l2: 1e-2,
        }
    }
}

/// Fits bias and weights. Request-shape features that never vary in the examples keep their
/// designed prior ([`PRIOR_DENSE`]): the data cannot say anything about them.
pub fn fit(examples: &[&SemanticExample], settings: HeadSettings) -> (f32, Vec<f32>) {
    let Some(first) = examples.first() else {
        return (0.0, Vec::new());
    };
    let width = first.x.len();
    let dims = width - DENSE_INPUTS;
    let fixed: Vec<Option<f32>> = (0..width)
        .map(|i| {
            let constant = examples.iter().all(|e| e.x[i] == first.x[i]);
            (i >= dims && constant).then(|| PRIOR_DENSE.get(i - dims).copied().unwrap_or(0.0))
        })
        .collect();
    let n: f32 = examples.iter().map(|e| e.weight).sum();
    // Request-shape features are fitted standardised (centre 0, spread 1): their raw scales
    // differ by 100× (a log length moves by 0.03 between two maths questions, a flag by 1), and
    // one L2 strength would otherwise pin the small ones to nothing. The weights are mapped back
    // to raw inputs at the end, so the head file and the serving path stay as they are.
    let (centre, spread): (Vec<f32>, Vec<f32>) = (0..width)
        .map(|i| {
            if i < dims || fixed[i].is_some() {
                return (0.0, 1.0);
            }
            let mean = examples.iter().map(|e| e.weight * e.x[i]).sum::<f32>() / n;
            let variance = examples
                .iter()
                .map(|e| e.weight * (e.x[i] - mean).powi(2))
                .sum::<f32>()
                / n;
            (mean, variance.sqrt().max(1e-3))
        })
        .unzip();
    let standardised: Vec<Vec<f32>> = examples
        .iter()
        .map(|e| {
            e.x.iter()
                .enumerate()
                .map(|(i, x)| (x - centre[i]) / spread[i])
                .collect()
        })
        .collect();
    let mut w: Vec<f32> = fixed.iter().map(|f| f.unwrap_or(0.0)).collect();
    let mut bias = 0f32;
    let (mut m, mut v) = (vec![0f32; width + 1], vec![0f32; width + 1]);
    let (beta1, beta2, epsilon) = (0.9f32, 0.999f32, 1e-8f32);
    let mut gradient = vec![0f32; width + 1];
    for step in 1..=settings.iterations {
        gradient.iter_mut().for_each(|g| *g = 0.0);
        for (example, x) in examples.iter().zip(&standardised) {
            let logit = bias + w.iter().zip(x).map(|(w, x)| w * x).sum::<f32>();
            let error =
                (sigmoid(logit) - f32::from(u8::from(example.needs_strong))) * example.weight;
            gradient[0] += error;
            for (g, x) in gradient[1..].iter_mut().zip(x) {
                *g += error * x;
            }
        }
        let (c1, c2) = (1.0 - beta1.powi(step as i32), 1.0 - beta2.powi(step as i32));
        for p in 0..=width {
            if p > 0 && fixed[p - 1].is_some() {
                continue;
            }
            let current = if p == 0 { bias } else { w[p - 1] };
            let regularisation = if p == 0 { 0.0 } else { settings.l2 * current };
            let g = gradient[p] / n + regularisation;
            m[p] = beta1 * m[p] + (1.0 - beta1) * g;
            v[p] = beta2 * v[p] + (1.0 - beta2) * g * g;
            let update = settings.learning_rate * (m[p] / c1) / ((v[p] / c2).sqrt() + epsilon);
            if p == 0 {
                bias -= update;
            } else {
                w[p - 1] -= update;
            }
        }
    }
    // Back to raw inputs: w·(x − c)/s = (w/s)·x − Σ w·c/s.
    for i in 0..width {
        bias -= w[i] * centre[i] / spread[i];
        w[i] /= spread[i];
    }
    (bias, w)
}

fn score(bias: f32, w: &[f32], x: &[f32]) -> f32 {
    sigmoid(bias + w.iter().zip(x).map(|(w, x)| w * x).sum::<f32>())
}

/// Out-of-fold scores: each example scored by a head trained without its fold (and so without
/// any near-duplicate of it). `extra` examples (outcomes published apart from the data, such as
/// `mmlu-extra.jsonl`) are in every training fold and never scored.
pub fn cross_validated_scores(
    examples: &[SemanticExample],
    extra: &[SemanticExample],
    folds: u64,
    settings: HeadSettings,
) -> Vec<f32> {
    let fold_of_example = self::folds(examples, folds);
    let mut scores = vec![0f32; examples.len()];
    for fold in 0..folds {
        let training: Vec<&SemanticExample> = examples
            .iter()
            .zip(&fold_of_example)
            .filter(|(_, f)| **f != fold)
            .map(|(e, _)| e)
            .chain(extra)
            .collect();
        let (bias, w) = fit(&training, settings);
        for (i, example) in examples.iter().enumerate() {
            if fold_of_example[i] == fold {
                scores[i] = score(bias, &w, &example.x);
            }
        }
    }
    scores
}

/// Every example scored by one head fit on `training` alone (disjoint from them, so no fold is
/// needed): how a router trained on other published outcomes does on these.
pub fn scores_from(
    training: &[SemanticExample],
    examples: &[SemanticExample],
    settings: HeadSettings,
) -> Vec<f32> {
    let all: Vec<&SemanticExample> = training.iter().collect();
    let (bias, w) = fit(&all, settings);
    examples.iter().map(|e| score(bias, &w, &e.x)).collect()
}

/// Marks examples as training-only (never scored or calibrated on), each counting `weight`.
pub fn training_only(mut examples: Vec<SemanticExample>, weight: f32) -> Vec<SemanticExample> {
    for example in &mut examples {
        example.measured = false;
        example.weight *= weight;
    }
    examples
}

/// The score above which the fewest prompts go to the strong model while `target` of the
/// measured prompts are still answered well (the cheap answers that were fine, plus every
/// strong one), pooled over sources.
pub fn threshold_at_adequacy(examples: &[SemanticExample], scores: &[f32], target: f64) -> f32 {
    let mut measured: Vec<(f32, bool)> = examples
        .iter()
        .zip(scores)
        .filter(|(e, _)| e.measured)
        .map(|(e, s)| (*s, !e.needs_strong))
        .collect();
    if measured.is_empty() {
        return 0.5;
    }
    measured.sort_by(|a, b| b.0.total_cmp(&a.0));
    let n = measured.len() as f64;
    let mut adequate = measured.iter().filter(|(_, ok)| *ok).count() as f64;
    if adequate / n >= target {
        return 1.0;
    }
    for k in 0..measured.len() {
        if !measured[k].1 {
            adequate += 1.0;
        }
        if adequate / n >= target {
            // Between the last strong score and the next cheap one.
            let next = measured.get(k + 1).map_or(0.0, |s| s.0);
            return (measured[k].0 + next) / 2.0;
        }
    }
    0.0
}

/// Strong at the 95 % adequacy point (counting the middle tier as cheap, so the mix served
/// reaches 95 % even if the middle tier were no better than the cheap one). The middle tier takes
/// the next prompts down to the 98 % point: those a strong model would still have rescued most.
pub fn calibrate(examples: &[SemanticExample], scores: &[f32]) -> Thresholds {
    let strong = threshold_at_adequacy(examples, scores, 0.95);
    let standard = threshold_at_adequacy(examples, scores, 0.98).min(strong);
    Thresholds { standard, strong }
}

/// Trains the shipped head on every example, with thresholds calibrated on cross-validated
/// scores. Returns the head and those scores. `memory` is the outcome memory the examples'
/// neighbour inputs were read from, if any.
pub fn train_head(
    table: &EmbeddingTable,
    examples: &[SemanticExample],
    extra: &[SemanticExample],
    memory: Option<&Neighbours>,
    folds: u64,
    settings: HeadSettings,
) -> (Head, Vec<f32>) {
    let scores = cross_validated_scores(examples, extra, folds, settings);
    let thresholds = calibrate(examples, &scores);
    let all: Vec<&SemanticExample> = examples.iter().chain(extra).collect();
    let (bias, w) = fit(&all, settings);
    let dims = table.dims();
    let head = Head {
        version: HEAD_VERSION,
        embeddings_sha256: table.sha256.clone(),
        bias,
        embedding: w[..dims].to_vec(),
        dense: w[dims..dims + DENSE].to_vec(),
        dense_free_form: w[dims + DENSE + 1..].to_vec(),
        thresholds,
        neighbours: memory.map(|memory| NeighbourWeight {
            sha256: memory.sha256.clone(),
            weight: w[dims + DENSE],
        }),
        trained_on: format!(
            "llm-gateway route train: {} prompts ({} measured) and {} published outcomes for training only{}, {settings:?}, thresholds from {folds}-fold cross-validated scores",
            examples.len(),
            examples.iter().filter(|e| e.measured).count(),
            extra.len(),
            memory.map_or(String::new(), |m| format!(
                ", an outcome memory of {} rows",
                m.len()
            ))
        ),
    };
    (head, scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(id: &str, text: &str, x: Vec<f32>, needs_strong: bool) -> SemanticExample {
        SemanticExample {
            id: id.into(),
            source: "toy".into(),
            x,
            needs_strong,
            measured: true,
            weight: 1.0,
            shingles: shingles(text),
        }
    }

    #[test]
    fn near_duplicates_share_a_fold() {
        let dense = vec![0.0; DENSE_INPUTS];
        let with = |v: f32| {
            let mut x = vec![v];
            x.extend(&dense);
            x
        };
        let passage = "This question refers to the following information about the history of the united states in the nineteenth century";
        let examples = vec![
            example(
                "a",
                &format!("{passage} What happened first?"),
                with(0.0),
                false,
            ),
            example(
                "b",
                "Completely different words about cooking pasta at home tonight",
                with(0.0),
                false,
            ),
            example(
                "c",
                &format!("{passage} Which president signed it?"),
                with(0.0),
                true,
            ),
        ];
        let groups = near_duplicate_groups(&examples);
        assert_eq!(groups, vec![0, 1, 0]);
        for k in [3, 5, 7] {
            let f = folds(&examples, k);
            assert_eq!(f[0], f[2]);
        }
    }

    #[test]
    fn learns_a_topic_and_calibrates_thresholds() {
        // The first embedding dimension says "hard"; noise elsewhere.
        let examples: Vec<SemanticExample> = (0..60)
            .map(|i| {
                let hard = i % 3 == 0;
                let mut x = vec![if hard { 1.0 } else { -1.0 }, ((i * 7) % 5) as f32 / 5.0];
                x.extend(vec![0.0; DENSE_INPUTS]);
                example(
                    &format!("x{i}"),
                    &format!("prompt number {i} {}", i * 31),
                    x,
                    hard,
                )
            })
            .collect();
        let scores = cross_validated_scores(&examples, &[], 5, HeadSettings::default());
        for (e, s) in examples.iter().zip(&scores) {
            assert_eq!(*s > 0.5, e.needs_strong, "{} scored {s}", e.id);
        }
        let thresholds = calibrate(&examples, &scores);
        // 40 of 60 are fine on the cheap model: 95 % adequacy needs 17 of the 20 hard ones strong,
        // and a perfect ranking sends exactly those; 98 % needs 19.
        let strong_calls = scores.iter().filter(|s| **s >= thresholds.strong).count();
        let middle_calls = scores.iter().filter(|s| **s >= thresholds.standard).count();
        assert_eq!((strong_calls, middle_calls), (17, 19), "{thresholds:?}");
        // Request-shape features constant in the data keep their priors.
        let all: Vec<&SemanticExample> = examples.iter().collect();
        let (_, w) = fit(&all, HeadSettings::default());
        assert_eq!(&w[2..2 + DENSE], &PRIOR_DENSE[..]);
        assert!(w[2 + DENSE..].iter().all(|w| *w == 0.0));
        // Deterministic.
        assert_eq!(
            fit(&all, HeadSettings::default()),
            fit(&all, HeadSettings::default())
        );
    }
}
