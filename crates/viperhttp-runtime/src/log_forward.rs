//! Log records of the runtime, queued for the interpreter thread (docs/internals/logging.md).
//!
//! The runtime never takes the GIL to log. Its `tracing` events with a
//! `viperhttp::*` target (warnings, errors, and the access line of target
//! `viperhttp::access`) are formatted by [`ForwardLayer`] into a bounded queue;
//! the bridge drains it into Python `logging` (logger `viperhttp.<module>`),
//! at most once per poll turn and every 100 ms. When 10 000 records are
//! pending, new ones are dropped and counted (`log_dropped`).
//!
//! Two atomics keep the cost away when nobody listens:
//! - [`max_level`] (from `set_log_level`): events above it are not formatted;
//! - [`access_enabled`]: the access line is formatted only while Python has a
//!   handler for `viperhttp.access` (the bridge re-checks that once a second).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Records held at most before new ones are dropped (docs/internals/logging.md).
pub const MAX_PENDING_RECORDS: usize = 10_000;

/// Levels as `set_log_level` numbers them: 0 off … 5 trace.
pub const LOG_OFF: u8 = 0;
/// `LOG_INFO`, the default.
pub const LOG_INFO: u8 = 3;

static MAX_LEVEL: AtomicU8 = AtomicU8::new(LOG_INFO);
static ACCESS: AtomicBool = AtomicBool::new(false);

/// One formatted record: level (1 error … 5 trace), `tracing` target, text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// 1 error, 2 warn, 3 info, 4 debug, 5 trace.
    pub level: u8,
    /// The `tracing` target, e.g. `viperhttp::access`.
    pub target: &'static str,
    /// The formatted text: the message, then ` key=value` fields.
    pub message: String,
}

/// The bounded queue between the runtime threads and the bridge.
#[derive(Debug, Default)]
pub struct LogQueue {
    records: Mutex<VecDeque<LogRecord>>,
    pending: AtomicU64,
    dropped: AtomicU64,
}

impl LogQueue {
    /// Queue a record, or count it dropped when the queue is full.
    pub fn push(&self, record: LogRecord) {
        let mut q = self.records.lock();
        if q.len() >= MAX_PENDING_RECORDS {
            drop(q);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        q.push_back(record);
        self.pending.store(q.len() as u64, Ordering::Release);
    }

    /// Take up to `max` records, oldest first.
    pub fn drain(&self, max: usize) -> Vec<LogRecord> {
        let mut q = self.records.lock();
        let n = max.min(q.len());
        let out: Vec<LogRecord> = q.drain(..n).collect();
        self.pending.store(q.len() as u64, Ordering::Release);
        out
    }

    /// Whether records wait (one atomic load: the bridge asks every poll turn).
    pub fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire) > 0
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Zero the dropped count (`server_stats_reset()`).
    pub fn reset_dropped(&self) {
        self.dropped.store(0, Ordering::Relaxed);
    }
}

/// The process-wide queue (one interpreter drains it).
pub fn queue() -> &'static LogQueue {
    static QUEUE: OnceLock<LogQueue> = OnceLock::new();
    QUEUE.get_or_init(LogQueue::default)
}

/// Forward only events at or below this level (`set_log_level`, 0 = off).
pub fn set_max_level(level: u8) {
    MAX_LEVEL.store(level.min(5), Ordering::Relaxed);
}

/// The level set with [`set_max_level`].
pub fn max_level() -> u8 {
    MAX_LEVEL.load(Ordering::Relaxed)
}

/// Turn the per-response access line on or off.
pub fn set_access_enabled(on: bool) {
    ACCESS.store(on, Ordering::Relaxed);
}

/// Whether the access line is wanted (checked once per response).
#[inline]
pub fn access_enabled() -> bool {
    ACCESS.load(Ordering::Relaxed) && MAX_LEVEL.load(Ordering::Relaxed) >= LOG_INFO
}

fn level_number(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

/// A `tracing` layer that formats `viperhttp::*` events into [`queue`].
#[derive(Debug, Default, Clone, Copy)]
pub struct ForwardLayer;

impl<S: Subscriber> Layer<S> for ForwardLayer {
    /// Only `viperhttp::*` callsites are of interest. Every other crate's callsite (h2 opens
    /// trace spans per frame and per stream) is disabled once, when it is first hit: without
    /// this the registry built and dropped those spans on every request, a quarter of the
    /// runtime thread's time under HTTP/2 load (docs/internals/logging.md).
    fn register_callsite(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if meta.target().starts_with("viperhttp") {
            // The level is set at run time (`set_log_level`): asked per event in `enabled`.
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, meta: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        meta.target().starts_with("viperhttp") && level_number(meta.level()) <= max_level()
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let target = meta.target();
        if !target.starts_with("viperhttp") {
            return;
        }
        let level = level_number(meta.level());
        if level > max_level() {
            return;
        }
        let mut text = MessageText::default();
        event.record(&mut text);
        queue().push(LogRecord {
            level,
            target,
            message: text.into_text(),
        });
    }
}

/// `message`, then ` key=value` for every other field, whatever order
/// `tracing` records them in.
#[derive(Default)]
struct MessageText {
    message: String,
    fields: String,
}

impl MessageText {
    fn into_text(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else if self.message.is_empty() {
            self.fields
        } else {
            format!("{}{}", self.message, self.fields)
        }
    }
}

impl Visit for MessageText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

/// Install [`ForwardLayer`] as the process's `tracing` subscriber, once. Does
/// nothing when the embedding program already installed one of its own.
pub fn install() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(ForwardLayer);
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_is_bounded_and_counts_drops() {
        let q = LogQueue::default();
        for i in 0..MAX_PENDING_RECORDS + 5 {
            q.push(LogRecord {
                level: 3,
                target: "viperhttp::access",
                message: i.to_string(),
            });
        }
        assert_eq!(q.dropped(), 5);
        assert!(q.has_pending());
        let first = q.drain(3);
        assert_eq!(
            first.iter().map(|r| r.message.as_str()).collect::<Vec<_>>(),
            ["0", "1", "2"]
        );
        assert_eq!(q.drain(usize::MAX).len(), MAX_PENDING_RECORDS - 3);
        assert!(!q.has_pending());
    }

    #[test]
    fn other_crates_callsites_are_disabled_before_any_span_is_built() {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(ForwardLayer);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::span!(target: "h2::proto::streams", Level::TRACE, "poll");
            assert!(span.is_disabled(), "h2's per-frame spans must not be built");
            assert!(!tracing::enabled!(target: "hyper::proto", Level::ERROR));
            set_max_level(LOG_INFO);
            assert!(tracing::enabled!(target: "viperhttp::ipc", Level::WARN));
            assert!(!tracing::enabled!(target: "viperhttp::ipc", Level::DEBUG));
        });
    }

    #[test]
    fn layer_formats_message_and_fields_and_filters_targets() {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(ForwardLayer);
        tracing::subscriber::with_default(subscriber, || {
            queue().drain(usize::MAX);
            tracing::error!(target: "viperhttp::ipc", id = 7u64, "malformed block");
            tracing::warn!(target: "other::crate", "not ours");
            tracing::info!(target: "viperhttp::access", "static GET /a -> 200 keep=1");
            let got = queue().drain(usize::MAX);
            assert_eq!(got.len(), 2, "{got:?}");
            assert_eq!(got[0].level, 1);
            assert_eq!(got[0].target, "viperhttp::ipc");
            assert_eq!(got[0].message, "malformed block id=7");
            assert_eq!(got[1].message, "static GET /a -> 200 keep=1");
        });
    }
}
