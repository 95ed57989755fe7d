//! Registration: adding a parsed pattern to a private copy of the [`RouteTable`] (the caller,
//! [`Routes::add`](super::Routes::add), publishes the copy only on success). Shared nodes are
//! copied on first write (`Arc::make_mut`), so a reader's older snapshot never changes.

use std::sync::Arc;

use viperhttp_ipc::Method;

use super::params::{ParamKind, ParamSpec};
use super::pattern::PatternSegment;
use super::{Node, RouteError, RouteInfo, RouteTable, StaticEdge, STATIC_INDEX_THRESHOLD};

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

impl RouteTable {
    /// Insert a parsed pattern; on error `self` may be partly modified (the
    /// caller discards it).
    pub(super) fn insert(
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
