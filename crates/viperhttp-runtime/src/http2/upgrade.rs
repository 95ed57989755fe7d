//! h2c upgrade (docs/internals/tls-http2.md, "Cleartext HTTP/2"): an HTTP/1.1 request
//! with `Upgrade: h2c`, `Connection: Upgrade, HTTP2-Settings` and a non-empty
//! `HTTP2-Settings` is answered `101 Switching Protocols` and the connection
//! continues as HTTP/2, where the request itself is answered on stream 1
//! (RFC 7540 §3.2).
//!
//! It is decided on the first bytes of a cleartext connection, before hyper
//! sees them: the request head must be complete in what was read and carry no
//! body; otherwise the upgrade is ignored and the request is served as
//! HTTP/1.1 (a server may always ignore `Upgrade`). hyper's h2 server cannot be
//! handed a request, so the request is given to it as the client's first
//! HEADERS frame on stream 1, placed right after the client's SETTINGS frame
//! ([`AfterSettings`]); it is HPACK-coded without the dynamic table, so the
//! client's own header compression state is untouched.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::sniff::{put_read_ahead, PREFACE};

/// What the first request head asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum H2c {
    /// Not an h2c upgrade we take: serve as HTTP/1.1.
    No,
    /// An upgrade with an `HTTP2-Settings` value that is not base64url of
    /// whole 6-byte entries (or longer than 512 characters): 400.
    BadSettings,
    /// Upgrade: the first `head_len` bytes are the request, `headers` its
    /// HTTP/2 HEADERS frame for stream 1.
    Upgrade {
        /// Bytes of the HTTP/1.1 head.
        head_len: usize,
        /// The HEADERS frame (END_STREAM | END_HEADERS, stream 1).
        headers: Bytes,
    },
}

/// The answer that switches protocols.
pub const SWITCHING: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
/// The answer to a malformed `HTTP2-Settings`.
pub const BAD_SETTINGS: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Request";

const MAX_SETTINGS_LEN: usize = 512;
/// Header fields of the upgrade request that are not HTTP/2 fields.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "upgrade",
    "http2-settings",
    "host",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
];

fn has_token(values: &[&[u8]], token: &str) -> bool {
    values.iter().any(|v| {
        v.split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// base64url (no padding, `=` tolerated at the end) of whole 6-byte entries.
fn settings_ok(value: &[u8]) -> bool {
    let trimmed = value.trim_ascii();
    let data = trimmed
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(&[][..], |last| trimmed.get(..=last).unwrap_or_default());
    if data.is_empty() || trimmed.len() > MAX_SETTINGS_LEN {
        return false;
    }
    let alphabet = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    if !data.iter().all(alphabet) || data.len() % 4 == 1 {
        return false;
    }
    let bytes = data.len() / 4 * 3 + (data.len() % 4).saturating_sub(1);
    bytes % 6 == 0
}

/// HPACK integer with an `n`-bit prefix (RFC 7541 §5.1), first byte `flags`.
fn hpack_int(out: &mut Vec<u8>, flags: u8, prefix_bits: u32, mut n: usize) {
    let max = (1usize << prefix_bits) - 1;
    if n < max {
        out.push(flags | n as u8);
        return;
    }
    out.push(flags | max as u8);
    n -= max;
    while n >= 128 {
        out.push((n % 128) as u8 | 0x80);
        n /= 128;
    }
    out.push(n as u8);
}

/// Literal header field without indexing, new name, no Huffman (§6.2.2).
fn literal(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0);
    hpack_int(out, 0, 7, name.len());
    out.extend_from_slice(name);
    hpack_int(out, 0, 7, value.len());
    out.extend_from_slice(value);
}

/// Look at the first request head in `buf`.
pub fn inspect(buf: &[u8]) -> H2c {
    let mut fields = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut fields);
    let Ok(httparse::Status::Complete(head_len)) = req.parse(buf) else {
        return H2c::No;
    };
    let (Some(method), Some(path), Some(1)) = (req.method, req.path, req.version) else {
        return H2c::No;
    };
    let all = |name: &str| -> Vec<&[u8]> {
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
            .collect()
    };
    let settings = all("http2-settings");
    if !has_token(&all("upgrade"), "h2c")
        || !has_token(&all("connection"), "upgrade")
        || !has_token(&all("connection"), "http2-settings")
        || settings.len() != 1
        || settings.first().is_some_and(|v| v.trim_ascii().is_empty())
    {
        return H2c::No;
    }
    // A body would have to be replayed as DATA on stream 1: not taken.
    let has_body = !all("transfer-encoding").is_empty()
        || all("content-length").iter().any(|v| v.trim_ascii() != b"0");
    if has_body || !path.starts_with('/') {
        return H2c::No;
    }
    if !settings.first().is_some_and(|v| settings_ok(v)) {
        return H2c::BadSettings;
    }
    let mut block = Vec::with_capacity(256);
    literal(&mut block, b":method", method.as_bytes());
    literal(&mut block, b":scheme", b"http");
    literal(&mut block, b":path", path.as_bytes());
    if let Some(host) = all("host").first() {
        literal(&mut block, b":authority", host);
    }
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        if !HOP_BY_HOP.contains(&name.as_str()) {
            literal(&mut block, name.as_bytes(), h.value);
        }
    }
    if block.len() > 16_384 {
        return H2c::No; // one frame only; a larger head is served as HTTP/1.1
    }
    let mut frame = Vec::with_capacity(9 + block.len());
    frame.extend_from_slice(&(block.len() as u32).to_be_bytes()[1..]);
    frame.extend_from_slice(&[0x1, 0x1 | 0x4, 0, 0, 0, 1]); // HEADERS, END_STREAM|END_HEADERS, stream 1
    frame.extend_from_slice(&block);
    H2c::Upgrade {
        head_len,
        headers: Bytes::from(frame),
    }
}

/// Reads the client's preface and first (SETTINGS) frame from `inner`, then
/// the injected frame, then the rest of the stream. Writes pass through.
#[derive(Debug)]
pub struct AfterSettings<IO> {
    inner: IO,
    inject: Option<Bytes>,
    /// Bytes read and not yet handed on.
    pending: BytesMut,
    /// `pending` may be handed on (the injection point was passed).
    passing: bool,
}

impl<IO> AfterSettings<IO> {
    /// `inject` goes after the first frame that follows the preface.
    pub fn new(inner: IO, inject: Bytes) -> Self {
        AfterSettings {
            inner,
            inject: Some(inject),
            pending: BytesMut::new(),
            passing: false,
        }
    }

    /// Once the preface and the first frame are in `pending`, put the
    /// injected frame after them.
    fn place(&mut self) {
        let head = PREFACE.len() + 9;
        let Some(len) = self
            .pending
            .get(PREFACE.len()..PREFACE.len() + 3)
            .map(|l| (usize::from(l[0]) << 16) | (usize::from(l[1]) << 8) | usize::from(l[2]))
        else {
            return;
        };
        if self.pending.len() < head + len {
            return;
        }
        let rest = self.pending.split_off(head + len);
        if let Some(frame) = self.inject.take() {
            self.pending.extend_from_slice(&frame);
        }
        self.pending.extend_from_slice(&rest);
        self.passing = true;
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for AfterSettings<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.passing {
                if !this.pending.is_empty() {
                    put_read_ahead(&mut this.pending, out);
                    return Poll::Ready(Ok(()));
                }
                return Pin::new(&mut this.inner).poll_read(cx, out);
            }
            let mut chunk = [0u8; 4096];
            let mut rb = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    if rb.filled().is_empty() {
                        // EOF before the client's SETTINGS: hand on what came.
                        this.passing = true;
                        continue;
                    }
                    this.pending.extend_from_slice(rb.filled());
                    this.place();
                }
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for AfterSettings<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &str = "GET /info HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";

    #[test]
    fn a_valid_upgrade_becomes_a_headers_frame_for_stream_1() {
        match inspect(REQ.as_bytes()) {
            H2c::Upgrade { head_len, headers } => {
                assert_eq!(head_len, REQ.len());
                assert_eq!(&headers[3..9], &[1, 5, 0, 0, 0, 1]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn settings_must_be_base64url_of_whole_entries() {
        assert!(settings_ok(b"AAMAAABkAAQAAP__")); // 12 bytes, two entries
        assert!(settings_ok(b"AAMAAABk")); // 6 bytes
        assert!(!settings_ok(b"AAMAAA")); // 4 bytes
        assert!(!settings_ok(b"AAMAAABkA")); // a stray character
        assert!(!settings_ok(b"AAM*AABk"));
        assert!(!settings_ok(&[b'A'; 516]));
        let bad = REQ.replace("AAMAAABkAAQAAP__", "!!!");
        assert_eq!(inspect(bad.as_bytes()), H2c::BadSettings);
    }

    #[test]
    fn other_requests_are_not_upgrades() {
        assert_eq!(inspect(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), H2c::No);
        let no_conn = REQ.replace("Connection: Upgrade, HTTP2-Settings\r\n", "");
        assert_eq!(inspect(no_conn.as_bytes()), H2c::No);
        let body = REQ.replace("Host:", "Content-Length: 3\r\nHost:");
        assert_eq!(inspect(body.as_bytes()), H2c::No);
        assert_eq!(inspect(&REQ.as_bytes()[..20]), H2c::No); // incomplete head
    }
}
