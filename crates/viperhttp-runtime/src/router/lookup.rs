//! Matching a request path against a [`RouteTable`] snapshot, by the rules in the module docs of
//! `router` (`mod.rs`). It runs for every request: the parameter values are borrowed from the path
//! and nothing is allocated.

use viperhttp_ipc::Method;

use super::params::{ParamSpec, ParamValues};
use super::{Node, RouteTable};

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

impl RouteTable {
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
