//! The access line (docs/internals/logging.md): one `viperhttp::access` record per response,
//! `<source> <METHOD> <raw-uri> -> <status> keep=<0|1>`, and the [`Source`] that answered.

use std::sync::atomic::{AtomicU8, Ordering};

/// Which part of the runtime answered (the access line's `<source>`, runtime.md §8).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(super) enum Source {
    Ipc,
    Static,
    Simple,
    Cors,
    CorsPreflight,
    TrustedHost,
    RateLimit,
}

/// Where the response came from, set along the pipeline. An atomic (not a
/// `Cell`) so the borrowing future stays `Send`; relaxed, it never leaves the task.
pub(super) struct SourceCell(AtomicU8);

impl SourceCell {
    pub(super) fn new(source: Source) -> Self {
        Self(AtomicU8::new(source as u8))
    }

    pub(super) fn set(&self, source: Source) {
        self.0.store(source as u8, Ordering::Relaxed);
    }

    pub(super) fn get(&self) -> Source {
        const ALL: [Source; 7] = [
            Source::Ipc,
            Source::Static,
            Source::Simple,
            Source::Cors,
            Source::CorsPreflight,
            Source::TrustedHost,
            Source::RateLimit,
        ];
        ALL.get(usize::from(self.0.load(Ordering::Relaxed)))
            .copied()
            .unwrap_or(Source::Simple)
    }
}

impl Source {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Source::Ipc => "ipc",
            Source::Static => "static",
            Source::Simple => "simple",
            Source::Cors => "cors",
            Source::CorsPreflight => "cors-preflight",
            Source::TrustedHost => "trusted-host",
            Source::RateLimit => "rate-limit",
        }
    }
}
