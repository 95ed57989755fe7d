//! Chunked-framing tracker (RFC 9112 §7.1): follows a `Transfer-Encoding:
//! chunked` body byte by byte (data in bulk) to find where it ends, without
//! decoding or copying it. hyper de-chunks the same bytes afterwards; this only
//! decides where the next request head starts and rejects framing hyper would
//! accept too leniently (no size digits, bare LF/CR, malformed extensions).

use super::parse::{is_field_value_byte, is_tchar};

/// Longest chunk-size line (size, extensions, CRLF excluded).
pub(crate) const MAX_SIZE_LINE: usize = 4096;
/// Extension bytes per body (hyper's own limit is 16 KiB; stay below it so
/// the guard, which counts the error, fires first).
pub(crate) const MAX_EXTENSION_BYTES: usize = 8192;
/// Trailer section bytes, CRLFs included (hyper: 16 KiB).
pub(crate) const MAX_TRAILER_BYTES: usize = 8192;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum C {
    SizeStart,
    Size,
    SizeLws,
    ExtPreName,
    ExtName,
    ExtPostName,
    ExtPreVal,
    ExtVal,
    ExtQuoted,
    ExtQuotedEsc,
    ExtPostVal,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    EndLf,
}

/// Result of feeding bytes to the tracker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChunkStep {
    /// Every byte belongs to the body; the body is not finished.
    NeedMore,
    /// The body ended after this many bytes of the slice (final CRLF included).
    Done(usize),
    /// Invalid framing at this offset of the slice (the bytes before it are valid).
    Error {
        /// Valid bytes before the offending one.
        consumed: usize,
        /// What was wrong (for logs and tests).
        detail: &'static str,
    },
}

/// Incremental chunked-body tracker.
#[derive(Clone, Debug)]
pub(crate) struct ChunkedTracker {
    st: C,
    size: u64,
    line: usize,
    ext_total: usize,
    trailer_bytes: usize,
    trailers: usize,
    max_trailers: usize,
}

fn hex(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    }
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

impl ChunkedTracker {
    /// A tracker at the start of a body; `max_trailers` bounds trailer fields.
    pub(crate) fn new(max_trailers: usize) -> Self {
        ChunkedTracker {
            st: C::SizeStart,
            size: 0,
            line: 0,
            ext_total: 0,
            trailer_bytes: 0,
            trailers: 0,
            max_trailers,
        }
    }

    /// Feed the next body bytes.
    pub(crate) fn feed(&mut self, data: &[u8]) -> ChunkStep {
        let mut i = 0usize;
        while i < data.len() {
            if self.st == C::Data {
                let avail = (data.len() - i) as u64;
                let take = self.size.min(avail);
                // take <= avail, which came from a usize.
                i += take as usize;
                self.size -= take;
                if self.size == 0 {
                    self.st = C::DataCr;
                }
                continue;
            }
            let Some(&b) = data.get(i) else { break };
            match self.step(b) {
                Ok(false) => i += 1,
                Ok(true) => return ChunkStep::Done(i + 1),
                Err(detail) => {
                    return ChunkStep::Error {
                        consumed: i,
                        detail,
                    }
                }
            }
        }
        ChunkStep::NeedMore
    }

    /// One framing byte (not chunk data). `Ok(true)` = the body ended with it.
    fn step(&mut self, b: u8) -> Result<bool, &'static str> {
        match self.st {
            C::SizeStart | C::Size | C::SizeLws => self.size_byte(b)?,
            C::ExtPreName
            | C::ExtName
            | C::ExtPostName
            | C::ExtPreVal
            | C::ExtVal
            | C::ExtQuoted
            | C::ExtQuotedEsc
            | C::ExtPostVal => self.ext_byte(b)?,
            C::SizeLf => {
                if b != b'\n' {
                    return Err("bare CR in chunk size line");
                }
                self.line = 0;
                self.st = if self.size == 0 {
                    C::TrailerStart
                } else {
                    C::Data
                };
            }
            C::Data => {}
            C::DataCr => {
                if b != b'\r' {
                    return Err("chunk data longer than its size");
                }
                self.st = C::DataLf;
            }
            C::DataLf => {
                if b != b'\n' {
                    return Err("bare CR after chunk data");
                }
                self.st = C::SizeStart;
            }
            C::TrailerStart | C::TrailerName | C::TrailerValue | C::TrailerLf => {
                self.trailer_bytes += 1;
                if self.trailer_bytes > MAX_TRAILER_BYTES {
                    return Err("trailer section too large");
                }
                self.trailer_byte(b)?;
            }
            C::EndLf => {
                if b != b'\n' {
                    return Err("bare CR at end of chunked body");
                }
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn size_byte(&mut self, b: u8) -> Result<(), &'static str> {
        self.line += 1;
        if self.line > MAX_SIZE_LINE {
            return Err("chunk size line too long");
        }
        match (self.st, hex(b)) {
            (C::SizeStart, Some(d)) => {
                self.size = d;
                self.st = C::Size;
            }
            (C::SizeStart, None) => return Err("chunk size missing"),
            (C::Size, Some(d)) => {
                self.size = self
                    .size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(d))
                    .ok_or("chunk size overflow")?;
            }
            (_, _) => match b {
                b' ' | b'\t' => self.st = C::SizeLws,
                b';' => self.st = C::ExtPreName,
                b'\r' => self.st = C::SizeLf,
                b'\n' => return Err("bare LF in chunk size line"),
                _ => return Err("invalid chunk size"),
            },
        }
        Ok(())
    }

    fn ext_byte(&mut self, b: u8) -> Result<(), &'static str> {
        self.line += 1;
        self.ext_total += 1;
        if self.line > MAX_SIZE_LINE {
            return Err("chunk size line too long");
        }
        if self.ext_total > MAX_EXTENSION_BYTES {
            return Err("chunk extensions too large");
        }
        const BAD: &str = "invalid chunk extension";
        self.st = match self.st {
            C::ExtPreName => match b {
                _ if is_ws(b) => C::ExtPreName,
                _ if is_tchar(b) => C::ExtName,
                _ => return Err(BAD),
            },
            C::ExtName => match b {
                _ if is_tchar(b) => C::ExtName,
                _ if is_ws(b) => C::ExtPostName,
                b'=' => C::ExtPreVal,
                b';' => C::ExtPreName,
                b'\r' => C::SizeLf,
                _ => return Err(BAD),
            },
            C::ExtPostName => match b {
                _ if is_ws(b) => C::ExtPostName,
                b'=' => C::ExtPreVal,
                b';' => C::ExtPreName,
                b'\r' => C::SizeLf,
                _ => return Err(BAD),
            },
            C::ExtPreVal => match b {
                _ if is_ws(b) => C::ExtPreVal,
                b'"' => C::ExtQuoted,
                _ if is_tchar(b) => C::ExtVal,
                _ => return Err(BAD),
            },
            C::ExtVal => match b {
                _ if is_tchar(b) => C::ExtVal,
                _ if is_ws(b) => C::ExtPostVal,
                b';' => C::ExtPreName,
                b'\r' => C::SizeLf,
                _ => return Err(BAD),
            },
            C::ExtQuoted => match b {
                b'"' => C::ExtPostVal,
                b'\\' => C::ExtQuotedEsc,
                b'\t' | b' ' | 0x21 | 0x23..=0x5B | 0x5D..=0x7E | 0x80..=0xFF => C::ExtQuoted,
                _ => return Err(BAD),
            },
            C::ExtQuotedEsc => match b {
                b'\t' | b' ' | 0x21..=0x7E | 0x80..=0xFF => C::ExtQuoted,
                _ => return Err(BAD),
            },
            C::ExtPostVal => match b {
                _ if is_ws(b) => C::ExtPostVal,
                b';' => C::ExtPreName,
                b'\r' => C::SizeLf,
                _ => return Err(BAD),
            },
            other => other,
        };
        Ok(())
    }

    fn trailer_byte(&mut self, b: u8) -> Result<(), &'static str> {
        self.st = match self.st {
            C::TrailerStart => match b {
                b'\r' => C::EndLf,
                _ if is_tchar(b) => {
                    self.trailers += 1;
                    if self.trailers > self.max_trailers {
                        return Err("too many trailer fields");
                    }
                    C::TrailerName
                }
                b' ' | b'\t' => return Err("obs-fold in trailer section"),
                _ => return Err("invalid trailer field name"),
            },
            C::TrailerName => match b {
                _ if is_tchar(b) => C::TrailerName,
                b':' => C::TrailerValue,
                _ => return Err("invalid trailer field name"),
            },
            C::TrailerValue => match b {
                b'\r' => C::TrailerLf,
                _ if is_field_value_byte(b) => C::TrailerValue,
                _ => return Err("invalid trailer field value"),
            },
            C::TrailerLf => match b {
                b'\n' => C::TrailerStart,
                _ => return Err("bare CR in trailer section"),
            },
            other => other,
        };
        Ok(())
    }
}
