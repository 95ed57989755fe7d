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

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use parking_lot::Mutex;
use viperhttp_ipc::Method;

/// Maximum number of path parameters in one pattern (docs/internals/http.md#limits, host value).
pub const MAX_PARAMS: usize = 16;
/// Maximum length in bytes of a literal pattern segment, as written (host value).
pub const MAX_SEGMENT_LEN: usize = 255;
/// Maximum length of a parameter name (host value).
pub const MAX_PARAM_NAME_LEN: usize = 64;

/// Type of a path parameter (docs/internals/framework.md#routing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// `{x}` / `{x:str}`: one non-empty segment.
    Str,
    /// `{x:int}`: optional `-` then at least one ASCII digit.
    Int,
    /// `{x:float}`: optional `-`, digits, optional `.` followed by digits.
    Float,
    /// `{x:bool}`: `true/false/1/0/yes/no/on/off`, case-insensitive.
    Bool,
    /// `{x:path}`: the non-empty rest of the path, `/` included; last segment only.
    Path,
}

impl ParamKind {
    /// The type name used in patterns (`"str"`, `"int"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::Str => "str",
            ParamKind::Int => "int",
            ParamKind::Float => "float",
            ParamKind::Bool => "bool",
            ParamKind::Path => "path",
        }
    }

    /// Parse a type name as written in a pattern (case-sensitive).
    pub fn from_name(name: &str) -> Option<ParamKind> {
        Some(match name {
            "str" => ParamKind::Str,
            "int" => ParamKind::Int,
            "float" => ParamKind::Float,
            "bool" => ParamKind::Bool,
            "path" => ParamKind::Path,
            _ => return None,
        })
    }

    /// Whether `value` (raw bytes of one segment, or of the rest for `Path`)
    /// fits this type.
    pub fn accepts(self, value: &[u8]) -> bool {
        match self {
            ParamKind::Str | ParamKind::Path => !value.is_empty(),
            ParamKind::Int => is_int(value),
            ParamKind::Float => is_float(value),
            ParamKind::Bool => parse_bool(value).is_some(),
        }
    }
}

/// `-`? digit+
fn is_int(value: &[u8]) -> bool {
    let digits = value.strip_prefix(b"-").unwrap_or(value);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// `-`? digit+ (`.` digit+)?
fn is_float(value: &[u8]) -> bool {
    let body = value.strip_prefix(b"-").unwrap_or(value);
    let mut parts = body.splitn(2, |&b| b == b'.');
    let all_digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    match (parts.next(), parts.next()) {
        (Some(int), None) => all_digits(int),
        (Some(int), Some(frac)) => all_digits(int) && all_digits(frac),
        _ => false,
    }
}

/// Parse a `bool` path value: `true/1/yes/on` → `true`, `false/0/no/off` →
/// `false` (ASCII case-insensitive); anything else → `None`.
pub fn parse_bool(value: &[u8]) -> Option<bool> {
    const TRUE: [&[u8]; 4] = [b"true", b"1", b"yes", b"on"];
    const FALSE: [&[u8]; 4] = [b"false", b"0", b"no", b"off"];
    if TRUE.iter().any(|t| value.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if FALSE.iter().any(|f| value.eq_ignore_ascii_case(f)) {
        Some(false)
    } else {
        None
    }
}

/// A parameter of a pattern: its name and type, in pattern order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// Parameter name (`[A-Za-z0-9_]{1,64}`).
    pub name: Box<str>,
    /// Parameter type.
    pub kind: ParamKind,
}

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

/// Raw matched parameter values, in pattern order, borrowed from the request
/// path (not percent-decoded). Inline storage: no heap allocation per lookup.
#[derive(Clone, Copy)]
pub struct ParamValues<'a> {
    values: [&'a [u8]; MAX_PARAMS],
    len: usize,
}

impl<'a> ParamValues<'a> {
    fn new() -> Self {
        ParamValues {
            values: [&[]; MAX_PARAMS],
            len: 0,
        }
    }

    /// Append a value; `false` when already full.
    fn push(&mut self, value: &'a [u8]) -> bool {
        match self.values.get_mut(self.len) {
            Some(slot) => {
                *slot = value;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `index`-th value.
    pub fn get(&self, index: usize) -> Option<&'a [u8]> {
        self.as_slice().get(index).copied()
    }

    /// All values as a slice.
    pub fn as_slice(&self) -> &[&'a [u8]] {
        self.values.get(..self.len).unwrap_or(&[])
    }

    /// Iterate over the values.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.as_slice().iter().copied()
    }
}

impl fmt::Debug for ParamValues<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

/// Result of [`RouteTable::lookup`].
// `Found` carries the inline value array on purpose (no allocation per lookup).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Lookup<'a> {
    /// A route matched.
    Found {
        /// Route id (0-based registration index).
        route_id: u32,
        /// The route's parameters (name + type), in pattern order.
        pattern_params: &'a [ParamSpec],
        /// Raw matched values, same order (a `path` value is the whole rest).
        values: ParamValues<'a>,
    },
    /// The path is known (has at least one HTTP route) but not for this method.
    MethodNotAllowed {
        /// Value for the `Allow` header (docs/internals/framework.md#routing).
        allow: &'a str,
    },
    /// No route for this path.
    NotFound,
}

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

fn compute_allow(order: &[Method]) -> Box<str> {
    let has_head = order.contains(&Method::Head);
    let mut out = String::new();
    let mut push = |m: Method| {
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(m.as_str());
    };
    for &m in order {
        push(m);
        if m == Method::Get && !has_head {
            push(Method::Head);
        }
    }
    out.into_boxed_str()
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

    /// Match `path` (raw, without query; anything from the first `?` is
    /// ignored) for `method`. Never allocates.
    pub fn lookup<'a>(&'a self, method: Method, path: &'a [u8]) -> Lookup<'a> {
        let Some((node, values)) = self.walk(path) else {
            return Lookup::NotFound;
        };
        let route_id = match method {
            Method::Ws => node.ws,
            Method::Head => node.handler(Method::Head).or(node.handler(Method::Get)),
            m => node.handler(m),
        };
        match route_id {
            Some(route_id) => match self.route(route_id) {
                Some(info) => Lookup::Found {
                    route_id,
                    pattern_params: &info.params,
                    values,
                },
                None => Lookup::NotFound,
            },
            None if method != Method::Ws && !node.order.is_empty() => {
                Lookup::MethodNotAllowed { allow: &node.allow }
            }
            None => Lookup::NotFound,
        }
    }

    /// The `Allow` value for `path` when it is a known HTTP path (at least one
    /// HTTP route), whatever the method; `None` otherwise. Used for request
    /// methods outside the route table's set.
    pub fn allow<'a>(&'a self, path: &'a [u8]) -> Option<&'a str> {
        let (node, _) = self.walk(path)?;
        (!node.order.is_empty()).then_some(&*node.allow)
    }

    /// Walk the trie along `path`; the reached node and the raw values.
    fn walk<'a>(&'a self, path: &'a [u8]) -> Option<(&'a Node, ParamValues<'a>)> {
        let rest = trim_path(path)?;
        let mut node = self.node(0)?;
        let mut values = ParamValues::new();
        if rest.is_empty() {
            return Some((node, values));
        }
        let mut pos = 0usize;
        loop {
            let tail = rest.get(pos..)?;
            let seg_len = tail.iter().position(|&b| b == b'/').unwrap_or(tail.len());
            let segment = tail.get(..seg_len)?;
            if segment.is_empty() {
                return None;
            }
            if let Some(child) = node.static_child(segment) {
                node = self.node(child)?;
            } else if let Some(child) = node.param.and_then(|c| self.node(c)) {
                if !child.spec.as_ref()?.kind.accepts(segment) || !values.push(segment) {
                    return None;
                }
                node = child;
            } else if let Some(child) = node.path.and_then(|c| self.node(c)) {
                // `tail` is non-empty and has no trailing `/` (trimmed).
                if tail.windows(2).any(|w| w == b"//") || !values.push(tail) {
                    return None;
                }
                return Some((child, values));
            } else {
                return None;
            }
            if seg_len >= tail.len() {
                return Some((node, values));
            }
            pos += seg_len + 1;
        }
    }

    /// Insert a parsed pattern; on error `self` may be partly modified (the
    /// caller discards it).
    fn insert(
        &mut self,
        method: Method,
        pattern: &str,
        segments: Vec<PatternSegment>,
    ) -> Result<u32, RouteError> {
        let route_id = u32::try_from(self.routes.len()).map_err(|_| RouteError::Full)?;
        if route_id == u32::MAX {
            return Err(RouteError::Full);
        }
        let mut params = Vec::new();
        let mut current: u32 = 0;
        for segment in segments {
            current = match segment {
                PatternSegment::Literal(literal) => {
                    self.static_child_or_insert(current, literal)?
                }
                PatternSegment::Param(spec) => {
                    params.push(spec.clone());
                    self.param_child_or_insert(current, spec)?
                }
            };
        }
        let node = self.node_mut(current)?;
        if method == Method::Ws {
            if node.ws.is_some() {
                return Err(RouteError::Conflict);
            }
            node.ws = Some(route_id);
        } else {
            let slot = node
                .handlers
                .get_mut(method as usize)
                .ok_or(RouteError::Invalid)?;
            if slot.is_some() {
                return Err(RouteError::Conflict);
            }
            *slot = Some(route_id);
            node.order.push(method);
            node.allow = compute_allow(&node.order);
        }
        self.routes.push(Arc::new(RouteInfo {
            method,
            pattern: pattern.into(),
            params: params.into_boxed_slice(),
        }));
        Ok(route_id)
    }

    fn node_mut(&mut self, index: u32) -> Result<&mut Node, RouteError> {
        self.nodes
            .get_mut(index as usize)
            .map(Arc::make_mut)
            .ok_or(RouteError::Invalid)
    }

    fn new_node(&mut self, spec: Option<ParamSpec>) -> Result<u32, RouteError> {
        let index = u32::try_from(self.nodes.len()).map_err(|_| RouteError::Full)?;
        self.nodes.push(Arc::new(Node {
            spec,
            ..Node::default()
        }));
        self.edge_count += 1;
        Ok(index)
    }

    fn static_child_or_insert(&mut self, parent: u32, literal: Vec<u8>) -> Result<u32, RouteError> {
        let existing = self
            .node(parent)
            .ok_or(RouteError::Invalid)?
            .exact_static_child(&literal);
        if let Some(child) = existing {
            return Ok(child);
        }
        let child = self.new_node(None)?;
        let has_escape = literal.contains(&b'%');
        let node = self.node_mut(parent)?;
        node.any_escape |= has_escape;
        let segment: Arc<[u8]> = literal.into();
        if let Some(index) = &mut node.static_index {
            index.insert(Arc::clone(&segment), child);
        }
        node.statics.push(StaticEdge {
            segment,
            has_escape,
            child,
        });
        if node.static_index.is_none() && node.statics.len() > STATIC_INDEX_THRESHOLD {
            node.static_index = Some(
                node.statics
                    .iter()
                    .map(|e| (Arc::clone(&e.segment), e.child))
                    .collect(),
            );
        }
        Ok(child)
    }

    fn param_child_or_insert(&mut self, parent: u32, spec: ParamSpec) -> Result<u32, RouteError> {
        let node = self.node(parent).ok_or(RouteError::Invalid)?;
        let (own, other) = if spec.kind == ParamKind::Path {
            (node.path, node.param)
        } else {
            (node.param, node.path)
        };
        if other.is_some() {
            return Err(RouteError::Conflict);
        }
        if let Some(child) = own {
            let same = self
                .node(child)
                .and_then(|c| c.spec.as_ref())
                .is_some_and(|s| *s == spec);
            return if same {
                Ok(child)
            } else {
                Err(RouteError::Conflict)
            };
        }
        let is_path = spec.kind == ParamKind::Path;
        let child = self.new_node(Some(spec))?;
        let node = self.node_mut(parent)?;
        if is_path {
            node.path = Some(child);
        } else {
            node.param = Some(child);
        }
        Ok(child)
    }
}

/// Cut at `?`, skip one leading `/`, drop one trailing `/`. `Some(empty)` is
/// the root; `None` means an empty segment (`//`).
fn trim_path(path: &[u8]) -> Option<&[u8]> {
    let path = match path.iter().position(|&b| b == b'?') {
        Some(q) => path.get(..q)?,
        None => path,
    };
    let rest = path.strip_prefix(b"/").unwrap_or(path);
    if rest.is_empty() {
        return Some(rest);
    }
    let rest = rest.strip_suffix(b"/").unwrap_or(rest);
    if rest.is_empty() {
        None
    } else {
        Some(rest)
    }
}

/// RFC 3986 `pchar` minus `%`: unreserved / sub-delims / `:` / `@`.
fn is_pchar(b: u8) -> bool {
    crate::head_guard::target::is_unreserved_or_sub_delim(b) || b == b':' || b == b'@'
}

fn hex_upper(nibble: u8) -> u8 {
    let n = nibble & 0x0f;
    if n < 10 {
        b'0' + n
    } else {
        b'A' + (n - 10)
    }
}

/// The canonical form of the byte(s) at `input[i..]`: `(bytes, bytes_len,
/// input_consumed)`, or `None` at the end.
#[inline]
fn canonical_chunk(input: &[u8], i: usize) -> Option<([u8; 3], usize, usize)> {
    let b = *input.get(i)?;
    if b == b'%' {
        if let (Some(&h), Some(&l)) = (input.get(i + 1), input.get(i + 2)) {
            if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() {
                return Some(([b'%', h.to_ascii_uppercase(), l.to_ascii_uppercase()], 3, 3));
            }
        }
        return Some(([b'%', b'2', b'5'], 3, 1));
    }
    if is_pchar(b) {
        Some(([b, 0, 0], 1, 1))
    } else {
        Some(([b'%', hex_upper(b >> 4), hex_upper(b)], 3, 1))
    }
}

/// Whether `segment` may differ from its canonical form.
fn needs_canonical(segment: &[u8]) -> bool {
    segment.iter().any(|&b| b == b'%' || !is_pchar(b))
}

/// `canonical(segment) == literal`, without allocating.
fn canonical_eq(literal: &[u8], segment: &[u8]) -> bool {
    let mut li = 0usize;
    let mut si = 0usize;
    while let Some((buf, n, used)) = canonical_chunk(segment, si) {
        match (literal.get(li..li + n), buf.get(..n)) {
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
        li += n;
        si += used;
    }
    li == literal.len()
}

fn canonicalize(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0usize;
    while let Some((buf, n, used)) = canonical_chunk(raw, i) {
        out.extend_from_slice(buf.get(..n).unwrap_or(&[]));
        i += used;
    }
    out
}

#[derive(Debug)]
enum PatternSegment {
    /// Canonical literal bytes.
    Literal(Vec<u8>),
    Param(ParamSpec),
}

fn valid_param_name(name: &str) -> bool {
    (1..=MAX_PARAM_NAME_LEN).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Parse and validate a route pattern (docs/internals/framework.md#routing).
fn parse_pattern(pattern: &str) -> Result<Vec<PatternSegment>, RouteError> {
    let rest = pattern.strip_prefix('/').unwrap_or(pattern);
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Err(RouteError::Invalid);
    }
    let mut out = Vec::new();
    let mut param_count = 0usize;
    let mut raw_segments = rest.split('/').peekable();
    while let Some(raw) = raw_segments.next() {
        let is_last = raw_segments.peek().is_none();
        if raw.is_empty() {
            return Err(RouteError::Invalid);
        }
        let inner = raw.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
        if let Some(inner) = inner {
            let (name, kind) = match inner.split_once(':') {
                Some((name, type_name)) => (
                    name,
                    ParamKind::from_name(type_name).ok_or(RouteError::Invalid)?,
                ),
                None => (inner, ParamKind::Str),
            };
            if !valid_param_name(name) {
                return Err(RouteError::Invalid);
            }
            if kind == ParamKind::Path && !is_last {
                return Err(RouteError::Unsupported);
            }
            let duplicate = out
                .iter()
                .any(|s| matches!(s, PatternSegment::Param(p) if &*p.name == name));
            if duplicate {
                return Err(RouteError::Invalid);
            }
            param_count += 1;
            if param_count > MAX_PARAMS {
                return Err(RouteError::TooLarge);
            }
            out.push(PatternSegment::Param(ParamSpec {
                name: name.into(),
                kind,
            }));
        } else {
            if raw.contains(['{', '}']) {
                return Err(RouteError::Invalid);
            }
            if raw.len() > MAX_SEGMENT_LEN {
                return Err(RouteError::TooLarge);
            }
            out.push(PatternSegment::Literal(canonicalize(raw.as_bytes())));
        }
    }
    Ok(out)
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

#[cfg(test)]
mod tests;
