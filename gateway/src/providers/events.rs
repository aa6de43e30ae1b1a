//! A provider's event stream, bounded: the event parser keeps a line whole until it ends, and the
//! `data:` lines of one event until a blank line ends it, so an endless line — or endless lines
//! without a blank one — would take all memory. Past [`MAX_EVENT_LINE_BYTES`] for a line or
//! [`MAX_EVENT_BYTES`] for an event the stream ends with an error.

use crate::error::UpstreamError;

/// The longest line of a server-sent event stream (one chunk's JSON, an inline image at most),
/// however long the stream.
pub const MAX_EVENT_LINE_BYTES: usize = 8 * 1024 * 1024;

/// The most one event's lines may hold together (a chunk's JSON with an inline image, at most).
pub const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// How long the current line and the current event are, as the bytes go by. Lines end as the SSE
/// parser ends them: at `\r\n`, `\n` or a lone `\r`, wherever the chunks are cut.
#[derive(Debug)]
pub(crate) struct EventBounds {
    max_line: usize,
    max_event: usize,
    line: usize,
    event: usize,
    /// The last byte was a `\r`: a `\n` right after it ends no second line.
    after_cr: bool,
}

impl Default for EventBounds {
    fn default() -> Self {
        Self::new(MAX_EVENT_LINE_BYTES, MAX_EVENT_BYTES)
    }
}

impl EventBounds {
    fn new(max_line: usize, max_event: usize) -> Self {
        Self {
            max_line,
            max_event,
            line: 0,
            event: 0,
            after_cr: false,
        }
    }

    /// Counts `chunk` in: runs of line bytes at once (found with `memchr`), line ends one by one.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Result<(), StreamBodyError> {
        let mut rest = chunk;
        while let Some(&first) = rest.first() {
            if first == b'\n' && self.after_cr {
                self.after_cr = false;
                rest = &rest[1..];
                continue;
            }
            let run = memchr::memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
            if run > 0 {
                self.after_cr = false;
                self.grow(run)?;
                rest = &rest[run..];
                continue;
            }
            // A line ends here; an empty line ends the event.
            if self.line == 0 {
                self.event = 0;
            }
            self.line = 0;
            self.after_cr = first == b'\r';
            rest = &rest[1..];
        }
        Ok(())
    }

    /// `bytes` more of the current line. The refusal is the one the first byte past a bound
    /// gets, the line's bound checked first.
    fn grow(&mut self, bytes: usize) -> Result<(), StreamBodyError> {
        let to_line = self.max_line - self.line;
        let to_event = self.max_event - self.event;
        if bytes > to_line.min(to_event) {
            return Err(if to_line <= to_event {
                StreamBodyError::LineTooLong
            } else {
                StreamBodyError::EventTooLong
            });
        }
        self.line += bytes;
        self.event += bytes;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum StreamBodyError {
    #[error("{0}")]
    Transport(reqwest::Error),
    #[error("an event line is longer than {} MiB", MAX_EVENT_LINE_BYTES / (1024 * 1024))]
    LineTooLong,
    #[error("an event is longer than {} MiB", MAX_EVENT_BYTES / (1024 * 1024))]
    EventTooLong,
}

/// A failure while reading a stream's bytes that had started: a broken connection, or a line or
/// an event past its bound (the provider gone wrong: no retry would mend it).
pub(crate) fn body_error(provider: &'static str, err: StreamBodyError) -> UpstreamError {
    match err {
        StreamBodyError::LineTooLong | StreamBodyError::EventTooLong => {
            UpstreamError::InvalidResponse {
                provider,
                detail: err.to_string(),
            }
        }
        StreamBodyError::Transport(_) => UpstreamError::Connect {
            provider,
            detail: format!("the stream broke off: {err}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_events_are_bounded_however_the_bytes_are_split() {
        let line = format!("data: {}\n", "a".repeat(1024 * 1024));
        // Seven 1 MiB data lines, a blank line, seven more: within bounds, as each event ends in
        // time. Three more lines without a blank one make the second event too long.
        for split in [1usize << 20, 7919] {
            let mut bounds = EventBounds::default();
            let mut wire = Vec::new();
            for _ in 0..7 {
                wire.extend_from_slice(line.as_bytes());
            }
            wire.extend_from_slice(b"\r\n");
            for _ in 0..7 {
                wire.extend_from_slice(line.as_bytes());
            }
            for piece in wire.chunks(split) {
                bounds.feed(piece).unwrap();
            }
            // No blank line: the ninth megabyte of one event is refused.
            let mut refused = None;
            for piece in line.repeat(3).as_bytes().chunks(split) {
                if let Err(err) = bounds.feed(piece) {
                    refused = Some(err);
                    break;
                }
            }
            assert!(
                matches!(refused, Some(StreamBodyError::EventTooLong)),
                "split {split}"
            );
        }
        let mut bounds = EventBounds::default();
        let long = vec![b'a'; MAX_EVENT_LINE_BYTES + 1];
        assert!(matches!(
            bounds.feed(&long),
            Err(StreamBodyError::LineTooLong)
        ));
    }

    /// What the bounds should say of `wire`, worked out on the whole of it: its lines (ended by
    /// `\r\n`, `\n` or `\r`) and events (ended by an empty line).
    fn verdict_of_whole(wire: &[u8], max_line: usize, max_event: usize) -> Option<&'static str> {
        let text: String = wire.iter().map(|&byte| char::from(byte)).collect();
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let (mut event, mut line_seen) = (0usize, false);
        for line in text.split('\n') {
            // Only the bytes seen so far count: the first one past a bound is the refusal.
            for length in 1..=line.len() {
                if length > max_line {
                    return Some("line");
                }
                if event + length > max_event {
                    return Some("event");
                }
            }
            event = if line.is_empty() && line_seen {
                0
            } else {
                event + line.len()
            };
            line_seen = true;
        }
        None
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 2048, failure_persistence: None, ..Default::default() })]

        /// However a hostile provider cuts its stream, lines and events are measured as the SSE
        /// parser reads them: the verdict is the one on the whole, and it comes at the first byte
        /// past a bound.
        #[test]
        fn bounds_do_not_depend_on_where_chunks_are_cut(
            wire in proptest::collection::vec(proptest::sample::select(b"ab\r\n:d".to_vec()), 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let (max_line, max_event) = (12, 30);
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|&cut| cut <= wire.len()).collect();
            cuts.sort_unstable();
            let mut bounds = EventBounds::new(max_line, max_event);
            let mut start = 0;
            let mut verdict = None;
            for end in cuts.into_iter().chain([wire.len()]) {
                if let Err(err) = bounds.feed(&wire[start..end.max(start)]) {
                    verdict = Some(match err {
                        StreamBodyError::LineTooLong => "line",
                        _ => "event",
                    });
                    break;
                }
                start = end.max(start);
            }
            proptest::prop_assert_eq!(verdict, verdict_of_whole(&wire, max_line, max_event));
        }
    }
}
