//! The runtime's two body types. [`ResponseBody`]: an enum instead of a boxed trait
//! object so the common cases (empty, one buffer) cost no allocation; static files and
//! IPC streams use the other variants. [`RequestBody`]: hyper's request body, drained
//! rather than dropped when an HTTP/2 stream was answered without reading it.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::head_guard::{LINGER, LINGER_BYTES};

/// Error type of streamed bodies (a failed stream aborts the connection).
pub type BodyError = std::io::Error;

/// A response body.
pub enum ResponseBody {
    /// No bytes.
    Empty,
    /// One buffer, sent once.
    Full(Option<Bytes>),
    /// Anything else (files, IPC streams).
    Stream(UnsyncBoxBody<Bytes, BodyError>),
}

impl ResponseBody {
    /// An empty body.
    pub fn empty() -> Self {
        ResponseBody::Empty
    }

    /// A body of one buffer (empty buffers become `Empty`).
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        if bytes.is_empty() {
            ResponseBody::Empty
        } else {
            ResponseBody::Full(Some(bytes))
        }
    }

    /// Wrap any body.
    pub fn stream<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes, Error = BodyError> + Send + 'static,
    {
        ResponseBody::Stream(UnsyncBoxBody::new(body))
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.get_mut() {
            ResponseBody::Empty => Poll::Ready(None),
            ResponseBody::Full(slot) => Poll::Ready(slot.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Stream(inner) => Pin::new(inner).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Empty => true,
            ResponseBody::Full(slot) => slot.is_none(),
            ResponseBody::Stream(inner) => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Empty => SizeHint::with_exact(0),
            ResponseBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            ResponseBody::Full(None) => SizeHint::with_exact(0),
            ResponseBody::Stream(inner) => inner.size_hint(),
        }
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponseBody::Empty => f.write_str("ResponseBody::Empty"),
            ResponseBody::Full(b) => write!(
                f,
                "ResponseBody::Full({} bytes)",
                b.as_ref().map_or(0, |b| b.len())
            ),
            ResponseBody::Stream(_) => f.write_str("ResponseBody::Stream"),
        }
    }
}

/// A request body as the service sees it: hyper's, plus what happens to it when the service
/// answers without reading it all (a 404, 405 or 413, a static file, a refusal).
///
/// Over HTTP/1.1 it is dropped and the connection's lingering close drains the rest
/// (docs/internals/http.md, "Lingering close"). Over HTTP/2 dropping it made h2 reset the
/// stream (RST_STREAM NO_ERROR, RFC 9113 §8.1) while the answer's DATA still waited for
/// flow-control capacity, and the DATA was never sent: the client got the answer's head
/// without its body (curl: exit 92, httpx: a protocol error). So an HTTP/2 body is drained
/// instead, within the same bounds as the lingering close (2 s, 64 MiB): the answer goes out
/// whole, the client can finish its upload and read it, and only a client still sending past
/// the bounds gets the reset, after its answer (docs/internals/tls-http2.md, "Answers that do
/// not read the request body").
pub struct RequestBody {
    inner: Option<Incoming>,
    drain_on_drop: bool,
}

impl RequestBody {
    /// An HTTP/1.1 body: dropped when dropped.
    pub fn http1(inner: Incoming) -> Self {
        RequestBody {
            inner: Some(inner),
            drain_on_drop: false,
        }
    }

    /// An HTTP/2 body: drained when dropped unread.
    pub fn http2(inner: Incoming) -> Self {
        RequestBody {
            inner: Some(inner),
            drain_on_drop: true,
        }
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), http_body::Body::size_hint)
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        let Some(body) = self.inner.take() else {
            return;
        };
        if !self.drain_on_drop || http_body::Body::is_end_stream(&body) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(drain(body));
        }
    }
}

/// Reads and discards `body` until it ends, fails, or the lingering bounds pass; each frame
/// read gives its flow-control window back to the client.
async fn drain(mut body: Incoming) {
    let mut left = LINGER_BYTES;
    let _ = tokio::time::timeout_at(Instant::now() + LINGER, async {
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                left = left.saturating_sub(data.len());
                if left == 0 {
                    break;
                }
            }
        }
    })
    .await;
}
