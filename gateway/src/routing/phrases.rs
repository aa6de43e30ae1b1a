//! The phrases the surface features look for: reasoning words and multiple-choice option lines in
//! the lowercased prompt, code markers in the prompt as written. Only their presence counts, and
//! each set is found in one pass over its text.

use std::sync::OnceLock;

/// Words of a request that asks for reasoning, in the lowercased prompt.
const REASONING_WORDS: &[&str] = &[
    "prove",
    "proof",
    "derive",
    "step by step",
    "explain why",
    "analy",
    "optimi",
    "implement",
    "algorithm",
    "theorem",
    "complexity",
    "calculate",
    "compute",
    "how many",
    "how much",
    "design",
    "debug",
    "refactor",
];

/// Markers of code in the prompt as written.
const CODE_MARKERS: &[&str] = &[
    "```",
    "def ",
    "function ",
    "fn ",
    "class ",
    "#include",
    "import ",
    "return ",
    "};",
    "=>",
];

/// Option lines of a multiple-choice question, in the lowercased prompt.
const CHOICE_MARKERS: &[&str] = &["\na.", "\nb.", "\nc.", "\nd."];

/// A money feature's word, in the lowercased prompt.
const PERCENT: &str = "percent";

/// The phrases looked for in the lowercased prompt, in the order of their bits.
fn lower_phrases() -> impl Iterator<Item = &'static str> {
    REASONING_WORDS
        .iter()
        .chain(CHOICE_MARKERS)
        .copied()
        .chain([PERCENT])
}

/// The phrases whose presence (not their count) the features read, each set found in one pass
/// over its text instead of one search per phrase (the 33 searches were 5.1k of the 14.3k
/// instructions the features cost on a short prompt, callgrind).
struct Phrases {
    /// [`CODE_MARKERS`], in the prompt as written.
    code: aho_corasick::AhoCorasick,
    /// [`lower_phrases`]: [`REASONING_WORDS`], [`CHOICE_MARKERS`], [`PERCENT`].
    lower: aho_corasick::AhoCorasick,
}

impl Phrases {
    fn get() -> &'static Phrases {
        static PHRASES: OnceLock<Phrases> = OnceLock::new();
        PHRASES.get_or_init(|| Phrases {
            code: aho_corasick::AhoCorasick::new(CODE_MARKERS).expect("fixed phrases"),
            lower: aho_corasick::AhoCorasick::new(lower_phrases()).expect("fixed phrases"),
        })
    }
}

// Each automaton's phrases are bits of a `u64`.
const _: () = assert!(REASONING_WORDS.len() + CHOICE_MARKERS.len() + 1 <= 64);

/// Which of the automaton's phrases occur in `text`, as bits by phrase index (overlapping
/// matches included: each phrase is looked for on its own, as `contains` would).
fn phrases_in(automaton: &aho_corasick::AhoCorasick, text: &str) -> u64 {
    let mut seen = 0u64;
    for found in automaton.find_overlapping_iter(text) {
        seen |= 1 << found.pattern().as_usize();
    }
    seen
}

/// What [`find`] saw.
pub(super) struct Found {
    /// A code marker.
    pub code: bool,
    /// How many of the reasoning words.
    pub reasoning: u32,
    /// How many of the option lines `a.` to `d.`.
    pub choices: u32,
    /// [`PERCENT`].
    pub percent: bool,
}

/// The phrases in a prompt: `text` as written, `lower` lowercased.
pub(super) fn find(text: &str, lower: &str) -> Found {
    let phrases = Phrases::get();
    let in_lower = phrases_in(&phrases.lower, lower);
    let reasoning_bits = (1u64 << REASONING_WORDS.len()) - 1;
    let choice_bits = (1u64 << CHOICE_MARKERS.len()) - 1;
    Found {
        code: phrases_in(&phrases.code, text) != 0,
        reasoning: (in_lower & reasoning_bits).count_ones(),
        choices: ((in_lower >> REASONING_WORDS.len()) & choice_bits).count_ones(),
        percent: in_lower & (1 << (REASONING_WORDS.len() + CHOICE_MARKERS.len())) != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy as _;

    /// Each phrase on its own, as the features were first read.
    fn phrases_one_by_one(phrases: &[&str], text: &str) -> u64 {
        phrases
            .iter()
            .enumerate()
            .filter(|(_, phrase)| text.contains(*phrase))
            .fold(0, |seen, (index, _)| seen | 1 << index)
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 2048, failure_persistence: None, ..Default::default() })]

        /// One pass finds exactly the phrases that searching for each finds, overlaps included
        /// ("analyze" inside "proof analysis", "\na." right after "\nd.").
        #[test]
        fn one_pass_finds_what_a_search_per_phrase_finds(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(REASONING_WORDS.to_vec()).prop_map(str::to_owned),
                    proptest::sample::select(CODE_MARKERS.to_vec()).prop_map(str::to_owned),
                    proptest::sample::select(CHOICE_MARKERS.to_vec()).prop_map(str::to_owned),
                    proptest::strategy::Just(PERCENT.to_owned()),
                    "[a-z \\n.`;=>#{}]{0,4}",
                    "[^\\n]{0,3}",
                ],
                0..24,
            ),
            cut in 0usize..8,
        ) {
            let joined = pieces.concat();
            // A phrase cut short must not count.
            let text = super::super::classifier::prefix(&joined, joined.len().saturating_sub(cut));
            let phrases = Phrases::get();
            let lower: Vec<&str> = lower_phrases().collect();
            proptest::prop_assert_eq!(phrases_in(&phrases.code, text), phrases_one_by_one(CODE_MARKERS, text));
            proptest::prop_assert_eq!(phrases_in(&phrases.lower, text), phrases_one_by_one(&lower, text));
        }
    }
}
