//! A small incremental parser of server-sent events (the `text/event-stream` format
//! both dialects stream in).
//!
//! Hand-written rather than taken from a crate: it is a few dozen lines, it is fed
//! plain byte slices (so the same code serves `reqwest`'s stream, the tests and the
//! scripted server), and it bounds the memory an endless line from an untrusted
//! server can take.

/// One dispatched event: its `event:` type (if any) and its `data:` lines joined by
/// `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// A line longer than this is refused: no legitimate event comes near it.
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// The stream broke the format in a way that cannot be tolerated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a server-sent event line is longer than {MAX_LINE} bytes")]
pub struct LineTooLong;

/// Incremental parser: feed it chunks as they arrive, in any split.
#[derive(Debug, Default)]
pub struct SseParser {
    /// The bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The last chunk ended in `\r`: a `\n` at the start of the next one belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the next chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, LineTooLong> {
        let mut out = Vec::new();
        for &b in chunk {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' => self.end_line(&mut out),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut out);
                }
                _ => {
                    if self.line.len() >= MAX_LINE {
                        return Err(LineTooLong);
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(out)
    }

    /// The stream ended: an event lacking its final blank line is still delivered
    /// (some servers close right after the last `data:` line).
    pub fn finish(&mut self) -> Option<SseEvent> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut out);
        }
        self.end_line(&mut out);
        out.pop()
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            // A blank line dispatches the event, if it has data.
            let event = self.event.take();
            if let Some(data) = self.data.take() {
                out.push(SseEvent { event, data });
            }
            return;
        }
        if line[0] == b':' {
            return; // a comment, e.g. OpenRouter's `: OPENROUTER PROCESSING`
        }
        let line = String::from_utf8_lossy(&line);
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (&line[..], ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "event" => self.event = Some(value.to_string()),
            _ => {} // `id`, `retry` and unknown fields: not needed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_string),
            data: data.to_string(),
        }
    }

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.push(c).unwrap());
        }
        out.extend(p.finish());
        out
    }

    #[test]
    fn parses_the_format() {
        type Case<'a> = (&'a str, &'a [&'a [u8]], Vec<SseEvent>);
        let cases: &[Case] = &[
            ("one event", &[b"data: {}\n\n"], vec![ev(None, "{}")]),
            (
                "crlf endings",
                &[b"event: ping\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n"],
                vec![ev(Some("ping"), "1"), ev(None, "2")],
            ),
            (
                "cr endings",
                &[b"data: 1\r\rdata: 2\r\r"],
                vec![ev(None, "1"), ev(None, "2")],
            ),
            (
                "crlf split between chunks",
                &[b"data: 1\r", b"\n\r", b"\ndata: 2\n\n"],
                vec![ev(None, "1"), ev(None, "2")],
            ),
            (
                "multi-line data",
                &[b"data: a\ndata: b\n\n"],
                vec![ev(None, "a\nb")],
            ),
            (
                "comments and unknown fields ignored",
                &[b": keep-alive\nid: 7\nretry: 10\nfoo: bar\ndata: x\n\n"],
                vec![ev(None, "x")],
            ),
            (
                "event split mid-field and mid-value",
                &[
                    b"ev",
                    b"ent: message_st",
                    b"art\nda",
                    b"ta: {\"a\"",
                    b":1}\n",
                    b"\n",
                ],
                vec![ev(Some("message_start"), "{\"a\":1}")],
            ),
            (
                "no space after colon, empty data field",
                &[b"data:x\n\ndata\n\n"],
                vec![ev(None, "x"), ev(None, "")],
            ),
            ("blank lines alone dispatch nothing", &[b"\n\n\r\n"], vec![]),
            (
                "last event without its blank line",
                &[b"data: [DONE]"],
                vec![ev(None, "[DONE]")],
            ),
            (
                "utf-8 split across chunks",
                &[b"data: \xc3", b"\xa9\n\n"],
                vec![ev(None, "\u{e9}")],
            ),
        ];
        for (name, chunks, want) in cases {
            assert_eq!(&parse_all(chunks), want, "{name}");
        }
    }

    #[test]
    fn every_split_gives_the_same_events() {
        let text = b"event: a\r\ndata: 1\r\ndata: 2\r\n\r\n: c\ndata: 3\n\n";
        let whole = parse_all(&[text]);
        assert_eq!(whole.len(), 2);
        for i in 0..text.len() {
            assert_eq!(parse_all(&[&text[..i], &text[i..]]), whole, "split at {i}");
        }
    }

    #[test]
    fn refuses_an_endless_line() {
        let mut p = SseParser::new();
        let big = vec![b'a'; 1024 * 1024];
        let mut failed = false;
        for _ in 0..17 {
            if p.push(&big).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed);
    }
}
