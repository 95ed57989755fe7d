//! Incremental request-head scanner (docs/internals/http.md, RFC 9112 §2–§3, §5–§6).
//!
//! Bytes are checked one by one as they arrive, so most violations (bare
//! LF/CR, control bytes, invalid tokens, obs-fold, oversize parts) are
//! rejected before the end of the head; the rules that need the whole head
//! (Host, Content-Length, Transfer-Encoding, body size) run once it is
//! complete (`field_rules.rs`), and the request-target is classified when the request line
//! ends (`target.rs`). Offsets are relative to the head's first byte; the scanner keeps
//! no copy of the bytes (the caller passes the whole head so far each time).

use http::StatusCode;

use super::target::{classify_target, TargetForm, MAX_HYPER_URI};
use super::{GuardLimits, Verdict};

/// Longest method token accepted (a longer one → 501, RFC 9112 §3).
pub(crate) const MAX_METHOD_LEN: usize = 64;
/// `HTTP/d.d`.
const VERSION_LEN: usize = 8;
/// Empty lines (CRLF) tolerated before a request line (RFC 9112 §2.2).
pub(crate) const MAX_LEADING_EMPTY_LINES: usize = 8;

/// A rejected head: the status, its reason phrase (also the body) and a
/// short description of the rule that fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) status: StatusCode,
    pub(crate) reason: &'static str,
    pub(crate) detail: &'static str,
}

impl Rejection {
    pub(crate) const fn bad(detail: &'static str) -> Self {
        Rejection {
            status: StatusCode::BAD_REQUEST,
            reason: "Bad Request",
            detail,
        }
    }
    pub(super) const fn uri_too_long(detail: &'static str) -> Self {
        Rejection {
            status: StatusCode::URI_TOO_LONG,
            reason: "URI Too Long",
            detail,
        }
    }
    const fn fields_too_large(detail: &'static str) -> Self {
        Rejection {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            reason: "Request Header Fields Too Large",
            detail,
        }
    }
    pub(super) const fn payload_too_large() -> Self {
        Rejection {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            reason: "Payload Too Large",
            detail: "Content-Length over max_body_size",
        }
    }
    const fn version(detail: &'static str) -> Self {
        Rejection {
            status: StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            reason: "HTTP Version Not Supported",
            detail,
        }
    }
    pub(super) const fn not_implemented(detail: &'static str) -> Self {
        Rejection {
            status: StatusCode::NOT_IMPLEMENTED,
            reason: "Not Implemented",
            detail,
        }
    }
    pub(crate) const fn timeout() -> Self {
        Rejection {
            status: StatusCode::REQUEST_TIMEOUT,
            reason: "Request Timeout",
            detail: "header_timeout_ms expired",
        }
    }
}

/// How the body after an accepted head is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes (> 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// An accepted head.
#[derive(Debug)]
pub(crate) struct Accepted {
    /// Head length in bytes (leading empty lines and the final CRLF included).
    pub(crate) len: usize,
    pub(crate) verdict: Verdict,
    pub(crate) framing: Framing,
    /// CONNECT or an HTTP/1.1 `Upgrade` request: hold later bytes until the
    /// service decides (`ConnGuard::upgrade_accepted` / `request_finished`).
    pub(crate) hold: bool,
}

/// Result of feeding bytes to the scanner.
#[derive(Debug)]
pub(crate) enum Feed {
    /// All bytes belong to an unfinished head.
    NeedMore,
    /// The head ended and passed every check.
    Complete(Accepted),
    /// The head violates a rule; what its request line had shown by then.
    Reject(Rejection, RequestLineSeen),
}

/// Longest part of a cut-short request-target kept for the access line.
pub const SEEN_TARGET_MAX: usize = 256;

/// What a refused head had shown of its request line, for the access line
/// (docs/internals/logging.md, "Refused requests"): hyper only ever sees the
/// synthetic head in its place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestLineSeen {
    /// The method, once a SP ended its token.
    pub method: Option<String>,
    /// The request-target, once a SP ended it. A target the refusal cut short
    /// (414, a control byte, a timeout) is the part received, at most
    /// [`SEEN_TARGET_MAX`] bytes, followed by `...`. Bytes outside printable
    /// ASCII are percent-encoded, so a log line stays one line.
    pub target: Option<String>,
}

/// Printable-ASCII text of request-line bytes (method tokens and targets are
/// already free of spaces and controls; bytes >= 0x80 are encoded).
fn loggable(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, percent_encoding::CONTROLS).to_string()
}

/// Byte classes, one table for every byte test of the scanner: a lookup instead of a chain of
/// range comparisons, and what lets [`HeadScanner::skip_run`] cross a run of ordinary bytes with
/// one load per byte.
const TCHAR: u8 = 1;
const TARGET: u8 = 2;
const VALUE: u8 = 4;

static BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let mut class = 0;
        // RFC 9110 §5.6.2 `tchar`.
        if matches!(c,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
            | b'`' | b'|' | b'~' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z')
        {
            class |= TCHAR;
        }
        // Request-target: visible ASCII and obs-text.
        if (c >= 0x21 && c <= 0x7E) || c >= 0x80 {
            class |= TARGET;
        }
        // `field-vchar / SP / HTAB` (obs-text allowed, as hyper does).
        if c == b'\t' || (c >= 0x20 && c <= 0x7E) || c >= 0x80 {
            class |= VALUE;
        }
        table[b] = class;
        b += 1;
    }
    table
};

/// RFC 9110 §5.6.2 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    BYTE_CLASS[b as usize] & TCHAR != 0
}

/// `field-vchar / SP / HTAB` (obs-text allowed, as hyper does).
pub(crate) fn is_field_value_byte(b: u8) -> bool {
    BYTE_CLASS[b as usize] & VALUE != 0
}

fn is_target_byte(b: u8) -> bool {
    BYTE_CLASS[b as usize] & TARGET != 0
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Lead,
    LeadCr,
    Method,
    Target,
    Version,
    RlCr,
    LineStart,
    Name,
    Value,
    FieldCr,
    EndCr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MethodKind {
    Connect,
    Options,
    Other,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct RequestLine {
    pub(super) http11: bool,
    pub(super) method: MethodKind,
    pub(super) form: TargetForm,
}

/// One field line: name = `[start, colon)`, value = `(colon, end)` untrimmed.
#[derive(Clone, Copy, Debug)]
pub(super) struct Field {
    pub(super) start: usize,
    pub(super) colon: usize,
    pub(super) end: usize,
}

/// Incremental scanner for one request head; reset and reused per request.
#[derive(Debug)]
pub(crate) struct HeadScanner {
    st: St,
    len: usize,
    lead: usize,
    method_end: usize,
    target_start: usize,
    version_start: usize,
    line_start: usize,
    colon: usize,
    header_bytes: usize,
    pub(super) fields: Vec<Field>,
    pub(super) rl: Option<RequestLine>,
    /// Tests only: scan every byte through the state machine, never through `skip_run`, as the
    /// reference the run-skipping scan is compared with.
    #[cfg(test)]
    pub(super) byte_by_byte: bool,
}

impl HeadScanner {
    pub(crate) fn new() -> Self {
        HeadScanner {
            st: St::Lead,
            len: 0,
            lead: 0,
            method_end: 0,
            target_start: 0,
            version_start: 0,
            line_start: 0,
            colon: 0,
            header_bytes: 0,
            fields: Vec::new(),
            rl: None,
            #[cfg(test)]
            byte_by_byte: false,
        }
    }

    /// Forget the current head (keeps the field vector's allocation).
    pub(crate) fn reset(&mut self) {
        let mut fields = std::mem::take(&mut self.fields);
        fields.clear();
        *self = HeadScanner {
            fields,
            ..HeadScanner::new()
        };
    }

    /// Forget the current head and the field vector's allocation (a parked connection keeps
    /// no buffer).
    pub(crate) fn release(&mut self) {
        *self = HeadScanner::new();
    }

    /// Bytes of the current head already scanned.
    pub(crate) fn scanned(&self) -> usize {
        self.len
    }

    /// Whether the head has a byte other than leading empty lines: the
    /// difference between "nothing received" (silent close) and 408.
    pub(crate) fn has_content(&self) -> bool {
        !matches!(self.st, St::Lead | St::LeadCr)
    }

    /// Continue scanning; `head` is the whole head so far (`head[..scanned()]`
    /// was seen before). Bytes after the end of the head are left alone.
    pub(crate) fn feed(&mut self, head: &[u8], limits: &GuardLimits) -> Feed {
        let mut i = self.len;
        loop {
            i = self.skip_run(head, i, limits);
            let Some(&b) = head.get(i) else {
                break;
            };
            match self.byte(b, i, head, limits) {
                Ok(false) => i += 1,
                Ok(true) => {
                    self.len = i + 1;
                    let whole = head.get(..i + 1).unwrap_or(head);
                    return match self.complete(whole, limits) {
                        Ok(acc) => Feed::Complete(acc),
                        Err(r) => Feed::Reject(r, self.seen(whole, i + 1)),
                    };
                }
                Err(r) => return Feed::Reject(r, self.seen(head, i)),
            }
        }
        self.len = i;
        Feed::NeedMore
    }

    /// The request line as far as `head[..upto]` shows it (`head` starts at the
    /// head's first byte, as in [`feed`](Self::feed)).
    pub(crate) fn seen(&self, head: &[u8], upto: usize) -> RequestLineSeen {
        let text =
            |from: usize, to: usize| head.get(from..to).filter(|b| !b.is_empty()).map(loggable);
        match self.st {
            St::Lead | St::LeadCr | St::Method => RequestLineSeen::default(),
            St::Target => {
                let end = upto.min(head.len());
                let cap = end.min(self.target_start.saturating_add(SEEN_TARGET_MAX));
                RequestLineSeen {
                    method: text(self.lead, self.method_end),
                    target: text(self.target_start, cap).map(|t| t + "..."),
                }
            }
            _ => RequestLineSeen {
                method: text(self.lead, self.method_end),
                target: text(self.target_start, self.version_start.saturating_sub(1)),
            },
        }
    }

    /// From `i`, cross the run of ordinary bytes of the target, a field name or a field value
    /// (most of a head) with one table lookup each, and return where the run stops. The run
    /// stops before the first byte that the state machine must look at: one of another class
    /// (a separator, CR, a bad byte) or the first byte past the limit [`byte`](Self::byte)
    /// checks for this state. `byte` then takes that byte, so every rejection, its detail and
    /// its offset are exactly those of the byte-by-byte scan.
    fn skip_run(&mut self, head: &[u8], i: usize, limits: &GuardLimits) -> usize {
        #[cfg(test)]
        if self.byte_by_byte {
            return i;
        }
        let (class, room) = match self.st {
            St::Target => {
                let max = limits.max_uri_len.min(MAX_HYPER_URI);
                (TARGET, (self.target_start + max).saturating_sub(i))
            }
            St::Name => (
                TCHAR,
                limits.max_header_size.saturating_sub(self.header_bytes),
            ),
            St::Value => (
                VALUE,
                limits.max_header_size.saturating_sub(self.header_bytes),
            ),
            _ => return i,
        };
        let rest = head.get(i..).unwrap_or_default();
        let rest = rest.get(..room).unwrap_or(rest);
        let run = rest
            .iter()
            .position(|&b| BYTE_CLASS[b as usize] & class == 0)
            .unwrap_or(rest.len());
        if self.st != St::Target {
            self.header_bytes += run;
        }
        i + run
    }

    fn count_field_byte(&mut self, limits: &GuardLimits) -> Result<(), Rejection> {
        self.header_bytes += 1;
        if self.header_bytes > limits.max_header_size {
            return Err(Rejection::fields_too_large(
                "header block over max_header_size",
            ));
        }
        Ok(())
    }

    /// One byte at offset `i`; `Ok(true)` when it ends the head.
    fn byte(
        &mut self,
        b: u8,
        i: usize,
        head: &[u8],
        limits: &GuardLimits,
    ) -> Result<bool, Rejection> {
        match self.st {
            St::Lead => {
                if b == b'\r' {
                    self.st = St::LeadCr;
                } else {
                    // First byte of the request line.
                    self.lead = i;
                    self.st = St::Method;
                    return self.byte(b, i, head, limits);
                }
            }
            St::LeadCr => {
                if b != b'\n' {
                    return Err(Rejection::bad("bare CR"));
                }
                // `i` is the LF of the k-th CRLF pair: i = 2k - 1.
                if i.div_ceil(2) > MAX_LEADING_EMPTY_LINES {
                    return Err(Rejection::bad(
                        "too many empty lines before the request line",
                    ));
                }
                self.st = St::Lead;
            }
            St::Method => {
                if is_tchar(b) {
                    if i + 1 - self.lead > MAX_METHOD_LEN {
                        return Err(Rejection::not_implemented(
                            "method longer than any implemented",
                        ));
                    }
                } else if b == b' ' {
                    if i == self.lead {
                        return Err(Rejection::bad("empty method"));
                    }
                    self.method_end = i;
                    self.target_start = i + 1;
                    self.st = St::Target;
                } else if b == b'\n' {
                    return Err(Rejection::bad("bare LF"));
                } else if b == b'\r' {
                    return Err(Rejection::bad("request line without target and version"));
                } else {
                    return Err(Rejection::bad("invalid method token"));
                }
            }
            St::Target => {
                if b == b' ' {
                    if i == self.target_start {
                        return Err(Rejection::bad("more than one SP in the request line"));
                    }
                    self.version_start = i + 1;
                    self.st = St::Version;
                } else if is_target_byte(b) {
                    if i + 1 - self.target_start > limits.max_uri_len.min(MAX_HYPER_URI) {
                        return Err(Rejection::uri_too_long("request-target over max_uri_len"));
                    }
                } else if b == b'\n' {
                    return Err(Rejection::bad("bare LF"));
                } else if b == b'\r' {
                    return Err(Rejection::bad("request line without version"));
                } else {
                    return Err(Rejection::bad("control byte in the request-target"));
                }
            }
            St::Version => {
                if b == b'\r' {
                    if i == self.version_start {
                        return Err(Rejection::bad("empty version"));
                    }
                    self.st = St::RlCr;
                } else if b == b' ' {
                    return Err(Rejection::bad("more than one SP in the request line"));
                } else if b == b'\n' {
                    return Err(Rejection::bad("bare LF"));
                } else if b.is_ascii_graphic() {
                    if i + 1 - self.version_start > VERSION_LEN {
                        return Err(Rejection::bad("malformed HTTP version"));
                    }
                } else {
                    return Err(Rejection::bad("control byte in the HTTP version"));
                }
            }
            St::RlCr => {
                if b != b'\n' {
                    return Err(Rejection::bad("bare CR"));
                }
                self.rl = Some(self.request_line(head, i - 1, limits)?);
                self.st = St::LineStart;
            }
            St::LineStart => {
                if b == b'\r' {
                    self.st = St::EndCr;
                } else if is_tchar(b) {
                    if self.fields.len() >= limits.max_headers {
                        return Err(Rejection::fields_too_large("more than max_headers fields"));
                    }
                    self.count_field_byte(limits)?;
                    self.line_start = i;
                    self.st = St::Name;
                } else {
                    return Err(Rejection::bad(match b {
                        b' ' | b'\t' => "obs-fold or whitespace before a field name",
                        b':' => "empty field name",
                        b'\n' => "bare LF",
                        _ => "invalid field name",
                    }));
                }
            }
            St::Name => {
                if is_tchar(b) {
                    self.count_field_byte(limits)?;
                } else if b == b':' {
                    self.count_field_byte(limits)?;
                    self.colon = i;
                    self.st = St::Value;
                } else {
                    return Err(Rejection::bad(match b {
                        b' ' | b'\t' => "whitespace before the colon",
                        b'\r' | b'\n' => "field line without a colon",
                        _ => "invalid field name",
                    }));
                }
            }
            St::Value => {
                if b == b'\r' {
                    self.st = St::FieldCr;
                } else if is_field_value_byte(b) {
                    self.count_field_byte(limits)?;
                } else if b == b'\n' {
                    return Err(Rejection::bad("bare LF"));
                } else {
                    return Err(Rejection::bad("control byte in a field value"));
                }
            }
            St::FieldCr => {
                if b != b'\n' {
                    return Err(Rejection::bad("bare CR"));
                }
                self.fields.push(Field {
                    start: self.line_start,
                    colon: self.colon,
                    end: i - 1,
                });
                self.st = St::LineStart;
            }
            St::EndCr => {
                if b != b'\n' {
                    return Err(Rejection::bad("bare CR"));
                }
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The request line is complete (`cr` = offset of its CR).
    fn request_line(
        &self,
        head: &[u8],
        cr: usize,
        _limits: &GuardLimits,
    ) -> Result<RequestLine, Rejection> {
        let version = head.get(self.version_start..cr).unwrap_or_default();
        let http11 = match version {
            b"HTTP/1.1" => true,
            b"HTTP/1.0" => false,
            [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
                if major.is_ascii_digit() && minor.is_ascii_digit() =>
            {
                return Err(Rejection::version("HTTP version other than 1.0/1.1"));
            }
            _ => return Err(Rejection::bad("malformed HTTP version")),
        };
        let method = head.get(self.lead..self.method_end).unwrap_or_default();
        let target = head
            .get(self.target_start..self.version_start.saturating_sub(1))
            .unwrap_or_default();
        let kind = match method {
            b"CONNECT" => MethodKind::Connect,
            b"OPTIONS" => MethodKind::Options,
            _ => MethodKind::Other,
        };
        let form = classify_target(kind, target)?;
        // Shift target-relative ranges to head offsets.
        let form = match form {
            TargetForm::Absolute { auth, path } => TargetForm::Absolute {
                auth: (auth.0 + self.target_start, auth.1 + self.target_start),
                path: (path.0 + self.target_start, path.1 + self.target_start),
            },
            other => other,
        };
        Ok(RequestLine {
            http11,
            method: kind,
            form,
        })
    }
}
