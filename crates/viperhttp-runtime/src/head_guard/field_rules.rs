//! Whole-head rules (docs/internals/http.md, RFC 9112 §6, RFC 9110 §7.2): once the scanner
//! (`parse.rs`) has a complete head, the rules that need every field line run here: one valid
//! Host, Content-Length and Transfer-Encoding and their conflicts, the body size limit, the
//! httparse cross-check; the result is the body framing and the verdict for the service. Kept
//! apart from the byte-by-byte scanner because it runs once per head, over the field offsets
//! the scanner recorded, and is where request smuggling is decided.

use super::parse::{is_tchar, Accepted, Framing, HeadScanner, MethodKind, Rejection};
use super::target::{valid_authority, TargetForm};
use super::{GuardLimits, Verdict};

impl HeadScanner {
    /// The head is complete: the rules that need every field.
    pub(super) fn complete(
        &mut self,
        head: &[u8],
        limits: &GuardLimits,
    ) -> Result<Accepted, Rejection> {
        let rl = self
            .rl
            .take()
            .ok_or(Rejection::bad("head without a request line"))?;
        let mut hosts = 0usize;
        let mut host: &[u8] = b"";
        let mut content_length: Option<u64> = None;
        let mut te = TransferCodings::default();
        let mut upgrade = false;
        for f in &self.fields {
            let name = head.get(f.start..f.colon).unwrap_or_default();
            let value = trim_ows(head.get(f.colon + 1..f.end).unwrap_or_default());
            if name.eq_ignore_ascii_case(b"host") {
                hosts += 1;
                host = value;
            } else if name.eq_ignore_ascii_case(b"content-length") {
                let n = parse_content_length(value)?;
                match content_length {
                    Some(prev) if prev != n => {
                        return Err(Rejection::bad("differing Content-Length values"));
                    }
                    _ => content_length = Some(n),
                }
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                te.add(value)?;
            } else if name.eq_ignore_ascii_case(b"upgrade") {
                upgrade = true;
            }
        }
        if te.seen {
            if !rl.http11 {
                return Err(Rejection::bad("Transfer-Encoding in an HTTP/1.0 request"));
            }
            if content_length.is_some() {
                return Err(Rejection::bad("both Transfer-Encoding and Content-Length"));
            }
            te.check()?;
        }
        if hosts > 1 {
            return Err(Rejection::bad("more than one Host"));
        }
        if hosts == 0 && rl.http11 {
            return Err(Rejection::bad("HTTP/1.1 request without Host"));
        }
        if hosts == 1 && !valid_authority(host, true) {
            return Err(Rejection::bad("invalid Host value"));
        }
        if content_length.is_some_and(|n| n > limits.max_body_size) {
            return Err(Rejection::payload_too_large());
        }
        // Defence in depth: the head must also satisfy httparse, which hyper
        // uses, so hyper never answers a head this guard let through.
        // Typical heads fit the stack array; only larger ones allocate.
        const STACK_FIELDS: usize = 32;
        let mut stack = [httparse::EMPTY_HEADER; STACK_FIELDS];
        let mut heap = Vec::new();
        let slots: &mut [httparse::Header<'_>] = if self.fields.len() <= STACK_FIELDS {
            &mut stack
        } else {
            heap.resize(self.fields.len(), httparse::EMPTY_HEADER);
            &mut heap
        };
        let mut req = httparse::Request::new(slots);
        match req.parse(head) {
            Ok(httparse::Status::Complete(n)) if n == head.len() => {}
            _ => return Err(Rejection::bad("head refused by httparse")),
        }

        let framing = if te.seen {
            Framing::Chunked
        } else {
            match content_length {
                Some(n) if n > 0 => Framing::Length(n),
                _ => Framing::None,
            }
        };
        let hold = rl.method == MethodKind::Connect || (rl.http11 && upgrade);
        let http10_without_host = !rl.http11 && hosts == 0;
        let verdict = match rl.form {
            TargetForm::Asterisk => Verdict::AsteriskOptions,
            TargetForm::Absolute { auth, path } => Verdict::Pass {
                absolute_authority: Some(lossy(head.get(auth.0..auth.1))),
                origin_path: Some(lossy(head.get(path.0..path.1))),
                http10_without_host,
                upgrade_hold: hold,
            },
            TargetForm::Origin | TargetForm::Connect => Verdict::Pass {
                absolute_authority: None,
                origin_path: None,
                http10_without_host,
                upgrade_hold: hold,
            },
        };
        Ok(Accepted {
            len: head.len(),
            verdict,
            framing,
            hold,
        })
    }
}

fn lossy(b: Option<&[u8]>) -> String {
    String::from_utf8_lossy(b.unwrap_or_default()).into_owned()
}

/// `Content-Length`: digits only (the value is already trimmed of SP/HT).
fn parse_content_length(v: &[u8]) -> Result<u64, Rejection> {
    if v.is_empty() {
        return Err(Rejection::bad("empty Content-Length"));
    }
    v.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return Err(Rejection::bad("Content-Length is not a decimal number"));
        }
        acc.checked_mul(10)
            .and_then(|a| a.checked_add(u64::from(b - b'0')))
            .ok_or(Rejection::bad("Content-Length overflow"))
    })
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// The transfer-coding list of every `Transfer-Encoding` line, in order.
#[derive(Default)]
struct TransferCodings {
    seen: bool,
    count: usize,
    chunked: usize,
    last_chunked: bool,
    /// Whether the last element of the last line, empty or not, is `chunked`.
    /// hyper frames the body by exactly that (its `is_chunked`), so an empty
    /// trailing element (`chunked,`, or a last line that is empty) makes hyper
    /// refuse a request we would call chunked: we refuse it first, with a body.
    last_line_ends_chunked: bool,
}

impl TransferCodings {
    fn add(&mut self, value: &[u8]) -> Result<(), Rejection> {
        self.seen = true;
        self.last_line_ends_chunked = value
            .rsplit(|&b| b == b',')
            .next()
            .is_some_and(|last| trim_ows(last).eq_ignore_ascii_case(b"chunked"));
        for element in value.split(|&b| b == b',') {
            let element = trim_ows(element);
            if element.is_empty() {
                continue; // empty list elements are allowed (RFC 9110 §5.6.1)
            }
            let (name, has_params) = match element.iter().position(|&b| b == b';') {
                Some(p) => (trim_ows(element.get(..p).unwrap_or_default()), true),
                None => (element, false),
            };
            if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
                return Err(Rejection::bad("invalid transfer-coding"));
            }
            let chunked = name.eq_ignore_ascii_case(b"chunked");
            if chunked && has_params {
                return Err(Rejection::bad("chunked with parameters"));
            }
            self.count += 1;
            self.chunked += usize::from(chunked);
            self.last_chunked = chunked;
        }
        Ok(())
    }

    fn check(&self) -> Result<(), Rejection> {
        if self.count == 0 {
            return Err(Rejection::bad("empty Transfer-Encoding"));
        }
        if !self.last_chunked {
            return Err(Rejection::bad("final transfer-coding is not chunked"));
        }
        if self.chunked > 1 {
            return Err(Rejection::bad("chunked applied more than once"));
        }
        if !self.last_line_ends_chunked {
            return Err(Rejection::bad("empty list element after chunked"));
        }
        if self.count > 1 {
            return Err(Rejection::not_implemented(
                "transfer-coding other than chunked",
            ));
        }
        Ok(())
    }
}
