//! Native route trie (docs/internals/framework.md#routing).
//!
//! One process-wide [`Routes`] registry is filled by the Python route
//! decorators (each decorator call crosses into Rust at once, so pattern errors
//! are raised by the decorator) and read lock-free by both the runtime (404/405
//! decisions) and the interpreter thread (re-matching a forwarded request to
//! convert its parameters). Every registration clones the current
//! [`RouteTable`] (nodes are `Arc`-shared, so only the touched nodes are
//! copied), modifies the copy and publishes it with `arc-swap`; a reader holding
//! an older snapshot keeps seeing it unchanged (docs/internals/framework.md#routing).
//!
//! Matching rules:
//! - the path is cut at the first `?`; a leading `/` is skipped; `""` and `"/"`
//!   are the root; exactly one trailing `/` is ignored; an empty segment
//!   (`//`, anywhere, including inside a `{x:path}` value) never matches;
//! - at each node the static child wins, then the single parameter child
//!   (typed check), then the `{name:path}` child, which takes the non-empty rest
//!   of the path including `/` (without the one ignored trailing `/`);
//! - no backtracking: once a child was taken, a later failure is a miss.
//!
//! Design decisions (beyond the original's rules):
//! - A parameter child and a `{x:path}` child at the same position conflict
//!   (`CONFLICT`), as in the original router and docs/internals/framework.md#routing
//!   ("two different parameter names/types at the same position"); so there is at
//!   most one non-static child per node.
//! - More than [`MAX_PARAMS`] parameters in one pattern → `TOO_LARGE` (a limit,
//!   like the segment length); the same name twice in one pattern → `INVALID`
//!   (the values become keyword arguments). A parameter name longer than
//!   [`MAX_PARAM_NAME_LEN`] → `INVALID` (original).
//! - The literal segment limit ([`MAX_SEGMENT_LEN`]) applies to the segment as
//!   written in the pattern, before percent-encoding.
//! - Literal segments are stored canonical: bytes outside RFC 3986 `pchar` are
//!   percent-encoded (upper-case hex), `%xx` escapes are upper-cased, a `%` not
//!   followed by two hex digits is stored as `%25`. A request segment is
//!   compared after the same canonicalisation (done on the fly, without
//!   allocating, and only when the segment is not byte-equal to any literal):
//!   so `/café` registered matches `/caf%C3%A9`, `/caf%c3%a9`, and the raw UTF-8
//!   `/café` an in-process client may pass.
//! - A node with only a WebSocket route is not an HTTP resource: HTTP lookups
//!   there give [`Lookup::NotFound`] (404, as the original). A lookup with
//!   [`Method::Ws`] matches WebSocket routes only and never answers
//!   [`Lookup::MethodNotAllowed`].
//! - `HEAD` uses an explicit HEAD route, else the GET route. The `Allow` value
//!   lists the node's HTTP methods in registration order, `HEAD` right after
//!   `GET` when `GET` is registered and `HEAD` is not; it is precomputed at
//!   registration.
//! - Route ids are the 0-based registration index (WebSocket routes included);
//!   [`Routes::reset`] restarts them at 0. There is no fixed capacity (ids are
//!   `u32`; `FULL` only if that space is exhausted).
//!
//! Layout: this file holds the registry ([`Routes`]) and the trie's data (its nodes and the
//! [`RouteTable`] snapshot). `params.rs` owns the parameter types, their grammar and the matched
//! values; `pattern.rs` parses a pattern; `canonical.rs` is the canonical form of a literal
//! segment, shared by registration and matching; `insert.rs` adds a parsed pattern to a copy of
//! the table (registration, under the writer lock); `lookup.rs` matches a request path (every
//! request, without allocating).

mod canonical;
mod insert;
mod lookup;
mod params;
mod pattern;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use parking_lot::Mutex;
use viperhttp_ipc::Method;

use canonical::{canonical_eq, needs_canonical};
pub use lookup::Lookup;
pub use params::{parse_bool, ParamKind, ParamSpec, ParamValues};
use pattern::parse_pattern;

/// Maximum number of path parameters in one pattern (docs/internals/http.md#limits, host value).
pub const MAX_PARAMS: usize = 16;
/// Maximum length in bytes of a literal pattern segment, as written (host value).
pub const MAX_SEGMENT_LEN: usize = 255;
/// Maximum length of a parameter name (host value).
pub const MAX_PARAM_NAME_LEN: usize = 64;

/// Route registration failure; [`RouteError::reason`] is the text used in
/// Python's `ValueError("route add failed: <REASON>")` (docs/internals/framework.md#routing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteError {
    /// Bad pattern (syntax, parameter name or type, empty segment, `{`/`}` in a
    /// literal, duplicate parameter name).
    Invalid,
    /// Same method + pattern registered twice, or a different parameter (name,
    /// type, or param vs `path`) at a position that already has one.
    Conflict,
    /// The route id / node space is exhausted (`u32`).
    Full,
    /// `{x:path}` that is not the last segment.
    Unsupported,
    /// Literal segment longer than [`MAX_SEGMENT_LEN`] bytes, or more than
    /// [`MAX_PARAMS`] parameters.
    TooLarge,
}

impl RouteError {
    /// The upper-case reason word: `INVALID`, `CONFLICT`, `FULL`,
    /// `UNSUPPORTED` or `TOO_LARGE`.
    pub fn reason(&self) -> &'static str {
        match self {
            RouteError::Invalid => "INVALID",
            RouteError::Conflict => "CONFLICT",
            RouteError::Full => "FULL",
            RouteError::Unsupported => "UNSUPPORTED",
            RouteError::TooLarge => "TOO_LARGE",
        }
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "route add failed: {}", self.reason())
    }
}

impl std::error::Error for RouteError {}

/// One registered route.
#[derive(Clone, Debug)]
pub struct RouteInfo {
    /// Registered method (`Method::Ws` for WebSocket routes).
    pub method: Method,
    /// The pattern as passed to [`Routes::add`].
    pub pattern: Box<str>,
    /// Its parameters, in order.
    pub params: Box<[ParamSpec]>,
}

/// Counters of a route table (`router_stats()`, docs/internals/logging.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// Registered routes (WebSocket routes included).
    pub route_count: usize,
    /// Trie nodes, root included.
    pub node_count: usize,
    /// Parent → child links (static, parameter and path children).
    pub edge_count: usize,
}

#[derive(Clone, Debug)]
struct StaticEdge {
    /// Canonical literal (see module docs); shared so that cloning a node
    /// for copy-on-write does not copy the bytes.
    segment: Arc<[u8]>,
    /// The literal contains a `%` escape, so a non-canonical request segment
    /// may still match it.
    has_escape: bool,
    child: u32,
}

const HTTP_METHODS: usize = 7;

/// Above this many static children a node also keeps a hash index of them.
const STATIC_INDEX_THRESHOLD: usize = 8;

#[derive(Clone, Debug, Default)]
struct Node {
    statics: Vec<StaticEdge>,
    /// Exact-match index of `statics`, once there are more than
    /// [`STATIC_INDEX_THRESHOLD`].
    static_index: Option<HashMap<Arc<[u8]>, u32>>,
    /// Some literal in `statics` contains a `%` escape.
    any_escape: bool,
    /// Parameter child (non-`path`); its node carries `spec`.
    param: Option<u32>,
    /// `{x:path}` child; its node carries `spec`.
    path: Option<u32>,
    /// Name + type when this node is a parameter/path child.
    spec: Option<ParamSpec>,
    /// Route id per HTTP method code (`Method as usize`, 0..7).
    handlers: [Option<u32>; HTTP_METHODS],
    /// WebSocket route.
    ws: Option<u32>,
    /// HTTP methods in registration order.
    order: Vec<Method>,
    /// Precomputed `Allow` value (empty while `order` is empty).
    allow: Box<str>,
}

impl Node {
    fn handler(&self, method: Method) -> Option<u32> {
        self.handlers.get(method as usize).copied().flatten()
    }

    /// The static child whose literal is byte-equal to `segment`.
    fn exact_static_child(&self, segment: &[u8]) -> Option<u32> {
        match &self.static_index {
            Some(index) => index.get(segment).copied(),
            None => self
                .statics
                .iter()
                .find(|e| *e.segment == *segment)
                .map(|e| e.child),
        }
    }

    fn static_child(&self, segment: &[u8]) -> Option<u32> {
        if let Some(child) = self.exact_static_child(segment) {
            return Some(child);
        }
        if self.any_escape && needs_canonical(segment) {
            return self
                .statics
                .iter()
                .find(|e| e.has_escape && canonical_eq(&e.segment, segment))
                .map(|e| e.child);
        }
        None
    }
}

/// An immutable snapshot of the route trie. Obtain one from
/// [`Routes::snapshot`]; it never changes once published.
#[derive(Clone, Debug)]
pub struct RouteTable {
    nodes: Vec<Arc<Node>>,
    routes: Vec<Arc<RouteInfo>>,
    edge_count: usize,
}

impl Default for RouteTable {
    fn default() -> Self {
        RouteTable::new()
    }
}

impl RouteTable {
    /// An empty table (root node only).
    pub fn new() -> Self {
        RouteTable {
            nodes: vec![Arc::new(Node::default())],
            routes: Vec::new(),
            edge_count: 0,
        }
    }

    /// Counters for `router_stats()`.
    pub fn stats(&self) -> RouterStats {
        RouterStats {
            route_count: self.routes.len(),
            node_count: self.nodes.len(),
            edge_count: self.edge_count,
        }
    }

    /// Number of registered routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether no route is registered.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The route registered with `route_id`.
    pub fn route(&self, route_id: u32) -> Option<&RouteInfo> {
        self.routes.get(route_id as usize).map(|r| &**r)
    }

    fn node(&self, index: u32) -> Option<&Node> {
        self.nodes.get(index as usize).map(|n| &**n)
    }
}

/// The process-wide route registry: an atomically swapped [`RouteTable`]
/// snapshot plus a writer lock (docs/internals/framework.md#routing).
pub struct Routes {
    current: ArcSwap<RouteTable>,
    writer: Mutex<()>,
}

impl Default for Routes {
    fn default() -> Self {
        Routes::new()
    }
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routes")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Routes {
    /// An empty registry.
    pub fn new() -> Self {
        Routes {
            current: ArcSwap::from_pointee(RouteTable::new()),
            writer: Mutex::new(()),
        }
    }

    /// Register `method` (an HTTP method or [`Method::Ws`]) on `pattern`.
    /// Returns the route id (0-based registration index). Copy-on-write: the
    /// new table is published only on success; readers are never blocked.
    pub fn add(&self, method: Method, pattern: &str) -> Result<u32, RouteError> {
        let segments = parse_pattern(pattern)?;
        let _writer = self.writer.lock();
        let mut table = RouteTable::clone(&self.current.load());
        let route_id = table.insert(method, pattern, segments)?;
        self.current.store(Arc::new(table));
        Ok(route_id)
    }

    /// Remove every route (route ids restart at 0). Readers holding an older
    /// snapshot keep it.
    pub fn reset(&self) {
        let _writer = self.writer.lock();
        self.current.store(Arc::new(RouteTable::new()));
    }

    /// The current snapshot, lock-free (cheap; for one request).
    pub fn snapshot(&self) -> Guard<Arc<RouteTable>> {
        self.current.load()
    }

    /// The current snapshot as an owned `Arc` (to keep it longer).
    pub fn snapshot_full(&self) -> Arc<RouteTable> {
        self.current.load_full()
    }

    /// Counters of the current snapshot.
    pub fn stats(&self) -> RouterStats {
        self.current.load().stats()
    }
}
