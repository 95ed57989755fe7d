//! Chunked-framing tracker (RFC 9112 §7.1): follows a `Transfer-Encoding:
//! chunked` body byte by byte (data in bulk) to find where it ends, without
//! decoding or copying it. hyper de-chunks the same bytes afterwards; this only
//! decides where the next request head starts and rejects framing hyper would
//! accept too leniently (no size digits, bare LF/CR, malformed extensions).
//!
//! It also holds the body to `max_body_size`: a chunk size that does not fit in what
//! the earlier chunks left of it stops the body at that digit, before any of the
//! chunk's data is awaited (docs/internals/http.md, "Request bodies"). Without this a
//! client could announce `fffffffff` and the refusal would wait for the data that
//! overflows the limit, or for the body timeout.

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
    /// A chunk size over the body's remaining `max_body_size` budget: its digits
    /// end at this offset (the bytes before the offending digit are valid framing).
    TooLarge {
        /// Valid bytes before the digit that made the size too large.
        consumed: usize,
    },
}

/// Why the tracker stopped on a byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Invalid(&'static str),
    TooLarge,
}

impl From<&'static str> for Stop {
    fn from(detail: &'static str) -> Self {
        Stop::Invalid(detail)
    }
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
    /// Body bytes the chunks may still declare: `max_body_size` minus the sizes so far.
    budget: u64,
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
    /// A tracker at the start of a body; `max_trailers` bounds trailer fields,
    /// `max_body` the sum of the chunk sizes (`max_body_size`).
    pub(crate) fn new(max_trailers: usize, max_body: u64) -> Self {
        ChunkedTracker {
            st: C::SizeStart,
            size: 0,
            line: 0,
            ext_total: 0,
            trailer_bytes: 0,
            trailers: 0,
            max_trailers,
            budget: max_body,
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
                Err(Stop::Invalid(detail)) => {
                    return ChunkStep::Error {
                        consumed: i,
                        detail,
                    }
                }
                Err(Stop::TooLarge) => return ChunkStep::TooLarge { consumed: i },
            }
        }
        ChunkStep::NeedMore
    }

    /// One framing byte (not chunk data). `Ok(true)` = the body ended with it.
    fn step(&mut self, b: u8) -> Result<bool, Stop> {
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
                    return Err("bare CR in chunk size line".into());
                }
                // size <= budget: `size_byte` stopped at any digit that made it larger.
                self.budget -= self.size;
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
                    return Err("chunk data longer than its size".into());
                }
                self.st = C::DataLf;
            }
            C::DataLf => {
                if b != b'\n' {
                    return Err("bare CR after chunk data".into());
                }
                self.st = C::SizeStart;
            }
            C::TrailerStart | C::TrailerName | C::TrailerValue | C::TrailerLf => {
                self.trailer_bytes += 1;
                if self.trailer_bytes > MAX_TRAILER_BYTES {
                    return Err("trailer section too large".into());
                }
                self.trailer_byte(b)?;
            }
            C::EndLf => {
                if b != b'\n' {
                    return Err("bare CR at end of chunked body".into());
                }
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn size_byte(&mut self, b: u8) -> Result<(), Stop> {
        self.line += 1;
        if self.line > MAX_SIZE_LINE {
            return Err("chunk size line too long".into());
        }
        match (self.st, hex(b)) {
            (C::SizeStart, Some(d)) => {
                self.size = d;
                self.st = C::Size;
            }
            (C::SizeStart, None) => return Err("chunk size missing".into()),
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
                b'\n' => return Err("bare LF in chunk size line".into()),
                _ => return Err("invalid chunk size".into()),
            },
        }
        // Digits only grow the size: once past the budget, no later byte can fix it.
        if self.size > self.budget {
            return Err(Stop::TooLarge);
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
