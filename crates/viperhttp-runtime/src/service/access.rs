//! The access line (docs/internals/logging.md): one `viperhttp::access` record per response,
//! `<source> <METHOD> <raw-uri> -> <status> keep=<0|1>`, and the [`Source`] that answered.
//! A head the guard refused is logged with the method and target it read, `-` for a part
//! it never saw whole (docs/internals/logging.md, "Refused requests").

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

use http::StatusCode;

use crate::head_guard::{RequestLineSeen, SEEN_TARGET_MAX};

/// The request line an access line names.
pub(super) enum RequestLine {
    /// hyper parsed the request: its method and target.
    Parsed(http::Method, http::Uri),
    /// The head guard refused the head: what it read of it.
    Refused(RequestLineSeen),
}

/// `Some(text)` as is, `None` as `-`.
struct OrDash<'a>(Option<&'a str>);

impl fmt::Display for OrDash<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.unwrap_or("-"))
    }
}

/// A target as the request line of HTTP/1.1 spells it: the path and query. An HTTP/2
/// request's `Uri` is absolute (`:scheme` and `:authority` are part of it), and the same
/// request must log the same line over both protocols.
struct Target<'a>(&'a http::Uri);

impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.path_and_query() {
            Some(pq) => f.write_str(pq.as_str()),
            None => write!(f, "{}", self.0), // authority form (CONNECT)
        }
    }
}

/// Write the access line (`tracing` target `viperhttp::access`).
pub(super) fn log(source: Source, line: &RequestLine, status: StatusCode, keep_alive: bool) {
    let (status, keep) = (status.as_u16(), u8::from(keep_alive));
    let source = source.as_str();
    match line {
        RequestLine::Parsed(method, uri) => {
            let target = Target(uri);
            tracing::info!(
                target: "viperhttp::access",
                "{source} {method} {target} -> {status} keep={keep}"
            )
        }
        RequestLine::Refused(seen) => tracing::info!(
            target: "viperhttp::access",
            "{source} {} {} -> {status} keep={keep}",
            OrDash(seen.method.as_deref()),
            OrDash(seen.target.as_deref()),
        ),
    }
}

/// The access line of an HTTP/2 stream refused before the service saw it (414, 431: the
/// per-stream checks of `crate::http2`). h2 decoded the whole head, so the line names the
/// request's method and target as any other does; a 414's target is cut where the head guard
/// cuts an HTTP/1 one, at `max_uri_len` (at most [`SEEN_TARGET_MAX`] bytes), then `...`
/// (docs/internals/logging.md, "Refused requests"). The stream's connection stays open: `keep=1`.
pub(crate) fn log_refused_stream(
    method: &http::Method,
    uri: &http::Uri,
    status: StatusCode,
    max_uri_len: usize,
) {
    if !crate::log_forward::access_enabled() {
        return;
    }
    let target = Target(uri).to_string();
    let cap = max_uri_len.min(SEEN_TARGET_MAX);
    let line = RequestLine::Refused(RequestLineSeen {
        method: Some(method.as_str().to_owned()),
        // A `Uri` is ASCII, so any byte index is a character boundary.
        target: Some(if target.len() > cap {
            format!("{}...", &target[..cap])
        } else {
            target
        }),
    });
    log(Source::Simple, &line, status, true);
}

/// Which part of the runtime answered (the access line's `<source>`, docs/internals/logging.md).
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

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn the_target_is_the_path_and_query_over_both_protocols() {
        let h2: http::Uri = "https://localhost:8443/hi?x=1".parse().unwrap();
        let h1: http::Uri = "/hi?x=1".parse().unwrap();
        assert_eq!(Target(&h2).to_string(), "/hi?x=1");
        assert_eq!(Target(&h1).to_string(), "/hi?x=1");
        let star: http::Uri = "*".parse().unwrap();
        assert_eq!(Target(&star).to_string(), "*");
        let connect: http::Uri = "example.com:443".parse().unwrap();
        assert_eq!(Target(&connect).to_string(), "example.com:443");
    }
}
