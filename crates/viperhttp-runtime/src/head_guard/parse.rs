//! Incremental request-head scanner (docs/internals/http.md, RFC 9112 §2–§3, §5–§6).
//!
//! Bytes are checked one by one as they arrive, so most violations (bare
//! LF/CR, control bytes, invalid tokens, obs-fold, oversize parts) are
//! rejected before the end of the head; the rules that need the whole head
//! (Host, Content-Length, Transfer-Encoding, body size) run once it is
//! complete. Offsets are relative to the head's first byte; the scanner keeps
//! no copy of the bytes (the caller passes the whole head so far each time).

use std::net::Ipv6Addr;

use http::StatusCode;

use super::{GuardLimits, Verdict};

/// Longest method token accepted (a longer one → 501, RFC 9112 §3).
pub(crate) const MAX_METHOD_LEN: usize = 64;
/// `HTTP/d.d`.
const VERSION_LEN: usize = 8;
/// Empty lines (CRLF) tolerated before a request line (RFC 9112 §2.2).
pub(crate) const MAX_LEADING_EMPTY_LINES: usize = 8;
/// hyper keeps URI offsets in a u16 and answers longer targets itself.
pub(crate) const MAX_HYPER_URI: usize = u16::MAX as usize - 1;

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
    const fn uri_too_long(detail: &'static str) -> Self {
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
    const fn payload_too_large() -> Self {
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
    const fn not_implemented(detail: &'static str) -> Self {
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

/// RFC 9110 §5.6.2 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
        | b'`' | b'|' | b'~' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z')
}

/// `field-vchar / SP / HTAB` (obs-text allowed, as hyper does).
pub(crate) fn is_field_value_byte(b: u8) -> bool {
    b == b'\t' || (0x20..=0x7E).contains(&b) || b >= 0x80
}

fn is_target_byte(b: u8) -> bool {
    (0x21..=0x7E).contains(&b) || b >= 0x80
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
enum MethodKind {
    Connect,
    Options,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TargetForm {
    Origin,
    Asterisk,
    /// `http(s)://authority/path?q`: byte ranges of the authority and of `path?q`.
    Absolute {
        auth: (usize, usize),
        path: (usize, usize),
    },
    /// Any valid target of a CONNECT request (the service answers 405).
    Connect,
}

#[derive(Clone, Copy, Debug)]
struct RequestLine {
    http11: bool,
    method: MethodKind,
    form: TargetForm,
}

/// One field line: name = `[start, colon)`, value = `(colon, end)` untrimmed.
#[derive(Clone, Copy, Debug)]
struct Field {
    start: usize,
    colon: usize,
    end: usize,
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
    fields: Vec<Field>,
    rl: Option<RequestLine>,
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
        while let Some(&b) = head.get(i) {
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

    /// The head is complete: the rules that need every field.
    fn complete(&mut self, head: &[u8], limits: &GuardLimits) -> Result<Accepted, Rejection> {
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

/// An origin-form target of letters, digits, `/-._~%=&+,` and at most one `?`: a strict subset of
/// what `http::Uri` accepts in a path and a query (written by hand because `http` has no
/// check that borrows; `tests::plain_origin_is_a_subset_of_http_uri` holds it to that).
fn plain_origin(target: &[u8]) -> bool {
    let mut query = false;
    target.first() == Some(&b'/')
        && target.iter().all(|&b| match b {
            b'?' if !query => {
                query = true;
                true
            }
            b'/' | b'-' | b'.' | b'_' | b'~' | b'%' | b'=' | b'&' | b'+' | b',' => true,
            _ => b.is_ascii_alphanumeric(),
        })
}

/// Classify a request-target (RFC 9112 §3.2). Ranges are target-relative.
fn classify_target(method: MethodKind, target: &[u8]) -> Result<TargetForm, Rejection> {
    if target.len() > MAX_HYPER_URI {
        return Err(Rejection::uri_too_long("request-target over hyper's limit"));
    }
    // hyper parses the target with `http::Uri`; what it refuses is a 400 here. That parse
    // copies the target into a new allocation first, so the common plain origin-form target
    // skips it: `plain_origin` only passes bytes `http::Uri` accepts.
    if !plain_origin(target) && http::Uri::try_from(target).is_err() {
        return Err(Rejection::bad("invalid request-target"));
    }
    if target == b"*" {
        return match method {
            MethodKind::Options => Ok(TargetForm::Asterisk),
            _ => Err(Rejection::bad(
                "asterisk-form with a method other than OPTIONS",
            )),
        };
    }
    if method == MethodKind::Connect {
        return Ok(TargetForm::Connect);
    }
    if target.first() == Some(&b'/') {
        return Ok(TargetForm::Origin);
    }
    // absolute-form
    let colon = target
        .iter()
        .position(|&b| b == b':')
        .ok_or(Rejection::bad(
            "request-target is neither origin- nor absolute-form",
        ))?;
    let scheme = target.get(..colon).unwrap_or_default();
    if !(scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https")) {
        return Err(Rejection::bad(
            "absolute-form with a scheme other than http/https",
        ));
    }
    let after = target.get(colon + 1..).unwrap_or_default();
    if !after.starts_with(b"//") {
        return Err(Rejection::bad("absolute-form without an authority"));
    }
    let auth_start = colon + 3;
    let rest = target.get(auth_start..).unwrap_or_default();
    let auth_len = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let auth_end = auth_start + auth_len;
    if !valid_authority(target.get(auth_start..auth_end).unwrap_or_default(), false) {
        return Err(Rejection::bad("absolute-form with an invalid authority"));
    }
    if target.get(auth_end) != Some(&b'/') {
        return Err(Rejection::bad("absolute-form without a path"));
    }
    // http::Uri drops a fragment; so does the origin-form path handed on.
    let path_end = target
        .get(auth_end..)
        .and_then(|p| p.iter().position(|&b| b == b'#'))
        .map_or(target.len(), |p| auth_end + p);
    Ok(TargetForm::Absolute {
        auth: (auth_start, auth_end),
        path: (auth_end, path_end),
    })
}

/// `uri-host [":" port]` (RFC 9110 §7.2, RFC 3986 §3.2.2): no userinfo, a
/// non-empty all-digit port after a colon. `allow_empty`: an empty `Host`
/// value is valid syntax.
pub(crate) fn valid_authority(v: &[u8], allow_empty: bool) -> bool {
    let port = match v.first() {
        None => return allow_empty,
        Some(b'[') => {
            let Some(close) = v.iter().position(|&b| b == b']') else {
                return false;
            };
            if !valid_ip_literal(v.get(1..close).unwrap_or_default()) {
                return false;
            }
            match v.get(close + 1..).unwrap_or_default() {
                [] => return true,
                [b':', port @ ..] => port,
                _ => return false,
            }
        }
        Some(_) => {
            let (host, port) = match v.iter().position(|&b| b == b':') {
                Some(p) => (v.get(..p).unwrap_or_default(), v.get(p + 1..)),
                None => (v, None),
            };
            if host.is_empty() || !valid_reg_name(host) {
                return false;
            }
            match port {
                None => return true,
                Some(port) => port,
            }
        }
    };
    !port.is_empty() && port.iter().all(u8::is_ascii_digit)
}

/// RFC 3986 unreserved / sub-delims (also used by the router's `pchar`).
pub(crate) fn is_unreserved_or_sub_delim(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        )
}

/// reg-name / IPv4address: unreserved, sub-delims, pct-encoded.
fn valid_reg_name(host: &[u8]) -> bool {
    let mut it = host.iter();
    while let Some(&b) = it.next() {
        if b == b'%' {
            let ok = matches!((it.next(), it.next()), (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit());
            if !ok {
                return false;
            }
        } else if !is_unreserved_or_sub_delim(b) {
            return false;
        }
    }
    true
}

/// The inside of `[...]`: an IPv6 address or IPvFuture (no zone id).
fn valid_ip_literal(inner: &[u8]) -> bool {
    match inner {
        [b'v' | b'V', rest @ ..] => {
            let Some(dot) = rest.iter().position(|&b| b == b'.') else {
                return false;
            };
            let (ver, tail) = rest.split_at(dot);
            let tail = tail.get(1..).unwrap_or_default();
            !ver.is_empty()
                && ver.iter().all(u8::is_ascii_hexdigit)
                && !tail.is_empty()
                && tail
                    .iter()
                    .all(|&b| is_unreserved_or_sub_delim(b) || b == b':')
        }
        _ => std::str::from_utf8(inner)
            .ok()
            .and_then(|s| s.parse::<Ipv6Addr>().ok())
            .is_some(),
    }
}

#[cfg(test)]
mod plain_origin_tests {
    use super::plain_origin;

    /// Every target `plain_origin` passes, `http::Uri` accepts (so skipping its parse refuses
    /// nothing hyper would): all targets of `/` and up to three more bytes, each byte from the
    /// whole range, checked exhaustively over the bytes that matter.
    #[test]
    fn plain_origin_is_a_subset_of_http_uri() {
        let mut interesting: Vec<u8> = (0u8..=255).collect();
        let mut passed = 0usize;
        for &a in &interesting {
            for &b in &interesting {
                let t = [b'/', a, b];
                if plain_origin(&t) {
                    passed += 1;
                    assert!(http::Uri::try_from(&t[..]).is_ok(), "{t:?}");
                }
            }
        }
        assert!(
            passed > 4000,
            "the fast path takes the common targets ({passed})"
        );
        // Three bytes after the slash, over the accepted set and its neighbours.
        interesting.retain(|&b| b.is_ascii_graphic() || b == b' ');
        for &a in &interesting {
            for &b in &interesting {
                for &c in &interesting {
                    let t = [b'/', a, b, c];
                    if plain_origin(&t) {
                        assert!(http::Uri::try_from(&t[..]).is_ok(), "{t:?}");
                    }
                }
            }
        }
        assert!(plain_origin(b"/users/42?verbose=1&x=%20+y"));
        assert!(
            !plain_origin(b"/a?b?c"),
            "a second '?' takes the full parse"
        );
        assert!(!plain_origin(b"*") && !plain_origin(b"http://h/") && !plain_origin(b""));
        assert!(!plain_origin(b"/a b") && !plain_origin(b"/a#f") && !plain_origin(b"/\x7f"));
    }
}
