//! The embedding table: one int8 vector (with a scale) per WordPiece token, read and checked
//! from `embeddings.bin`; a text's embedding is the normalised mean of its tokens' vectors.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::files::{ModelError, read};
use crate::routing::wordpiece::WordPiece;

pub const TABLE_MAGIC: &[u8; 8] = b"LGWEMB\r\n";
pub const TABLE_VERSION: u32 = 1;

/// Token vectors, int8 with one scale per row.
pub struct EmbeddingTable {
    tokenizer: WordPiece,
    dims: usize,
    scales: Vec<f32>,
    values: Vec<i8>,
    /// SHA-256 of the file, which the head names.
    pub sha256: String,
}

/// A row as int8 bytes scaled to its largest value (appended to `out`); returns the scale. The
/// embedding table and the outcome memory store their rows this way.
pub(super) fn quantise(row: &[f32], out: &mut Vec<u8>) -> f32 {
    let max = row.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    out.extend(
        row.iter()
            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8 as u8),
    );
    scale
}

/// Reads little-endian fields off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("file ends early".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
}

impl EmbeddingTable {
    /// The file: magic, version, token count, dimensions, vocabulary (newline-separated, with its
    /// byte length first), a f32 scale per token, the int8 values, and the SHA-256 of all before.
    pub fn encode(vocab: &[&str], dims: usize, rows: &[f32]) -> Vec<u8> {
        assert_eq!(rows.len(), vocab.len() * dims, "one row per token");
        let mut out = Vec::new();
        out.extend_from_slice(TABLE_MAGIC);
        out.extend_from_slice(&TABLE_VERSION.to_le_bytes());
        out.extend_from_slice(&(vocab.len() as u32).to_le_bytes());
        out.extend_from_slice(&(dims as u32).to_le_bytes());
        let joined = vocab.join("\n");
        out.extend_from_slice(&(joined.len() as u32).to_le_bytes());
        out.extend_from_slice(joined.as_bytes());
        let mut values = Vec::with_capacity(rows.len());
        for row in rows.chunks(dims) {
            let scale = quantise(row, &mut values);
            out.extend_from_slice(&scale.to_le_bytes());
        }
        out.extend(values);
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        out
    }

    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, ModelError> {
        let corrupt = |reason: String| ModelError::Corrupt {
            path: path.to_owned(),
            reason,
        };
        if bytes.len() < TABLE_MAGIC.len() + 4 || &bytes[..TABLE_MAGIC.len()] != TABLE_MAGIC {
            return Err(corrupt("not an embedding table (wrong magic bytes)".into()));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != TABLE_VERSION {
            return Err(ModelError::Version {
                path: path.to_owned(),
                found: version,
                expected: TABLE_VERSION,
            });
        }
        if bytes.len() < 12 + 32 {
            return Err(corrupt("file ends early".into()));
        }
        let (body, digest) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(body).as_slice() != digest {
            return Err(corrupt(
                "checksum does not match (truncated or altered)".into(),
            ));
        }
        let mut reader = Reader(&body[12..]);
        let parsed = (|| {
            let tokens = reader.u32()? as usize;
            let dims = reader.u32()? as usize;
            if tokens == 0 || dims == 0 || dims > 4096 {
                return Err(format!("implausible shape {tokens} x {dims}"));
            }
            let vocab_len = reader.u32()? as usize;
            let vocab = std::str::from_utf8(reader.take(vocab_len)?)
                .map_err(|_| "vocabulary is not UTF-8".to_string())?;
            let vocab: Vec<&str> = vocab.split('\n').collect();
            if vocab.len() != tokens {
                return Err(format!(
                    "{} vocabulary entries for {tokens} rows",
                    vocab.len()
                ));
            }
            let scales = reader
                .take(tokens * 4)?
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect();
            let values: Vec<i8> = reader
                .take(tokens * dims)?
                .iter()
                .map(|b| *b as i8)
                .collect();
            if !reader.0.is_empty() {
                return Err("trailing bytes".into());
            }
            let tokenizer = WordPiece::new(vocab.iter().copied())?;
            if tokenizer.vocab_size() != tokens {
                return Err("duplicate vocabulary entries".into());
            }
            Ok((tokenizer, dims, scales, values))
        })();
        let (tokenizer, dims, scales, values) = parsed.map_err(corrupt)?;
        Ok(Self {
            tokenizer,
            dims,
            scales,
            values,
            sha256: hex::encode(digest),
        })
    }

    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Self::parse(&read(path)?, path)
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        self.tokenizer.ids(text)
    }

    /// The unit-length mean of the token vectors of `text` (zeros for no tokens).
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let mut sum = vec![0f32; self.dims];
        let mut count = 0usize;
        self.tokenizer.for_each_id(text, |id| {
            let id = id as usize;
            let scale = self.scales[id];
            let row = &self.values[id * self.dims..(id + 1) * self.dims];
            for (s, v) in sum.iter_mut().zip(row) {
                *s += scale * f32::from(*v);
            }
            count += 1;
        });
        let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
        if count > 0 && norm > 0.0 {
            sum.iter_mut().for_each(|x| *x /= norm);
        }
        sum
    }
}
