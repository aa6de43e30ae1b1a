//! The outcome memory: embeddings of prompts whose outcome for the cheap and the strong model was
//! published (`mmlu-extra.jsonl`), with that outcome. A prompt's neighbour rate is the share of
//! its `k` nearest remembered prompts that needed the strong model: the similarity-weighted
//! routing of RouteLLM, reduced to one input of the head. The head decides how much it counts
//! (and only for the kinds of prompt the memory holds; see [`neighbour_input`]).
//!
//! File `router/neighbours.bin`: magic, version, the SHA-256 of the embedding table the rows were
//! embedded with, row count, dimensions, `k`, a f32 scale per row, the int8 values, one byte per
//! row (1: needed the strong model), and the SHA-256 of all before. 11,665 rows of 128
//! dimensions take 1.5 MB on disk and 6 MB in memory (as f32: scanning int8 rows was slower on
//! baseline x86-64, 0.76 ms against 0.44 ms p50), and add about 0.25 ms to a multiple-choice
//! request (see `benches/classifier.rs`).

use std::path::Path;

use sha2::{Digest, Sha256};

use super::files::{ModelError, read};

pub const NEIGHBOURS_MAGIC: &[u8; 8] = b"LGWNBR\r\n";
pub const NEIGHBOURS_VERSION: u32 = 1;
pub const NEIGHBOURS_FILE: &str = "neighbours.bin";

/// How many neighbours vote: chosen by leave-one-out on the memory itself (25: 0.617, 50: 0.622,
/// 100: 0.626, 200: 0.625, 400: 0.621 APGR on mmlu-extra), never on the data that judges it.
pub const DEFAULT_K: usize = 100;

pub struct Neighbours {
    dims: usize,
    /// Row-major, `dims` per row, unit length (as stored, after int8 rounding).
    rows: Vec<f32>,
    needs_strong: Vec<bool>,
    k: usize,
    /// SHA-256 of the embedding table the rows were embedded with.
    pub table_sha256: String,
    /// SHA-256 of the file, which the head names.
    pub sha256: String,
    /// The file's bytes, kept for a memory built in training (to be written as it was hashed).
    encoded: Option<Vec<u8>>,
}

impl Neighbours {
    /// The memory as built from embeddings in memory (for training; [`Self::encode`] writes it).
    /// Rows are rounded through int8 exactly as the file stores them, so a memory read back from
    /// its file gives the same rates.
    pub fn from_rows(
        table_sha256: &str,
        dims: usize,
        embeddings: &[Vec<f32>],
        needs_strong: &[bool],
        k: usize,
    ) -> Self {
        let bytes = Self::encode(table_sha256, dims, embeddings, needs_strong, k);
        let mut memory =
            Self::parse(&bytes, Path::new("(in memory)")).expect("a freshly encoded memory parses");
        memory.encoded = Some(bytes);
        memory
    }

    /// The file of a memory built by [`Self::from_rows`] (`None` for one read from a file).
    pub fn encoded(&self) -> Option<&[u8]> {
        self.encoded.as_deref()
    }

    pub fn encode(
        table_sha256: &str,
        dims: usize,
        embeddings: &[Vec<f32>],
        needs_strong: &[bool],
        k: usize,
    ) -> Vec<u8> {
        assert_eq!(embeddings.len(), needs_strong.len(), "one outcome per row");
        let mut out = Vec::new();
        out.extend_from_slice(NEIGHBOURS_MAGIC);
        out.extend_from_slice(&NEIGHBOURS_VERSION.to_le_bytes());
        let mut table = [0u8; 32];
        hex::decode_to_slice(table_sha256, &mut table).unwrap_or_default();
        out.extend_from_slice(&table);
        for n in [embeddings.len(), dims, k] {
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        let mut values = Vec::with_capacity(embeddings.len() * dims);
        for row in embeddings {
            assert_eq!(row.len(), dims, "every row has the table's dimensions");
            let scale = super::table::quantise(row, &mut values);
            out.extend_from_slice(&scale.to_le_bytes());
        }
        out.extend(values);
        out.extend(needs_strong.iter().map(|strong| u8::from(*strong)));
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        out
    }

    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, ModelError> {
        let corrupt = |reason: &str| ModelError::Corrupt {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        if bytes.len() < 12 || &bytes[..8] != NEIGHBOURS_MAGIC {
            return Err(corrupt("not an outcome memory (wrong magic bytes)"));
        }
        let word = |at: usize| {
            bytes
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
        };
        let version = word(8).unwrap_or_default() as u32;
        if version != NEIGHBOURS_VERSION {
            return Err(ModelError::Version {
                path: path.to_owned(),
                found: version,
                expected: NEIGHBOURS_VERSION,
            });
        }
        let header = 12 + 32 + 12;
        if bytes.len() < header + 32 {
            return Err(corrupt("file ends early"));
        }
        let (body, digest) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(body).as_slice() != digest {
            return Err(corrupt("checksum does not match (truncated or altered)"));
        }
        let table_sha256 = hex::encode(&body[12..44]);
        let (count, dims, k) = (
            word(44).unwrap_or_default(),
            word(48).unwrap_or_default(),
            word(52).unwrap_or_default(),
        );
        if count == 0 || dims == 0 || dims > 4096 || k == 0 || count > 1_000_000 {
            return Err(corrupt(&format!(
                "implausible shape {count} x {dims}, k = {k}"
            )));
        }
        if body.len() != header + count * 4 + count * dims + count {
            return Err(corrupt("its length does not match its shape"));
        }
        let scales = &body[header..header + count * 4];
        let values = &body[header + count * 4..header + count * 4 + count * dims];
        let outcomes = &body[header + count * 4 + count * dims..];
        let mut rows = Vec::with_capacity(count * dims);
        for (scale, row) in scales.chunks_exact(4).zip(values.chunks_exact(dims)) {
            let scale = f32::from_le_bytes(scale.try_into().expect("4 bytes"));
            if !scale.is_finite() {
                return Err(corrupt("a row's scale is not finite"));
            }
            rows.extend(row.iter().map(|v| f32::from(*v as i8) * scale));
        }
        if outcomes.iter().any(|b| *b > 1) {
            return Err(corrupt("an outcome is neither 0 nor 1"));
        }
        Ok(Self {
            dims,
            rows,
            needs_strong: outcomes.iter().map(|b| *b == 1).collect(),
            k: k.min(count),
            table_sha256,
            sha256: hex::encode(digest),
            encoded: None,
        })
    }

    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Self::parse(&read(path)?, path)
    }

    pub fn len(&self) -> usize {
        self.needs_strong.len()
    }

    pub fn is_empty(&self) -> bool {
        self.needs_strong.is_empty()
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The share of the `k` remembered prompts most similar to `embedding` (cosine: every row
    /// and the embedding are unit length) that needed the strong model.
    pub fn rate(&self, embedding: &[f32]) -> f32 {
        let mut similarities: Vec<(f32, bool)> = self
            .rows
            .chunks_exact(self.dims)
            .zip(&self.needs_strong)
            .map(|(row, strong)| (dot(row, embedding), *strong))
            .collect();
        self.vote(&mut similarities)
    }

    /// Every remembered prompt's rate among the others (leave-one-out): the input the head is
    /// trained on for the memory's own rows, so no row votes for itself.
    pub fn rates_leave_one_out(&self) -> Vec<f32> {
        self.rates_of(&self.rows, true)
    }

    /// The rate of each of many unit-length embeddings (row-major, `dims` each).
    pub fn rates(&self, embeddings: &[f32]) -> Vec<f32> {
        self.rates_of(embeddings, false)
    }

    /// One matrix product per block of queries (`matrixmultiply`, optimised even in debug
    /// builds): 11,665 queries take seconds instead of minutes. With `memory_itself`, query `i`
    /// is row `i` of the memory and does not vote for itself.
    fn rates_of(&self, queries: &[f32], memory_itself: bool) -> Vec<f32> {
        const BLOCK: usize = 512;
        let (n, dims) = (self.len(), self.dims);
        let count = queries.len() / dims;
        let memory = &self.rows;
        let mut rates = Vec::with_capacity(count);
        let mut products = vec![0f32; BLOCK * n];
        let mut similarities = Vec::with_capacity(n);
        for start in (0..count).step_by(BLOCK) {
            let rows = BLOCK.min(count - start);
            // SAFETY: the block is `rows × dims` inside `queries`, the memory `n × dims` (read
            // transposed through its strides), the output `rows × n` inside `products`.
            unsafe {
                matrixmultiply::sgemm(
                    rows,
                    dims,
                    n,
                    1.0,
                    queries[start * dims..].as_ptr(),
                    dims as isize,
                    1,
                    memory.as_ptr(),
                    1,
                    dims as isize,
                    0.0,
                    products.as_mut_ptr(),
                    n as isize,
                    1,
                );
            }
            for r in 0..rows {
                let own = memory_itself.then_some(start + r);
                similarities.clear();
                similarities.extend(
                    products[r * n..(r + 1) * n]
                        .iter()
                        .zip(&self.needs_strong)
                        .enumerate()
                        .filter(|(j, _)| Some(*j) != own)
                        .map(|(_, (s, strong))| (*s, *strong)),
                );
                rates.push(self.vote(&mut similarities));
            }
        }
        rates
    }

    fn vote(&self, similarities: &mut [(f32, bool)]) -> f32 {
        let k = self.k.min(similarities.len());
        if k == 0 {
            return 0.0;
        }
        if k < similarities.len() {
            similarities.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        }
        similarities[..k]
            .iter()
            .filter(|(_, strong)| *strong)
            .count() as f32
            / k as f32
    }
}

/// Eight running sums, so the loop vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            sums[i] += x[i] * y[i];
        }
    }
    sums.iter().sum::<f32>() + tail
}

/// What the head reads from the memory: the neighbour rate where the prompt is of the kind the
/// memory holds (multiple-choice questions), 0 elsewhere. A word problem's nearest multiple-choice
/// questions say little about it, and the head fits one weight for the input.
pub fn neighbour_input(rate: f32, multiple_choice: f32) -> f32 {
    rate * multiple_choice
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn memory(k: usize) -> (Vec<Vec<f32>>, Vec<bool>, Neighbours) {
        // Two clusters: "hard" near (1, 0, 0), "easy" near (0, 1, 0).
        let mut rows = Vec::new();
        let mut strong = Vec::new();
        for i in 0..20 {
            let jitter = i as f32 / 100.0;
            rows.push(unit(&[1.0, jitter, 0.1]));
            strong.push(i % 5 != 0); // 16 of 20 hard
            rows.push(unit(&[jitter, 1.0, 0.1]));
            strong.push(i % 10 == 0); // 2 of 20 easy
        }
        let sha = "ab".repeat(32);
        let memory = Neighbours::from_rows(&sha, 3, &rows, &strong, k);
        (rows, strong, memory)
    }

    #[test]
    fn votes_of_the_nearest_and_leave_one_out() {
        let (_, _, m) = memory(20);
        assert_eq!(m.len(), 40);
        assert!((m.rate(&unit(&[1.0, 0.05, 0.1])) - 0.8).abs() < 1e-6);
        assert!((m.rate(&unit(&[0.05, 1.0, 0.1])) - 0.1).abs() < 1e-6);
        let loo = m.rates_leave_one_out();
        // A hard row that needed the strong model sees 15 of its 19 siblings and one easy row.
        assert_eq!(loo.len(), 40);
        assert!((loo[2] - 15.0 / 20.0).abs() < 1e-6, "{loo:?}");
        assert!((loo[0] - 16.0 / 20.0).abs() < 1e-6, "{loo:?}");
        assert_eq!(neighbour_input(0.5, 0.0), 0.0);
        assert_eq!(neighbour_input(0.5, 1.0), 0.5);
    }

    #[test]
    fn the_file_round_trips_and_refuses_damage() {
        let (rows, strong, m) = memory(7);
        let sha = "ab".repeat(32);
        let bytes = Neighbours::encode(&sha, 3, &rows, &strong, 7);
        let back = Neighbours::parse(&bytes, Path::new("n")).unwrap();
        assert_eq!(back.table_sha256, sha);
        assert_eq!(back.k, 7);
        let probe = unit(&[0.7, 0.7, 0.1]);
        assert_eq!(back.rate(&probe), m.rate(&probe));
        assert_eq!(back.rates(&probe), vec![m.rate(&probe)]);
        let mut flipped = bytes.clone();
        flipped[70] ^= 1;
        for bad in [
            flipped,
            bytes[..bytes.len() - 3].to_vec(),
            b"LGWEMB\r\n....".to_vec(),
        ] {
            assert!(matches!(
                Neighbours::parse(&bad, Path::new("n")),
                Err(ModelError::Corrupt { .. })
            ));
        }
        let mut future = bytes.clone();
        future[8] = 2;
        assert!(matches!(
            Neighbours::parse(&future, Path::new("n")),
            Err(ModelError::Version { found: 2, .. })
        ));
    }
}
