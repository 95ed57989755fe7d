//! The native route trie (`crates/viperhttp-runtime/src/router/`).
//!
//! Part 1 — lookups: a table built from fixed patterns (static, typed params,
//! `{x:path}`, percent-escaped and non-ASCII literals, a WebSocket route) plus
//! a few fuzzed patterns, then arbitrary request paths for every method.
//! A `Found` must name a registered route of a fitting method, carry one raw
//! value per pattern parameter, each a sub-slice of the request path that its
//! type accepts and that holds no `/` (except `path`) and no empty segment;
//! `MethodNotAllowed` must agree with `allow()`.
//!
//! Part 2 — registration: arbitrary patterns. A failed `add` leaves the table
//! unchanged; a successful one gets the next route id, a second identical add
//! is `CONFLICT`, and the first route of a fresh table is found again by a path
//! built from its own pattern.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use viperhttp_ipc::Method;
use viperhttp_runtime::router::{Lookup, ParamKind, RouteError, RouteTable, Routes};

const FIXED: &[(Method, &str)] = &[
    (Method::Get, "/"),
    (Method::Get, "/users"),
    (Method::Post, "/users"),
    (Method::Get, "/users/{id:int}"),
    (Method::Delete, "/users/{id:int}"),
    (Method::Get, "/users/{id:int}/posts/{slug}"),
    (Method::Get, "/files/{rest:path}"),
    (Method::Put, "/flags/{on:bool}"),
    (Method::Get, "/price/{p:float}/x"),
    (Method::Get, "/caf\u{e9}/menu"),
    (Method::Head, "/a%2Fb/{x}"),
    (Method::Options, "/a%zz/b"),
    (Method::Patch, "/s/{a}/{b}/{c}/{d:path}"),
    (Method::Ws, "/ws/{room}"),
    (Method::Get, "/ws/{room}"),
];

const METHODS: [Method; 8] = [
    Method::Get,
    Method::Post,
    Method::Put,
    Method::Patch,
    Method::Delete,
    Method::Options,
    Method::Head,
    Method::Ws,
];

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    extra: Vec<(u8, &'a str)>,
    paths: Vec<&'a [u8]>,
    patterns: Vec<(u8, &'a str)>,
}

fn contains_slice(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

fn check_lookup(table: &RouteTable, path: &[u8]) {
    let path_only = path.split(|&b| b == b'?').next().unwrap_or_default();
    for m in METHODS {
        match table.lookup(m, path) {
            Lookup::Found {
                route_id,
                pattern_params,
                values,
            } => {
                let info = table.route(route_id).expect("Found names an unknown route");
                match m {
                    Method::Head => assert!(matches!(info.method, Method::Head | Method::Get)),
                    other => assert_eq!(info.method, other, "route of another method"),
                }
                assert_eq!(&*info.params, pattern_params);
                assert_eq!(
                    values.len(),
                    pattern_params.len(),
                    "one value per parameter"
                );
                for (v, spec) in values.iter().zip(pattern_params) {
                    assert!(!v.is_empty(), "empty parameter value");
                    assert!(
                        contains_slice(path_only, v),
                        "value not borrowed from the path"
                    );
                    assert!(spec.kind.accepts(v), "value rejected by its own type");
                    assert!(!v.contains(&b'?'));
                    if spec.kind == ParamKind::Path {
                        assert!(
                            !v.windows(2).any(|w| w == b"//"),
                            "empty segment in a path value"
                        );
                        assert!(!v.starts_with(b"/") && !v.ends_with(b"/"));
                    } else {
                        assert!(!v.contains(&b'/'), "'/' inside a segment value");
                    }
                }
                if m != Method::Ws {
                    assert!(table.allow(path).is_some(), "Found but no Allow");
                }
            }
            Lookup::MethodNotAllowed { allow } => {
                assert_ne!(m, Method::Ws, "Ws lookups never answer 405");
                assert!(!allow.is_empty());
                assert_eq!(table.allow(path), Some(allow));
                let name = if m == Method::Head { "GET" } else { m.as_str() };
                assert!(
                    !allow.split(", ").any(|a| a == name),
                    "405 although Allow lists {name}: {allow}"
                );
            }
            Lookup::NotFound => {}
        }
    }
}

/// A request path that the (first) route `pattern` must match: literal
/// segments as written (`?` escaped so the path is not cut), `1` for every
/// parameter (accepted by all five types).
fn path_for(pattern: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let rest = pattern.strip_prefix('/').unwrap_or(pattern);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    for seg in rest.split('/') {
        out.push(b'/');
        if seg.starts_with('{') && seg.ends_with('}') {
            out.push(b'1');
        } else {
            for &b in seg.as_bytes() {
                if b == b'?' {
                    out.extend_from_slice(b"%3F");
                } else {
                    out.push(b);
                }
            }
        }
    }
    out
}

fuzz_target!(|input: Input<'_>| {
    // Part 1: lookups.
    let routes = Routes::new();
    for (m, p) in FIXED {
        routes.add(*m, p).expect("fixed pattern");
    }
    for (m, p) in input.extra.iter().take(4) {
        let _ = routes.add(METHODS[*m as usize % METHODS.len()], p);
    }
    let table = routes.snapshot_full();
    for path in input.paths.iter().take(16) {
        check_lookup(&table, path);
    }

    // Part 2: registration.
    let fresh = Routes::new();
    for (i, (m, p)) in input.patterns.iter().take(8).enumerate() {
        let method = METHODS[*m as usize % METHODS.len()];
        let before = fresh.snapshot_full();
        let stats = fresh.stats();
        match fresh.add(method, p) {
            Ok(id) => {
                assert_eq!(
                    id as usize,
                    before.len(),
                    "route ids are registration indexes"
                );
                let after = fresh.snapshot_full();
                assert_eq!(after.len(), before.len() + 1);
                let info = after.route(id).expect("new route");
                assert_eq!(&*info.pattern, *p);
                assert_eq!(info.method, method);
                assert_eq!(
                    fresh.add(method, p),
                    Err(RouteError::Conflict),
                    "duplicate add"
                );
                assert_eq!(fresh.stats(), after.stats(), "failed add changed the table");
                // The older snapshot is unchanged (copy-on-write).
                assert_eq!(before.stats(), stats);
                if i == 0 {
                    let path = path_for(p);
                    match after.lookup(method, &path) {
                        Lookup::Found {
                            route_id, values, ..
                        } => {
                            assert_eq!(route_id, id);
                            assert!(values.iter().all(|v| v == b"1"));
                        }
                        other => panic!(
                            "pattern {p:?} not found by {:?}: {other:?}",
                            String::from_utf8_lossy(&path)
                        ),
                    }
                }
                check_lookup(&after, &path_for(p));
            }
            Err(_) => {
                assert_eq!(fresh.stats(), stats, "failed add changed the table");
            }
        }
    }
});
