//! The header and keep-alive deadlines (docs/internals/http.md, "Deadlines"): one timer per
//! connection, armed only while a head is awaited with no request in progress.

use std::future::Future;
use std::task::Context;
use std::time::Duration;

use tokio::time::Instant;

use super::parse::Rejection;
use super::{Expiry, GuardedIo, Phase};

impl<T> GuardedIo<T> {
    /// The active deadline, if any: only while scanning a head with no
    /// request in progress. Parking comes first when it is due earlier.
    fn deadline(&self) -> Option<(Instant, Expiry)> {
        let limit = self.limit_deadline();
        match (self.park_deadline(), limit) {
            (Some(park), Some((at, _))) if park < at => Some((park, Expiry::Park)),
            (Some(park), None) => Some((park, Expiry::Park)),
            _ => limit,
        }
    }

    /// The header or keep-alive deadline.
    fn limit_deadline(&self) -> Option<(Instant, Expiry)> {
        if !matches!(self.phase, Phase::Head) || !self.idle() {
            return None;
        }
        let ms = |v: u64| Duration::from_millis(v);
        let content = self.head.has_content();
        let header = self.limits.header_timeout_ms;
        let keepalive = self.limits.keepalive_timeout_ms;
        if self.delivered == 0 {
            let kind = if content {
                Expiry::Timeout408
            } else {
                Expiry::Silent
            };
            (header > 0).then(|| (self.accepted_at + ms(header), kind))
        } else if !content {
            (keepalive > 0).then(|| {
                (
                    self.idle_since.max(self.last_write) + ms(keepalive),
                    Expiry::Silent,
                )
            })
        } else {
            let from = self
                .head_first_byte
                .unwrap_or(self.idle_since)
                .max(self.idle_since);
            (header > 0).then(|| (from + ms(header), Expiry::Timeout408))
        }
    }

    /// Arm / poll the deadline; `Some` when it expired.
    pub(super) fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Option<Expiry> {
        let Some((at, kind)) = self.deadline() else {
            self.timer_deadline = None;
            return None;
        };
        if self.timer_deadline != Some(at) {
            match self.timer.as_mut() {
                Some(t) => t.as_mut().reset(at),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
            }
            self.timer_deadline = Some(at);
        }
        let timer = self.timer.as_mut()?;
        if timer.as_mut().poll(cx).is_ready() {
            self.timer_deadline = None;
            Some(kind)
        } else {
            None
        }
    }

    pub(super) fn expire(&mut self, kind: Expiry) {
        match kind {
            Expiry::Silent => {
                tracing::trace!(target: "viperhttp::head_guard", "idle timeout, closing");
                self.rbuf.clear();
                self.ready = 0;
                self.phase = Phase::Closed;
            }
            Expiry::Timeout408 => {
                let seen = self.seen_in_rbuf();
                self.rbuf.clear();
                self.ready = 0;
                self.reject(Rejection::timeout(), seen);
            }
            Expiry::Park => self.request_park(),
        }
    }
}
