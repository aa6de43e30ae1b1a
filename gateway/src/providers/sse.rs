//! The `data:` payloads of a server-sent event stream, read without copying: each payload is a
//! slice of the bytes that came over the wire (a line cut across two reads is the one case that
//! copies), found with `memchr`, one event per blank line as the WHATWG parser dispatches them
//! (lines end at `\r\n`, `\n` or a lone `\r`; `:` starts a comment; one space after the colon is
//! dropped; several `data:` lines join with `\n`). Event names, ids and `retry` are not read: the
//! OpenAI-compatible chat streams and Gemini's put everything in `data`, and Anthropic's data
//! repeat the event's name as their `type`. Each chunk is measured against the bounds
//! (`EventBounds`) before it is parsed.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt as _};

use super::events::{EventBounds, StreamBodyError};

/// Every event's data in the provider's stream body, in order, as its chunks complete them; a
/// line or an event past its bound ([`EventBounds`]) or a broken body ends it with an error.
pub(crate) fn data_events(
    response: reqwest::Response,
) -> DataEventStream<impl Stream<Item = reqwest::Result<Bytes>> + Unpin + Send + 'static> {
    DataEventStream {
        bytes: Some(response.bytes_stream()),
        bounds: EventBounds::default(),
        parser: DataEvents::default(),
        ready: VecDeque::new(),
    }
}

/// [`data_events`]' stream: one `poll_next` from the body's chunk to the event's data (no
/// generator or adapter between them, each of which cost a poll per chunk).
pub(crate) struct DataEventStream<S> {
    /// `None` once the body has ended or failed.
    bytes: Option<S>,
    bounds: EventBounds,
    parser: DataEvents,
    /// Events a chunk completed that are not yet taken.
    ready: VecDeque<Bytes>,
}

impl<S> Stream for DataEventStream<S>
where
    S: Stream<Item = reqwest::Result<Bytes>> + Unpin,
{
    type Item = Result<Bytes, StreamBodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(data) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(data)));
            }
            let Some(bytes) = this.bytes.as_mut() else {
                // An event without its closing blank line is not dispatched (the standard's
                // rule).
                return Poll::Ready(None);
            };
            let chunk = match std::task::ready!(bytes.poll_next_unpin(cx)) {
                Some(Ok(chunk)) => this.bounds.feed(&chunk).map(|()| chunk),
                Some(Err(err)) => Err(StreamBodyError::Transport(err)),
                None => {
                    this.bytes = None;
                    continue;
                }
            };
            match chunk {
                Ok(chunk) => this.parser.feed(chunk, &mut this.ready),
                Err(err) => {
                    this.bytes = None;
                    return Poll::Ready(Some(Err(err)));
                }
            }
        }
    }
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub(crate) struct DataEvents {
    /// The start of a line the last chunk did not finish.
    partial: BytesMut,
    /// The current event's data so far (`None`: no `data` line yet).
    data: Option<Bytes>,
    /// The last chunk ended with `\r`: a `\n` first in the next one ends no second line.
    after_cr: bool,
}

impl DataEvents {
    /// Reads `chunk`, putting the data of each event it completes in `out`.
    pub(crate) fn feed(&mut self, chunk: Bytes, out: &mut VecDeque<Bytes>) {
        if chunk.is_empty() {
            return;
        }
        let mut at = 0;
        if self.after_cr && chunk.first() == Some(&b'\n') {
            at = 1;
        }
        self.after_cr = false;
        while at < chunk.len() {
            let Some(length) = memchr::memchr2(b'\r', b'\n', &chunk[at..]) else {
                self.partial.extend_from_slice(&chunk[at..]);
                return;
            };
            let end = at + length;
            let line = if self.partial.is_empty() {
                chunk.slice(at..end)
            } else {
                self.partial.extend_from_slice(&chunk[at..end]);
                self.partial.split().freeze()
            };
            at = end + 1;
            if chunk[end] == b'\r' {
                if at == chunk.len() {
                    self.after_cr = true;
                } else if chunk[at] == b'\n' {
                    at += 1;
                }
            }
            self.line(line, out);
        }
    }

    fn line(&mut self, line: Bytes, out: &mut VecDeque<Bytes>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                out.push_back(data);
            }
            return;
        }
        let (name, value) = match memchr::memchr(b':', &line) {
            Some(0) => return, // a comment
            Some(colon) => {
                let start = if line.get(colon + 1) == Some(&b' ') {
                    colon + 2
                } else {
                    colon + 1
                };
                (&line[..colon], line.slice(start..))
            }
            None => (&line[..], Bytes::new()),
        };
        if name != b"data" {
            return;
        }
        self.data = Some(match self.data.take() {
            None => value,
            Some(before) => {
                let mut joined = BytesMut::with_capacity(before.len() + 1 + value.len());
                joined.extend_from_slice(&before);
                joined.extend_from_slice(b"\n");
                joined.extend_from_slice(&value);
                joined.freeze()
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events_of(pieces: &[&[u8]]) -> Vec<String> {
        let mut parser = DataEvents::default();
        let mut out = VecDeque::new();
        for piece in pieces {
            parser.feed(Bytes::copy_from_slice(piece), &mut out);
        }
        out.into_iter()
            .map(|data| String::from_utf8(data.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn reads_data_as_the_standard_does() {
        let wire = b": keep-alive\n\ndata: {\"a\":1}\n\nevent: x\nid: 7\ndata:two\ndata:  lines\n\ndata\n\nretry: 5\n\n";
        assert_eq!(events_of(&[wire]), ["{\"a\":1}", "two\n lines", ""]);
        // CRLF and lone CR line ends.
        assert_eq!(
            events_of(&[b"data: a\r\n\r\ndata: b\r\rdata: c\n\n"]),
            ["a", "b", "c"]
        );
        // No blank line at the end: not dispatched.
        assert_eq!(events_of(&[b"data: a\n\ndata: b\n"]), ["a"]);
    }

    #[test]
    fn a_payload_in_one_read_is_not_copied() {
        let chunk = Bytes::from_static(b"data: {\"x\":1}\n\ndata: {\"y\":2}\n\n");
        let mut out = VecDeque::new();
        DataEvents::default().feed(chunk.clone(), &mut out);
        let first = out.pop_front().unwrap();
        assert_eq!(&first[..], b"{\"x\":1}");
        assert_eq!(first.as_ptr(), chunk[6..].as_ptr(), "a slice of the read");
    }

    /// What the standard's parser makes of the whole wire at once (lines split on every kind of
    /// end), to compare with any cutting of it.
    fn whole(wire: &[u8]) -> Vec<String> {
        let text = String::from_utf8(wire.to_vec()).unwrap();
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let mut events = Vec::new();
        let mut data: Option<String> = None;
        let mut lines: Vec<&str> = text.split('\n').collect();
        lines.pop(); // what follows the last line end is not a line yet
        for line in lines {
            if line.is_empty() {
                events.extend(data.take());
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (name, value) = match line.split_once(':') {
                Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            if name == "data" {
                data = Some(match data.take() {
                    None => value.to_owned(),
                    Some(before) => format!("{before}\n{value}"),
                });
            }
        }
        events
    }

    const TOKENS: [&[u8]; 9] = [
        b"data:", b"data: ", b"data", b"x", b":", b" ", b"\r", b"\n", b"id: 1",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 2048, failure_persistence: None, ..Default::default() })]

        /// However a provider's stream is cut into reads, the payloads are the ones the whole
        /// gives.
        #[test]
        fn payloads_do_not_depend_on_where_reads_are_cut(
            tokens in proptest::collection::vec(proptest::sample::select(TOKENS.to_vec()), 0..60),
            cuts in proptest::collection::vec(0usize..300, 0..8),
        ) {
            let wire: Vec<u8> = tokens.concat();
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|&cut| cut <= wire.len()).collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut start = 0;
            for end in cuts.into_iter().chain([wire.len()]) {
                pieces.push(&wire[start..end.max(start)]);
                start = end.max(start);
            }
            proptest::prop_assert_eq!(events_of(&pieces), whole(&wire));
        }
    }
}
