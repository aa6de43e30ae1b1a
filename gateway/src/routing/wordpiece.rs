//! BERT's uncased WordPiece tokenizer, as the `tokenizers` library runs it for
//! `all-MiniLM-L6-v2` (`BertNormalizer` with lower-casing and accent stripping, `BertPreTokenizer`,
//! `WordPiece` with `##` continuations): the semantic router's table is indexed by these ids.
//! Checked against ids the reference implementation produced (`tests/fixtures/wordpiece.jsonl`).

use rustc_hash::FxHashMap;

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

/// Longer words become `[UNK]`, as in the reference.
const MAX_WORD_CHARS: usize = 100;

pub struct WordPiece {
    ids: FxHashMap<Box<str>, u32>,
    unknown: u32,
}

impl WordPiece {
    /// `vocab` is the model's vocabulary in id order (one token per entry).
    pub fn new<'a>(vocab: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let ids: FxHashMap<Box<str>, u32> = vocab
            .into_iter()
            .enumerate()
            .map(|(id, token)| (Box::from(token), id as u32))
            .collect();
        let Some(&unknown) = ids.get("[UNK]") else {
            return Err("the vocabulary has no [UNK] token".into());
        };
        Ok(Self { ids, unknown })
    }

    pub fn vocab_size(&self) -> usize {
        self.ids.len()
    }

    /// Calls `emit` with the id of each token of `text`, in order, without special tokens.
    pub fn for_each_id(&self, text: &str, mut emit: impl FnMut(u32)) {
        let mut scratch = Scratch::default();
        let mut flush = |scratch: &mut Scratch| {
            if !scratch.word.is_empty() {
                self.word_ids(scratch, &mut emit);
                scratch.word.clear();
            }
        };
        for c in text.chars() {
            // ASCII, most of any prompt, without the Unicode tables: the same rules, cheaper.
            if c.is_ascii() {
                match c {
                    '\t' | '\n' | '\r' | ' ' => flush(&mut scratch),
                    '\0'..='\x1f' | '\x7f' => {}
                    _ if c.is_ascii_punctuation() => {
                        flush(&mut scratch);
                        scratch.word.push(c);
                        flush(&mut scratch);
                    }
                    _ => scratch.word.push(c.to_ascii_lowercase()),
                }
                continue;
            }
            if c == '\u{fffd}' || is_control(c) {
                continue;
            }
            if is_whitespace(c) {
                flush(&mut scratch);
                continue;
            }
            if is_chinese(c) || is_punctuation(c) {
                flush(&mut scratch);
                scratch.word.push(c);
                flush(&mut scratch);
                continue;
            }
            // Lower-case, then decompose and drop the accents.
            for lower in c.to_lowercase() {
                for d in std::iter::once(lower).nfd() {
                    if d.general_category() != GeneralCategory::NonspacingMark {
                        scratch.word.push(d);
                    }
                }
            }
        }
        flush(&mut scratch);
    }

    pub fn ids(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        self.for_each_id(text, |id| ids.push(id));
        ids
    }

    /// Greedy longest-match-first split of `scratch.word` into vocabulary pieces.
    fn word_ids(&self, scratch: &mut Scratch, emit: &mut impl FnMut(u32)) {
        let Scratch {
            word,
            candidate,
            pieces,
        } = scratch;
        if word.len() > MAX_WORD_CHARS && word.chars().count() > MAX_WORD_CHARS {
            emit(self.unknown);
            return;
        }
        pieces.clear();
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while end > start {
                candidate.clear();
                if start > 0 {
                    candidate.push_str("##");
                }
                candidate.push_str(&word[start..end]);
                if let Some(&id) = self.ids.get(candidate.as_str()) {
                    found = Some(id);
                    break;
                }
                // Step back one character.
                end -= 1;
                while !word.is_char_boundary(end) {
                    end -= 1;
                }
            }
            let Some(id) = found else {
                emit(self.unknown);
                return;
            };
            pieces.push(id);
            start = end;
        }
        pieces.iter().copied().for_each(emit);
    }
}

/// Buffers reused from word to word, so that tokenizing allocates only while they grow.
#[derive(Default)]
struct Scratch {
    word: String,
    candidate: String,
    pieces: Vec<u32>,
}

fn is_whitespace(c: char) -> bool {
    c.is_whitespace()
}

fn is_control(c: char) -> bool {
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Unassigned
            | GeneralCategory::PrivateUse
    )
}

/// ASCII symbols count as punctuation, as in BERT, besides Unicode's punctuation classes.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.general_category_group() == GeneralCategoryGroup::Punctuation
}

/// The CJK ideograph blocks BERT puts spaces around.
fn is_chinese(c: char) -> bool {
    matches!(u32::from(c),
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> WordPiece {
        WordPiece::new(
            [
                "[PAD]", "[UNK]", "hello", "world", "un", "##aff", "##able", ",", "!", "cafe", "的",
            ]
            .into_iter(),
        )
        .unwrap()
    }

    #[test]
    fn splits_words_into_the_longest_pieces() {
        let wp = toy();
        assert_eq!(wp.ids("Hello, WORLD!"), vec![2, 7, 3, 8]);
        assert_eq!(wp.ids("unaffable"), vec![4, 5, 6]);
        // No piece fits: the whole word is unknown.
        assert_eq!(wp.ids("xyz hello"), vec![1, 2]);
        // Accents stripped, CJK split per character, control characters dropped.
        assert_eq!(wp.ids("Café\u{0007}的的"), vec![9, 10, 10]);
        assert_eq!(wp.ids(&"a".repeat(101)), vec![1]);
        assert!(wp.ids("  \n\t ").is_empty());
    }

    #[test]
    fn needs_an_unknown_token() {
        assert!(WordPiece::new(["a", "b"].into_iter()).is_err());
    }
}
