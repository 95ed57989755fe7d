//! Framing the incoming bytes (docs/internals/http.md, "Head guard"): heads are scanned and
//! given a verdict, bodies followed to their end (`Content-Length` or chunked), so every
//! pipelined head is found; bytes after an upgrade request are held until the service decides.

use std::sync::atomic::Ordering;

use http::StatusCode;
use tokio::time::Instant;

use crate::stats::ServerStats;

use super::chunked::{ChunkStep, ChunkedTracker};
use super::parse::{Feed, Framing, Rejection, RequestLineSeen};
use super::{Body, GuardedIo, Phase, Verdict};

impl<T> GuardedIo<T> {
    fn push_verdict(&mut self, v: Verdict) {
        self.delivered += 1;
        self.conn.push(v);
    }

    /// The partial head in `rbuf` (after the deliverable bytes), as far as scanned.
    pub(super) fn seen_in_rbuf(&self) -> RequestLineSeen {
        let head = self.rbuf.get(self.ready..).unwrap_or_default();
        self.head.seen(head, self.head.scanned())
    }

    pub(super) fn reject(&mut self, r: Rejection, seen: RequestLineSeen) {
        if r.status != StatusCode::REQUEST_TIMEOUT {
            ServerStats::bump(&self.conn.stats.parse_errors);
        }
        tracing::debug!(target: "viperhttp::head_guard", status = r.status.as_u16(), detail = r.detail, "request head rejected");
        self.push_verdict(Verdict::from_rejection(r, seen));
        self.phase = Phase::Rejected;
        self.synthetic_pos = 0;
        self.head.reset();
        self.head_first_byte = None;
        self.linger = !self.eof;
    }

    fn after_body(&mut self) -> Phase {
        if std::mem::take(&mut self.hold_after_body) {
            Phase::Hold
        } else {
            Phase::Head
        }
    }

    /// Frame `s[pos..]` in the current phase. In phase `Head`,
    /// `s[pos - head.scanned()..pos]` is the part of the head scanned before.
    /// Returns how many bytes of `s` (from its start) hyper may receive; the
    /// rest is a partial head (`Head`), held (`Hold`) or dropped (other phases).
    pub(super) fn advance(&mut self, s: &[u8], mut pos: usize) -> usize {
        loop {
            match &mut self.phase {
                Phase::Head => {
                    let start = pos.saturating_sub(self.head.scanned());
                    let head = s.get(start..).unwrap_or_default();
                    match self.head.feed(head, &self.limits) {
                        Feed::NeedMore => return start,
                        Feed::Complete(acc) => {
                            self.push_verdict(acc.verdict);
                            self.head.reset();
                            self.head_first_byte = None;
                            self.hold_after_body = acc.hold;
                            pos = start + acc.len;
                            self.phase = match acc.framing {
                                Framing::None => self.after_body(),
                                Framing::Length(n) => Phase::Body(Body::Length(n)),
                                Framing::Chunked => {
                                    Phase::Body(Body::Chunked(ChunkedTracker::new(
                                        self.limits.max_headers,
                                        self.limits.max_body_size,
                                    )))
                                }
                            };
                        }
                        Feed::Reject(r, seen) => {
                            self.reject(r, seen);
                            return start;
                        }
                    }
                }
                Phase::Body(Body::Length(n)) => {
                    let avail = s.len().saturating_sub(pos) as u64;
                    let take = (*n).min(avail);
                    // take <= avail, which came from a usize.
                    pos += take as usize;
                    *n -= take;
                    if *n > 0 {
                        return pos;
                    }
                    self.phase = self.after_body();
                }
                Phase::Body(Body::Chunked(t)) => match t.feed(s.get(pos..).unwrap_or_default()) {
                    ChunkStep::NeedMore => return s.len(),
                    ChunkStep::Done(k) => {
                        pos += k;
                        self.phase = self.after_body();
                    }
                    ChunkStep::Error { consumed, detail } => {
                        // hyper gets the valid prefix, then EOF: its body errors
                        // and the service answers 400 + close.
                        ServerStats::bump(&self.conn.stats.parse_errors);
                        tracing::debug!(target: "viperhttp::head_guard", detail, "invalid chunked framing");
                        self.phase = Phase::Closed;
                        self.linger = !self.eof;
                        return pos + consumed;
                    }
                    ChunkStep::TooLarge { consumed } => {
                        // The same cut as invalid framing, at once (not when the data or
                        // the body timeout comes); the flag turns the service's answer
                        // into 413 (docs/internals/http.md, "Request bodies").
                        self.conn.body_too_large.store(true, Ordering::Release);
                        tracing::debug!(target: "viperhttp::head_guard", "chunk size over max_body_size");
                        self.phase = Phase::Closed;
                        self.linger = !self.eof;
                        return pos + consumed;
                    }
                },
                Phase::Hold | Phase::Rejected | Phase::Closed => return pos,
                Phase::Raw => return s.len(),
            }
        }
    }

    /// Re-frame `rbuf` (nothing in it is deliverable yet) after new bytes
    /// arrived or the phase changed.
    pub(super) fn rescan(&mut self) {
        let buf = std::mem::take(&mut self.rbuf);
        let base = self.ready;
        let pos = match self.phase {
            Phase::Head => self.head.scanned(),
            _ => 0,
        };
        let deliver = base + self.advance(buf.get(base..).unwrap_or_default(), pos);
        self.rbuf = buf;
        self.ready = deliver;
        if !matches!(self.phase, Phase::Head | Phase::Hold) {
            self.rbuf.truncate(deliver);
        }
        self.note_head_start();
    }

    pub(super) fn note_head_start(&mut self) {
        if matches!(self.phase, Phase::Head)
            && self.head.has_content()
            && self.head_first_byte.is_none()
        {
            self.head_first_byte = Some(Instant::now());
        }
    }

    /// Pick up what the service did (finished requests, upgrade).
    pub(super) fn absorb_events(&mut self) {
        let finished = self.conn.finished.load(Ordering::Acquire);
        if finished != self.seen_finished {
            self.seen_finished = finished;
            if finished >= self.delivered {
                self.idle_since = Instant::now();
            }
        }
        if matches!(self.phase, Phase::Hold) {
            if self.conn.upgraded.load(Ordering::Acquire) {
                self.phase = Phase::Raw;
                self.ready = self.rbuf.len();
            } else if finished >= self.delivered && self.ready == 0 {
                self.phase = Phase::Head;
                self.rescan();
            }
        }
    }

    /// The socket ended: decide what hyper sees.
    pub(super) fn on_eof(&mut self) {
        match self.phase {
            Phase::Head => {
                if self.head.has_content() {
                    let seen = self.seen_in_rbuf();
                    self.rbuf.truncate(self.ready);
                    self.reject(
                        Rejection::bad("connection closed inside a request head"),
                        seen,
                    );
                } else {
                    self.rbuf.truncate(self.ready);
                    self.phase = Phase::Closed;
                }
            }
            Phase::Body(_) | Phase::Raw => self.phase = Phase::Closed,
            Phase::Hold => {
                if self.rbuf.is_empty() {
                    self.phase = Phase::Closed;
                }
            }
            Phase::Rejected | Phase::Closed => {}
        }
    }
}
