//! Blob codecs (docs/internals/ipc.md): the request blob `[URI][HEADERS][BODY]`
//! with headers as `name\0value\0…`, and the response header block of
//! `Name: value\r\n` lines; the path carried by a `RESP_FILE` record.
//!
//! Every decoder here works on untrusted bytes and never panics: no indexing,
//! only `split`/`get`/iterators.

use crate::IpcError;

/// Largest header blob / block: the `headers_len` field is a u16.
pub const MAX_HEADERS_LEN: usize = u16::MAX as usize;

/// `value` without leading and trailing SP / HT.
pub fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |p| p + 1);
    value.get(start..end).unwrap_or_default()
}

/// RFC 9110 `tchar`.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// RFC 9110 `token`: one or more `tchar`.
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Byte length of the request header blob for these headers.
pub fn request_headers_len<'h>(headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>) -> usize {
    headers.into_iter().fold(0usize, |acc, (name, value)| {
        acc.saturating_add(name.len() + trim_ows(value).len() + 2)
    })
}

/// Where the header block of a request blob written at ring `offset` starts (the blob is
/// `[URI][HEADERS][BODY]`, [`write_request_blob`]), as `IpcMsg::headers_offset` carries it:
/// 0 without headers.
#[inline]
pub fn request_headers_offset(offset: u32, uri_len: usize, headers_len: usize) -> u32 {
    if headers_len > 0 {
        offset + uri_len as u32
    } else {
        0
    }
}

/// Write `[URI][HEADERS][BODY]` into `dst` (exactly
/// `uri.len() + request_headers_len(headers) + body.len()` bytes long), header
/// values trimmed of leading/trailing SP/HT. Names or values containing NUL →
/// `Malformed` (the runtime's parser never lets them through).
///
/// A `dst` of any other length → `Malformed` (its content is then unspecified).
pub fn write_request_blob<'h>(
    dst: &mut [u8],
    uri: &[u8],
    headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
    body: &[u8],
) -> Result<(), IpcError> {
    let mut w = Writer { dst, pos: 0 };
    w.put(uri)?;
    for (name, value) in headers {
        let value = trim_ows(value);
        if name.contains(&0) || value.contains(&0) {
            return Err(IpcError::Malformed("NUL in request header"));
        }
        w.put(name)?;
        w.put(&[0])?;
        w.put(value)?;
        w.put(&[0])?;
    }
    w.put(body)?;
    if w.pos != w.dst.len() {
        return Err(IpcError::Malformed("request blob length mismatch"));
    }
    Ok(())
}

/// Sequential writer over a fixed slice; overflowing it is `Malformed`.
struct Writer<'d> {
    dst: &'d mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), IpcError> {
        let end = self
            .pos
            .checked_add(bytes.len())
            .ok_or(IpcError::Malformed("request blob length mismatch"))?;
        let slot = self
            .dst
            .get_mut(self.pos..end)
            .ok_or(IpcError::Malformed("request blob length mismatch"))?;
        slot.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }
}

/// The three parts of a request blob, borrowed from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestBlobParts<'a> {
    /// Raw request-target (path + optional `?query`).
    pub uri: &'a [u8],
    /// Header blob `name\0value\0…` (see [`request_headers`]).
    pub headers: &'a [u8],
    /// Body bytes.
    pub body: &'a [u8],
}

/// Split a request blob `[URI][HEADERS][BODY]` by the record's `uri_len` and
/// `headers_len` (the body is the rest). Lengths past the end of `blob` →
/// `Malformed`.
pub fn split_request_blob(
    blob: &[u8],
    uri_len: usize,
    headers_len: usize,
) -> Result<RequestBlobParts<'_>, IpcError> {
    let (uri, rest) = blob
        .split_at_checked(uri_len)
        .ok_or(IpcError::Malformed("uri_len past blob end"))?;
    let (headers, body) = rest
        .split_at_checked(headers_len)
        .ok_or(IpcError::Malformed("headers_len past blob end"))?;
    Ok(RequestBlobParts { uri, headers, body })
}

/// Split a raw URI into path and query at the first `?` (the query excludes
/// the `?`; None when there is no `?`).
pub fn split_uri(uri: &[u8]) -> (&[u8], Option<&[u8]>) {
    let mut parts = uri.splitn(2, |&b| b == b'?');
    let path = parts.next().unwrap_or_default();
    (path, parts.next())
}

/// Iterate a request header blob `name\0value\0…`. A blob that does not end
/// right after a value's NUL yields one `Malformed` error and stops.
pub fn request_headers(blob: &[u8]) -> RequestHeaders<'_> {
    RequestHeaders {
        rest: blob,
        failed: false,
    }
}

/// Iterator returned by [`request_headers`].
pub struct RequestHeaders<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Split `s` at the first `sep`: (before, after). None when `sep` is absent.
fn split_once_byte(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let mut parts = s.splitn(2, |&b| b == sep);
    let before = parts.next()?;
    let after = parts.next()?;
    Some((before, after))
}

impl<'a> Iterator for RequestHeaders<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), IpcError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let parsed = split_once_byte(self.rest, 0).and_then(|(name, rest)| {
            split_once_byte(rest, 0).map(|(value, rest)| (name, value, rest))
        });
        match parsed {
            Some((name, value, rest)) => {
                self.rest = rest;
                Some(Ok((name, value)))
            }
            None => {
                self.failed = true;
                self.rest = &[];
                Some(Err(IpcError::Malformed("truncated request header blob")))
            }
        }
    }
}

impl std::iter::FusedIterator for RequestHeaders<'_> {}

/// Append one `Name: value\r\n` line to a response header block. A name that
/// is not an RFC 9110 token, or a value holding a control character (CR, LF, NUL, DEL, ...) → `Malformed`;
/// a block that would pass 65 535 bytes → `HeadersTooLarge`.
///
/// On error the block is left unchanged.
pub fn push_response_header(
    block: &mut Vec<u8>,
    name: &[u8],
    value: &[u8],
) -> Result<(), IpcError> {
    if !is_token(name) {
        return Err(IpcError::Malformed("response header name is not a token"));
    }
    // RFC 9110 §5.5: field-value = VCHAR / obs-text / SP / HTAB. Every other control
    // byte (CR, LF, NUL, \x01, DEL, ...) is refused the same way, so the app gets a
    // logged 500 instead of a header that hyper would silently drop.
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(IpcError::Malformed(
            "control character in response header value",
        ));
    }
    let new_len = block
        .len()
        .saturating_add(name.len())
        .saturating_add(value.len())
        .saturating_add(4);
    if new_len > MAX_HEADERS_LEN {
        return Err(IpcError::HeadersTooLarge);
    }
    block.reserve(new_len - block.len());
    block.extend_from_slice(name);
    block.extend_from_slice(b": ");
    block.extend_from_slice(value);
    block.extend_from_slice(b"\r\n");
    Ok(())
}

/// Iterate a response header block. Lines without `": "`, or a block not ending
/// in CRLF, yield one `Malformed` error and stop.
pub fn response_headers(block: &[u8]) -> ResponseHeaders<'_> {
    ResponseHeaders {
        rest: block,
        failed: false,
    }
}

/// Iterator returned by [`response_headers`].
pub struct ResponseHeaders<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Position of the first occurrence of the two-byte `pat` in `s`.
fn find2(s: &[u8], pat: [u8; 2]) -> Option<usize> {
    s.windows(2).position(|w| w == pat)
}

impl<'a> ResponseHeaders<'a> {
    fn parse_line(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        let rest = self.rest;
        let eol = find2(rest, *b"\r\n")?;
        let line = rest.get(..eol)?;
        let after = rest.get(eol + 2..)?;
        let colon = find2(line, *b": ")?;
        let name = line.get(..colon)?;
        let value = line.get(colon + 2..)?;
        self.rest = after;
        Some((name, value))
    }
}

impl<'a> Iterator for ResponseHeaders<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), IpcError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match self.parse_line() {
            Some(pair) => Some(Ok(pair)),
            None => {
                self.failed = true;
                self.rest = &[];
                Some(Err(IpcError::Malformed("bad response header block")))
            }
        }
    }
}

impl std::iter::FusedIterator for ResponseHeaders<'_> {}

/// Longest file path a `RESP_FILE` record carries (Linux `PATH_MAX`, docs/internals/ipc.md §2).
pub const MAX_FILE_PATH_LEN: usize = 4096;

/// The check both sides of a `RESP_FILE` body make: an absolute path (starts with `/`, so
/// the runtime never depends on the working directory), no NUL (the OS would refuse it),
/// at most [`MAX_FILE_PATH_LEN`] bytes.
fn check_file_path(path: &[u8]) -> Result<(), IpcError> {
    if path.first() != Some(&b'/') {
        return Err(IpcError::Malformed("file path is not absolute"));
    }
    if path.contains(&0) {
        return Err(IpcError::Malformed("NUL in file path"));
    }
    if path.len() > MAX_FILE_PATH_LEN {
        return Err(IpcError::Malformed("file path too long"));
    }
    Ok(())
}

/// Encode the body of a `RESP_FILE` record: the path bytes as they are (docs/internals/ipc.md
/// §2). Refused (`Malformed`, nothing appended) unless [`file_path`] would accept it.
pub fn push_file_path(body: &mut Vec<u8>, path: &[u8]) -> Result<(), IpcError> {
    check_file_path(path)?;
    body.extend_from_slice(path);
    Ok(())
}

/// Decode the body of a `RESP_FILE` record into the path bytes (`Malformed` for an empty,
/// relative, NUL-holding or over-long path).
pub fn file_path(body: &[u8]) -> Result<&[u8], IpcError> {
    check_file_path(body)?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req_blob(uri: &[u8], headers: &[(&[u8], &[u8])], body: &[u8]) -> Vec<u8> {
        let hl = request_headers_len(headers.iter().copied());
        let mut v = vec![0xAA; uri.len() + hl + body.len()];
        write_request_blob(&mut v, uri, headers.iter().copied(), body).unwrap();
        v
    }

    #[test]
    fn trim() {
        assert_eq!(trim_ows(b"  a b\t "), b"a b");
        assert_eq!(trim_ows(b" \t "), b"");
        assert_eq!(trim_ows(b""), b"");
        assert_eq!(trim_ows(b"x"), b"x");
        assert_eq!(trim_ows(b"\tx\r"), b"x\r");
    }

    #[test]
    fn request_blob_round_trip() {
        let headers: [(&[u8], &[u8]); 3] = [
            (b"host", b" example.com "),
            (b"x-a", b"\t1\t2 "),
            (b"x-a", b""),
        ];
        let blob = req_blob(b"/p?q=1", &headers, b"BODY");
        let hl = request_headers_len(headers.iter().copied());
        assert_eq!(hl, b"host\0example.com\0x-a\x001\t2\0x-a\0\0".len());
        assert_eq!(blob, b"/p?q=1host\0example.com\0x-a\x001\t2\0x-a\0\0BODY");
        let RequestBlobParts {
            uri,
            headers: hb,
            body,
        } = split_request_blob(&blob, 6, hl).unwrap();
        assert_eq!((uri, body), (&b"/p?q=1"[..], &b"BODY"[..]));
        let got: Vec<_> = request_headers(hb).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            vec![
                (&b"host"[..], &b"example.com"[..]),
                (b"x-a", b"1\t2"),
                (b"x-a", b"")
            ]
        );
        assert_eq!(split_uri(uri), (&b"/p"[..], Some(&b"q=1"[..])));
        assert_eq!(split_uri(b"/a?b?c"), (&b"/a"[..], Some(&b"b?c"[..])));
        assert_eq!(split_uri(b"/x"), (&b"/x"[..], None));
        assert_eq!(split_uri(b""), (&b""[..], None));
    }

    #[test]
    fn request_blob_errors() {
        let mut short = [0u8; 3];
        assert!(write_request_blob(&mut short, b"/abc", [], b"").is_err());
        let mut long = [0u8; 10];
        assert!(write_request_blob(&mut long, b"/abc", [], b"").is_err());
        let mut dst = [0u8; 32];
        let nul_name: [(&[u8], &[u8]); 1] = [(b"a\0b", b"v")];
        assert_eq!(
            write_request_blob(&mut dst, b"/", nul_name, b""),
            Err(IpcError::Malformed("NUL in request header"))
        );
        let nul_value: [(&[u8], &[u8]); 1] = [(b"a", b"v\0")];
        assert!(write_request_blob(&mut dst, b"/", nul_value, b"").is_err());
        assert!(split_request_blob(b"abc", 4, 0).is_err());
        assert!(split_request_blob(b"abc", 2, 2).is_err());
        assert_eq!(
            split_request_blob(b"abc", 1, 2).unwrap(),
            RequestBlobParts {
                uri: b"a",
                headers: b"bc",
                body: b""
            }
        );
    }

    #[test]
    fn malformed_request_header_blobs() {
        for bad in [
            &b"name"[..],
            b"name\0",
            b"name\0value",
            b"a\0b\0c",
            b"a\0b\0c\0",
            b"\0",
        ] {
            let items: Vec<_> = request_headers(bad).collect();
            let last = items.last().unwrap();
            assert!(matches!(last, Err(IpcError::Malformed(_))), "{bad:?}");
            assert_eq!(items.iter().filter(|r| r.is_err()).count(), 1);
        }
        assert_eq!(request_headers(b"").count(), 0);
        assert_eq!(
            request_headers(b"\0\0").collect::<Vec<_>>(),
            vec![Ok((&b""[..], &b""[..]))]
        );
    }

    #[test]
    fn response_block_round_trip() {
        let mut block = Vec::new();
        push_response_header(&mut block, b"Content-Type", b"text/plain; charset=utf-8").unwrap();
        push_response_header(&mut block, b"X-Empty", b"").unwrap();
        push_response_header(&mut block, b"Set-Cookie", b"a=b: c").unwrap();
        assert_eq!(
            block,
            b"Content-Type: text/plain; charset=utf-8\r\nX-Empty: \r\nSet-Cookie: a=b: c\r\n"
        );
        let got: Vec<_> = response_headers(&block).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            vec![
                (&b"Content-Type"[..], &b"text/plain; charset=utf-8"[..]),
                (b"X-Empty", b""),
                (b"Set-Cookie", b"a=b: c")
            ]
        );
        assert_eq!(response_headers(b"").count(), 0);
    }

    #[test]
    fn invalid_response_headers() {
        let mut block = b"A: b\r\n".to_vec();
        for name in [&b""[..], b"Bad Name", b"Bad:", b"X\x80", b"a\r\n"] {
            assert!(matches!(
                push_response_header(&mut block, name, b"v"),
                Err(IpcError::Malformed(_))
            ));
        }
        for value in [&b"a\rb"[..], b"a\nb", b"a\0"] {
            assert!(matches!(
                push_response_header(&mut block, b"X", value),
                Err(IpcError::Malformed(_))
            ));
        }
        assert_eq!(block, b"A: b\r\n");
        push_response_header(&mut block, b"!#$%&'*+-.^_`|~09azAZ", b"\x80\xff\t ok").unwrap();
    }

    #[test]
    fn response_headers_too_large() {
        let mut block = Vec::new();
        let big = vec![b'v'; MAX_HEADERS_LEN - 4 - 1];
        push_response_header(&mut block, b"X", &big).unwrap();
        assert_eq!(block.len(), MAX_HEADERS_LEN);
        assert_eq!(
            push_response_header(&mut block, b"Y", b""),
            Err(IpcError::HeadersTooLarge)
        );
        let mut block = Vec::new();
        let too_big = vec![b'v'; MAX_HEADERS_LEN - 4];
        assert_eq!(
            push_response_header(&mut block, b"X", &too_big),
            Err(IpcError::HeadersTooLarge)
        );
        assert!(block.is_empty());
    }

    #[test]
    fn malformed_response_blocks() {
        for bad in [
            &b"A: b"[..],
            b"A: b\r",
            b"A:b\r\n",
            b"A b\r\n",
            b"A: b\r\nC",
            b"\r\n",
            b"A: b\n",
        ] {
            let items: Vec<_> = response_headers(bad).collect();
            assert!(
                matches!(items.last(), Some(Err(IpcError::Malformed(_)))),
                "{bad:?}"
            );
            assert_eq!(items.iter().filter(|r| r.is_err()).count(), 1);
        }
        let items: Vec<_> = response_headers(b"A: b\r\nbad\r\nC: d\r\n").collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], Ok((&b"A"[..], &b"b"[..])));
    }

    #[test]
    fn token_rules() {
        assert!(is_token(b"X-Custom_1"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a(b)"));
        assert!(!is_token(b"\"q\""));
    }

    #[test]
    fn file_path_round_trips_and_refuses_bad_paths() {
        let mut body = Vec::new();
        push_file_path(&mut body, "/srv/a b/é.txt".as_bytes()).unwrap();
        assert_eq!(file_path(&body), Ok("/srv/a b/é.txt".as_bytes()));
        let longest = [b'/'; MAX_FILE_PATH_LEN];
        let mut body = Vec::new();
        push_file_path(&mut body, &longest).unwrap();
        assert_eq!(file_path(&body).map(<[u8]>::len), Ok(MAX_FILE_PATH_LEN));
        let too_long = [b'/'; MAX_FILE_PATH_LEN + 1];
        for bad in [&b""[..], b"rel/x", b"/a\0b", &too_long[..]] {
            let mut body = b"keep".to_vec();
            assert!(matches!(
                push_file_path(&mut body, bad),
                Err(IpcError::Malformed(_))
            ));
            assert_eq!(body, b"keep", "nothing appended on error");
            assert!(matches!(file_path(bad), Err(IpcError::Malformed(_))));
        }
    }
}
