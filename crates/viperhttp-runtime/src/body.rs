//! The one response body type of the runtime. An enum instead of a boxed trait
//! object so the common cases (empty, one buffer) cost no allocation; static
//! files and IPC streams use the other variants.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;

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
