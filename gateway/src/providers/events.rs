//! A provider's event stream, bounded: the event parser keeps a line whole until it ends, and the
//! `data:` lines of one event until a blank line ends it, so an endless line — or endless lines
//! without a blank one — would take all memory. Past [`MAX_EVENT_LINE_BYTES`] for a line or
//! [`MAX_EVENT_BYTES`] for an event the stream ends with an error.

use bytes::Bytes;
use futures::Stream;

use super::MAX_EVENT_LINE_BYTES;
use crate::error::UpstreamError;

/// The most one event's lines may hold together (a chunk's JSON with an inline image, at most).
pub const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// The provider's stream body, cut off with an error once a line or an event is too long.
pub(crate) fn event_bytes(
    response: reqwest::Response,
) -> impl Stream<Item = Result<Bytes, StreamBodyError>> + Send + 'static {
    use futures::StreamExt as _;
    let mut bounds = EventBounds::default();
    let mut over = false;
    response
        .bytes_stream()
        .map(move |chunk| {
            let chunk = chunk.map_err(StreamBodyError::Transport)?;
            bounds.feed(&chunk)?;
            Ok(chunk)
        })
        .take_while(move |item| {
            // The error itself goes through; nothing after it.
            let go_on = !over;
            over |= item.is_err();
            futures::future::ready(go_on)
        })
}

/// How long the current line and the current event are, as the bytes go by.
#[derive(Debug, Default)]
struct EventBounds {
    line: usize,
    event: usize,
}

impl EventBounds {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), StreamBodyError> {
        for (index, piece) in chunk.split(|&byte| byte == b'\n').enumerate() {
            if index > 0 {
                // A newline ended the line before this piece; an empty line ends the event.
                if self.line == 0 {
                    self.event = 0;
                }
                self.line = 0;
            }
            // A carriage return before the newline is not content.
            let length = piece.len() - usize::from(piece.ends_with(b"\r"));
            self.line += length;
            self.event += length;
        }
        if self.line > MAX_EVENT_LINE_BYTES {
            return Err(StreamBodyError::LineTooLong);
        }
        if self.event > MAX_EVENT_BYTES {
            return Err(StreamBodyError::EventTooLong);
        }
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

/// A failure while reading a stream that had started: a broken connection, or a line or an event
/// past its bound (the provider gone wrong: no retry would mend it).
pub(crate) fn stream_error(
    provider: &'static str,
    err: eventsource_stream::EventStreamError<StreamBodyError>,
) -> UpstreamError {
    if let eventsource_stream::EventStreamError::Transport(
        StreamBodyError::LineTooLong | StreamBodyError::EventTooLong,
    ) = err
    {
        return UpstreamError::InvalidResponse {
            provider,
            detail: err.to_string(),
        };
    }
    UpstreamError::Connect {
        provider,
        detail: format!("the stream broke off: {err}"),
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
}
