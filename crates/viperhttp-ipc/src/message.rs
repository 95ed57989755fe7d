//! `IpcMsg`: the fixed-size record copied by value through the queues
//! (docs/internals/ipc.md). Field names, widths and numeric values are the
//! original's; the host adds `peer_ip`, `peer_port` and `proto` (docs/internals/ipc.md decision).

/// One IPC record. `#[repr(C)]`, copied by value; it never owns memory: the
/// payload lives in a ring at `buffer_offset` / `headers_offset`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpcMsg {
    /// HTTP request id, or WebSocket `conn_id` (docs/internals/ipc.md#9-request-ids). 0 = "no
    /// request".
    pub request_id: u32,
    /// Message type, a [`MsgType`] value.
    pub msg_type: u8,
    /// HTTP method code ([`Method`]) on requests; WS opcode on WS messages.
    pub method: u8,
    /// HTTP status on responses; close code on WS disconnect / close.
    pub status_code: u16,
    /// Bytes of the raw URI (path + optional `?query`) at `buffer_offset`.
    pub uri_len: u16,
    /// Bytes of the query string (without `?`): the tail of the URI.
    pub query_len: u16,
    /// Bytes of the header blob (requests: `name\0value\0`; responses: `Name: value\r\n`).
    pub headers_len: u16,
    /// Ring offset of the header blob (0 when `headers_len` is 0).
    pub headers_offset: u32,
    /// Bytes of body carried by this message.
    pub body_len: u32,
    /// Responses: declared total body length (first stream frame), = `body_len` otherwise.
    pub total_len: u32,
    /// Ring offset of the request blob start / response body.
    pub buffer_offset: u32,
    /// Bit set of [`flags`].
    pub flags: u8,
    /// Host addition: peer address, IPv4 mapped into IPv6 (`::ffff:a.b.c.d`).
    pub peer_ip: [u8; 16],
    /// Host addition: peer TCP port.
    pub peer_port: u16,
    /// Host addition: bit 0 TLS; bits 1–2 HTTP version (0 = 1.0, 1 = 1.1, 2 = 2).
    pub proto: u8,
    /// Host addition (route once, docs/internals/ipc.md): the runtime's route match for this
    /// request, as route id + 1; 0 = no match carried (the bridge routes the path itself).
    pub route: u32,
    /// Host addition: how many parameter spans of `route_spans` are set.
    pub route_params: u8,
    /// Host addition: the matched parameter values as (offset, length) pairs into the URI,
    /// in pattern order. A match with more than [`ROUTE_SPANS`] parameters is not carried.
    pub route_spans: [u16; 2 * ROUTE_SPANS],
}

/// Parameter spans an [`IpcMsg`] carries inline (more is rare: such a match is left to Python).
pub const ROUTE_SPANS: usize = 4;

impl IpcMsg {
    /// The carried route match: (route id, spans), or `None`.
    pub fn route_match(&self) -> Option<(u32, impl Iterator<Item = (usize, usize)> + '_)> {
        let id = self.route.checked_sub(1)?;
        let n = usize::from(self.route_params).min(ROUTE_SPANS);
        let spans = self
            .route_spans
            .chunks_exact(2)
            .take(n)
            .map(|p| (usize::from(p[0]), usize::from(p[1])));
        Some((id, spans))
    }

    /// Record a route match (`spans` are offsets into the URI). Returns `false`, leaving the
    /// record without a match, when an id or span does not fit.
    pub fn set_route_match(&mut self, route_id: u32, spans: &[(usize, usize)]) -> bool {
        let (Some(route), true) = (route_id.checked_add(1), spans.len() <= ROUTE_SPANS) else {
            return false;
        };
        let mut packed = [0u16; 2 * ROUTE_SPANS];
        for (slot, &(off, len)) in packed.chunks_exact_mut(2).zip(spans) {
            let (Ok(off), Ok(len)) = (u16::try_from(off), u16::try_from(len)) else {
                return false;
            };
            slot[0] = off;
            slot[1] = len;
        }
        self.route = route;
        self.route_params = spans.len() as u8;
        self.route_spans = packed;
        true
    }
}

/// Message types, numbered in the original's enum order (docs/internals/ipc.md).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MsgType {
    /// runtime → Python: an HTTP request, blob `[URI][HEADERS][BODY]`.
    ReqHttp = 0,
    /// runtime → Python: WebSocket handshake, blob `[URI][HEADERS]`.
    ReqWsConnect = 1,
    /// runtime → Python: one whole WebSocket message.
    ReqWsMsg = 2,
    /// runtime → Python: WebSocket closed, `status_code` = close code.
    ReqWsDisconnect = 3,
    /// Python → runtime: HTTP response (whole, or one stream frame).
    RespHttp = 4,
    /// Python → runtime: accept a WebSocket handshake.
    RespWsAccept = 5,
    /// Python → runtime: reject a WebSocket handshake.
    RespWsReject = 6,
    /// Python → runtime: a WebSocket message.
    RespWsMsg = 7,
    /// Python → runtime: close a WebSocket.
    RespWsClose = 8,
    /// Python → runtime (host addition): a `FileResponse`. The body is the file's path
    /// ([`crate::blob::file_path`]), the header block the caller's headers, `status_code` the
    /// caller's status; the runtime serves the file itself (docs/internals/ipc.md §2).
    RespFile = 9,
}

impl TryFrom<u8> for MsgType {
    type Error = crate::IpcError;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        Ok(match v {
            0 => Self::ReqHttp,
            1 => Self::ReqWsConnect,
            2 => Self::ReqWsMsg,
            3 => Self::ReqWsDisconnect,
            4 => Self::RespHttp,
            5 => Self::RespWsAccept,
            6 => Self::RespWsReject,
            7 => Self::RespWsMsg,
            8 => Self::RespWsClose,
            9 => Self::RespFile,
            _ => return Err(crate::IpcError::Malformed("unknown message type")),
        })
    }
}

/// HTTP method codes in the original's `vhttp_method_t` order (docs/internals/ipc.md).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET
    Get = 0,
    /// POST
    Post = 1,
    /// PUT
    Put = 2,
    /// PATCH
    Patch = 3,
    /// DELETE
    Delete = 4,
    /// OPTIONS
    Options = 5,
    /// HEAD
    Head = 6,
    /// WebSocket route marker (route table only, never an HTTP method).
    Ws = 7,
}

impl Method {
    /// The seven HTTP methods, in code order.
    pub const HTTP: [Method; 7] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Options,
        Method::Head,
    ];

    /// Parse a method token (case-sensitive, docs/internals/http.md). `WS` is not an HTTP method.
    pub fn from_bytes(token: &[u8]) -> Option<Method> {
        Some(match token {
            b"GET" => Method::Get,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"PATCH" => Method::Patch,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            b"HEAD" => Method::Head,
            _ => return None,
        })
    }

    /// Parse a method name, ASCII case-insensitive, `WS` included (route registration).
    pub fn from_name_ignore_case(name: &str) -> Option<Method> {
        [Method::Ws]
            .into_iter()
            .chain(Method::HTTP)
            .find(|m| m.as_str().eq_ignore_ascii_case(name))
    }

    /// Decode a wire code.
    pub fn from_code(code: u8) -> Option<Method> {
        Some(match code {
            0 => Method::Get,
            1 => Method::Post,
            2 => Method::Put,
            3 => Method::Patch,
            4 => Method::Delete,
            5 => Method::Options,
            6 => Method::Head,
            7 => Method::Ws,
            _ => return None,
        })
    }

    /// The method's name as sent on the wire (`"WS"` for the route marker).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Head => "HEAD",
            Method::Ws => "WS",
        }
    }
}

/// Flag bits of `IpcMsg::flags` (docs/internals/ipc.md).
pub mod flags {
    /// Runtime, on requests: `Accept-Encoding` lists gzip (informational).
    pub const GZIP_OK: u8 = 1;
    /// Runtime, on requests: the connection stays open after this request.
    pub const KEEPALIVE: u8 = 2;
    /// Python, on stream frames: send with `Transfer-Encoding: chunked`.
    pub const CHUNKED: u8 = 4;
    /// Python, on every frame of a streamed response.
    pub const STREAM: u8 = 8;
    /// Last frame of a response; FIN on WebSocket messages.
    pub const FINAL: u8 = 16;
    /// The consumer releases this message's ring bytes after copying them.
    pub const RELEASE: u8 = 32;
    /// Host only: the producer failed mid-stream; cut the response and close.
    pub const ABORT: u8 = 64;
}

/// `proto` field helpers (host addition).
pub mod proto {
    /// Bit 0: the connection is TLS.
    pub const TLS: u8 = 1;
    /// HTTP/1.0 in bits 1–2.
    pub const HTTP10: u8 = 0;
    /// HTTP/1.1 in bits 1–2.
    pub const HTTP11: u8 = 1 << 1;
    /// HTTP/2 in bits 1–2.
    pub const HTTP2: u8 = 2 << 1;
    /// Mask of the version bits.
    pub const VERSION_MASK: u8 = 0b110;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_match_round_trips_and_refuses_what_does_not_fit() {
        let mut msg = IpcMsg::default();
        assert!(
            msg.route_match().is_none(),
            "a fresh record carries no match"
        );
        assert!(msg.set_route_match(0, &[(7, 3), (11, 0)]));
        let (id, spans) = msg.route_match().expect("carried");
        assert_eq!((id, spans.collect::<Vec<_>>()), (0, vec![(7, 3), (11, 0)]));
        assert!(msg.set_route_match(41, &[]));
        let (id, spans) = msg.route_match().expect("carried");
        assert_eq!((id, spans.count()), (41, 0));

        let mut other = IpcMsg::default();
        let five = [(1, 1); ROUTE_SPANS + 1];
        assert!(!other.set_route_match(1, &five), "too many spans");
        assert!(!other.set_route_match(1, &[(70_000, 1)]), "offset past u16");
        assert!(!other.set_route_match(u32::MAX, &[]), "id + 1 overflows");
        assert!(other.route_match().is_none(), "nothing half-written");
    }

    #[test]
    fn every_message_type_round_trips_and_ten_is_malformed() {
        for code in 0u8..=9 {
            let t = MsgType::try_from(code).expect("known type");
            assert_eq!(t as u8, code);
        }
        assert_eq!(MsgType::try_from(9).ok(), Some(MsgType::RespFile));
        assert!(matches!(
            MsgType::try_from(10),
            Err(crate::IpcError::Malformed(_))
        ));
    }
}
