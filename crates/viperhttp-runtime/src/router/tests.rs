//! Unit tests of the route trie: parameter grammars, matching rules, registration errors,
//! percent-encoded literals, `Allow`, WebSocket routes, snapshots; proptests that lookup and
//! registration never panic.

use super::canonical::canonicalize;
use super::*;
use proptest::prelude::*;

fn routes(list: &[(Method, &str)]) -> Routes {
    let r = Routes::new();
    for (m, p) in list {
        r.add(*m, p).unwrap();
    }
    r
}

/// `Some((route_id, [(name, value)]))`, or `None` when not found.
fn found(r: &Routes, m: Method, path: &str) -> Option<(u32, Vec<(String, String)>)> {
    let t = r.snapshot();
    match t.lookup(m, path.as_bytes()) {
        Lookup::Found {
            route_id,
            pattern_params,
            values,
        } => {
            assert_eq!(pattern_params.len(), values.len());
            let pairs = pattern_params
                .iter()
                .zip(values.iter())
                .map(|(p, v)| (p.name.to_string(), String::from_utf8_lossy(v).into_owned()))
                .collect();
            Some((route_id, pairs))
        }
        _ => None,
    }
}

fn is_not_found(r: &Routes, m: Method, path: &str) -> bool {
    matches!(r.snapshot().lookup(m, path.as_bytes()), Lookup::NotFound)
}

fn allow_of(r: &Routes, m: Method, path: &str) -> Option<String> {
    match r.snapshot().lookup(m, path.as_bytes()) {
        Lookup::MethodNotAllowed { allow } => Some(allow.to_string()),
        _ => None,
    }
}

fn pv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn add_err(pattern: &str) -> RouteError {
    Routes::new().add(Method::Get, pattern).unwrap_err()
}

#[test]
fn int_grammar() {
    for ok in [
        "0",
        "7",
        "123",
        "-1",
        "-0",
        "007",
        "99999999999999999999999",
    ] {
        assert!(ParamKind::Int.accepts(ok.as_bytes()), "{ok}");
    }
    for bad in ["", "-", "--1", "+1", "1.0", "1e3", "a", " 1", "1_000", "١"] {
        assert!(!ParamKind::Int.accepts(bad.as_bytes()), "{bad}");
    }
    let r = routes(&[(Method::Get, "/items/{id:int}")]);
    assert_eq!(
        found(&r, Method::Get, "/items/-42"),
        Some((0, pv(&[("id", "-42")])))
    );
    assert!(is_not_found(&r, Method::Get, "/items/4x"));
    assert!(is_not_found(&r, Method::Get, "/items/-"));
}

#[test]
fn float_grammar() {
    for ok in ["1", "1.5", "-0.25", "0.0", "10", "-3"] {
        assert!(ParamKind::Float.accepts(ok.as_bytes()), "{ok}");
    }
    for bad in [
        "", "-", ".5", "1.", "1e3", "1.2.3", "-.5", "nan", "inf", "1,5", "+1",
    ] {
        assert!(!ParamKind::Float.accepts(bad.as_bytes()), "{bad}");
    }
    let r = routes(&[(Method::Get, "/f/{x:float}")]);
    assert_eq!(
        found(&r, Method::Get, "/f/-0.25"),
        Some((0, pv(&[("x", "-0.25")])))
    );
    assert!(is_not_found(&r, Method::Get, "/f/1."));
    assert!(is_not_found(&r, Method::Get, "/f/.5"));
    assert!(is_not_found(&r, Method::Get, "/f/1e3"));
}

#[test]
fn bool_grammar() {
    for (s, v) in [
        ("true", true),
        ("TRUE", true),
        ("Yes", true),
        ("on", true),
        ("1", true),
        ("false", false),
        ("No", false),
        ("OFF", false),
        ("0", false),
    ] {
        assert_eq!(parse_bool(s.as_bytes()), Some(v), "{s}");
        assert!(ParamKind::Bool.accepts(s.as_bytes()));
    }
    for bad in ["", "2", "t", "y", "truee", "nope"] {
        assert!(!ParamKind::Bool.accepts(bad.as_bytes()), "{bad}");
    }
    let r = routes(&[(Method::Get, "/b/{flag:bool}")]);
    assert!(found(&r, Method::Get, "/b/On").is_some());
    assert!(is_not_found(&r, Method::Get, "/b/maybe"));
}

#[test]
fn str_param_and_default_type() {
    let r = routes(&[(Method::Get, "/u/{name}"), (Method::Post, "/v/{name:str}")]);
    assert_eq!(
        found(&r, Method::Get, "/u/bob"),
        Some((0, pv(&[("name", "bob")])))
    );
    assert_eq!(
        found(&r, Method::Post, "/v/x%20y"),
        Some((1, pv(&[("name", "x%20y")])))
    );
    assert!(is_not_found(&r, Method::Get, "/u"));
    assert!(is_not_found(&r, Method::Get, "/u/a/b"));
    let t = r.snapshot();
    let info = t.route(0).unwrap();
    assert_eq!(info.params[0].kind, ParamKind::Str);
    assert_eq!(&*info.pattern, "/u/{name}");
}

#[test]
fn path_param_swallows_rest() {
    let r = routes(&[
        (Method::Get, "/files/{p:path}"),
        (Method::Get, "/files/special"),
    ]);
    assert_eq!(
        found(&r, Method::Get, "/files/a/b/c.txt"),
        Some((0, pv(&[("p", "a/b/c.txt")])))
    );
    assert_eq!(
        found(&r, Method::Get, "/files/a"),
        Some((0, pv(&[("p", "a")])))
    );
    // one trailing slash is not part of the value
    assert_eq!(
        found(&r, Method::Get, "/files/a/b/"),
        Some((0, pv(&[("p", "a/b")])))
    );
    // static wins
    assert_eq!(found(&r, Method::Get, "/files/special"), Some((1, vec![])));
    // no backtracking from the static child to the path child
    assert!(is_not_found(&r, Method::Get, "/files/special/x"));
    // empty value
    assert!(is_not_found(&r, Method::Get, "/files"));
    assert!(is_not_found(&r, Method::Get, "/files/"));
    // empty segment inside
    assert!(is_not_found(&r, Method::Get, "/files/a//b"));
    // query stripped
    assert_eq!(
        found(&r, Method::Get, "/files/x/y?z=/1"),
        Some((0, pv(&[("p", "x/y")])))
    );
}

#[test]
fn static_over_param_and_no_backtracking() {
    let r = routes(&[
        (Method::Get, "/users/me"),
        (Method::Get, "/users/{id:int}"),
        (Method::Get, "/users/{id:int}/posts"),
        (Method::Get, "/a/b/c"),
        (Method::Get, "/a/{x}/d"),
    ]);
    assert_eq!(found(&r, Method::Get, "/users/me"), Some((0, vec![])));
    assert_eq!(
        found(&r, Method::Get, "/users/5"),
        Some((1, pv(&[("id", "5")])))
    );
    assert_eq!(
        found(&r, Method::Get, "/users/5/posts"),
        Some((2, pv(&[("id", "5")])))
    );
    assert!(is_not_found(&r, Method::Get, "/users/abc"));
    assert_eq!(
        found(&r, Method::Get, "/a/z/d"),
        Some((4, pv(&[("x", "z")])))
    );
    // `b` matches the static child; `/a/b/d` does not fall back to `{x}`
    assert!(is_not_found(&r, Method::Get, "/a/b/d"));
    assert_eq!(found(&r, Method::Get, "/a/b/c"), Some((3, vec![])));
}

#[test]
fn typed_param_fails_without_fallback() {
    let r = routes(&[(Method::Get, "/a/{x:int}")]);
    assert!(is_not_found(&r, Method::Get, "/a/foo"));
    // a different param at the same position conflicts
    assert_eq!(r.add(Method::Get, "/a/{y}"), Err(RouteError::Conflict));
    assert_eq!(r.add(Method::Get, "/a/{x}"), Err(RouteError::Conflict));
    assert_eq!(r.add(Method::Get, "/a/{x:path}"), Err(RouteError::Conflict));
    // same name + type at the same position shares the node
    assert_eq!(r.add(Method::Post, "/a/{x:int}"), Ok(1));
    assert_eq!(r.add(Method::Get, "/a/{x:int}/b"), Ok(2));
    let r2 = routes(&[(Method::Get, "/p/{rest:path}")]);
    assert_eq!(r2.add(Method::Get, "/p/{x}"), Err(RouteError::Conflict));
    assert_eq!(
        r2.add(Method::Get, "/p/{other:path}"),
        Err(RouteError::Conflict)
    );
    assert_eq!(r2.add(Method::Post, "/p/{rest:path}"), Ok(1));
}

#[test]
fn trailing_slash_both_ways() {
    let r = routes(&[(Method::Get, "/items"), (Method::Get, "/things/")]);
    assert!(found(&r, Method::Get, "/items").is_some());
    assert!(found(&r, Method::Get, "/items/").is_some());
    assert!(found(&r, Method::Get, "/things").is_some());
    assert!(found(&r, Method::Get, "/things/").is_some());
    assert!(is_not_found(&r, Method::Get, "/items//"));
    // `/a` and `/a/` are the same pattern
    assert_eq!(r.add(Method::Get, "/items/"), Err(RouteError::Conflict));
    assert_eq!(r.add(Method::Get, "things"), Err(RouteError::Conflict));
}

#[test]
fn root_and_empty_segments() {
    let r = routes(&[(Method::Get, "/")]);
    assert!(found(&r, Method::Get, "/").is_some());
    assert!(found(&r, Method::Get, "").is_some());
    assert!(found(&r, Method::Get, "/?x=1").is_some());
    assert!(found(&r, Method::Get, "?").is_some());
    assert!(is_not_found(&r, Method::Get, "//"));
    assert!(is_not_found(&r, Method::Get, "/x"));
    assert_eq!(r.add(Method::Get, ""), Err(RouteError::Conflict));
    let r2 = routes(&[(Method::Get, "/a/b")]);
    assert!(is_not_found(&r2, Method::Get, "/a//b"));
    assert!(is_not_found(&r2, Method::Get, "//a/b"));
    assert!(found(&r2, Method::Get, "a/b").is_some());
    // root with no route
    assert!(is_not_found(&r2, Method::Get, "/"));
}

#[test]
fn registration_errors() {
    use RouteError::*;
    assert_eq!(add_err("//"), Invalid);
    assert_eq!(add_err("/a//b"), Invalid);
    assert_eq!(add_err("//a"), Invalid);
    assert_eq!(add_err("/a//"), Invalid);
    assert_eq!(add_err("/a{b}"), Invalid);
    assert_eq!(add_err("/a}"), Invalid);
    assert_eq!(add_err("/{a}b"), Invalid);
    assert_eq!(add_err("/{}"), Invalid);
    assert_eq!(add_err("/{:int}"), Invalid);
    assert_eq!(add_err("/{a:}"), Invalid);
    assert_eq!(add_err("/{a:uuid}"), Invalid);
    assert_eq!(add_err("/{a:Int}"), Invalid);
    assert_eq!(add_err("/{a-b}"), Invalid);
    assert_eq!(add_err("/{a{b}}"), Invalid);
    assert_eq!(add_err("/{a}/{a}"), Invalid);
    assert_eq!(add_err(&format!("/{{{}}}", "n".repeat(65))), Invalid);
    assert!(Routes::new()
        .add(Method::Get, &format!("/{{{}}}", "n".repeat(64)))
        .is_ok());
    assert_eq!(add_err("/{p:path}/x"), Unsupported);
    assert_eq!(add_err("/{p:path}/{q}"), Unsupported);
    assert_eq!(add_err(&format!("/{}", "s".repeat(256))), TooLarge);
    assert!(Routes::new()
        .add(Method::Get, &format!("/{}", "s".repeat(255)))
        .is_ok());
    let many = |n: usize| (0..n).map(|i| format!("/{{p{i}}}")).collect::<String>();
    assert!(Routes::new().add(Method::Get, &many(16)).is_ok());
    assert_eq!(add_err(&many(17)), TooLarge);
    assert_eq!(Invalid.reason(), "INVALID");
    assert_eq!(Conflict.reason(), "CONFLICT");
    assert_eq!(Full.reason(), "FULL");
    assert_eq!(Unsupported.reason(), "UNSUPPORTED");
    assert_eq!(TooLarge.reason(), "TOO_LARGE");
    assert_eq!(TooLarge.to_string(), "route add failed: TOO_LARGE");
    // a failed add publishes nothing
    let r = routes(&[(Method::Get, "/ok")]);
    let before = r.stats();
    assert_eq!(r.add(Method::Get, "/new/{x:path}/y"), Err(Unsupported));
    assert_eq!(r.add(Method::Get, "/new/{x}/{x:int}"), Err(Invalid));
    assert_eq!(r.add(Method::Get, "/ok"), Err(Conflict));
    assert_eq!(r.stats(), before);
    assert_eq!(r.add(Method::Post, "/ok"), Ok(1));
}

#[test]
fn duplicate_routes_conflict() {
    let r = routes(&[(Method::Get, "/x/{id}"), (Method::Ws, "/x/{id}")]);
    assert_eq!(r.add(Method::Get, "/x/{id}"), Err(RouteError::Conflict));
    assert_eq!(r.add(Method::Get, "x/{id}/"), Err(RouteError::Conflict));
    assert_eq!(r.add(Method::Ws, "/x/{id}"), Err(RouteError::Conflict));
    assert_eq!(r.add(Method::Head, "/x/{id}"), Ok(2));
}

#[test]
fn percent_encoded_literals() {
    let r = routes(&[
        (Method::Get, "/café"),
        (Method::Get, "/a b/%2f"),
        (Method::Get, "/100%"),
    ]);
    assert!(found(&r, Method::Get, "/caf%C3%A9").is_some());
    assert!(found(&r, Method::Get, "/caf%c3%a9").is_some());
    assert!(found(&r, Method::Get, "/caf%c3%A9/").is_some());
    assert!(found(&r, Method::Get, "/café").is_some());
    assert!(is_not_found(&r, Method::Get, "/caf%C3%A8"));
    assert!(is_not_found(&r, Method::Get, "/cafe"));
    assert!(is_not_found(&r, Method::Get, "/caf%C3"));
    assert_eq!(found(&r, Method::Get, "/a%20b/%2F").map(|f| f.0), Some(1));
    assert_eq!(found(&r, Method::Get, "/a%20b/%2f").map(|f| f.0), Some(1));
    assert_eq!(found(&r, Method::Get, "/a b/%2f").map(|f| f.0), Some(1));
    assert_eq!(found(&r, Method::Get, "/100%25").map(|f| f.0), Some(2));
    assert_eq!(found(&r, Method::Get, "/100%").map(|f| f.0), Some(2));
    // canonical forms are the same pattern
    assert_eq!(r.add(Method::Get, "/caf%c3%a9"), Err(RouteError::Conflict));
    assert_eq!(r.add(Method::Get, "/caf%C3%A9"), Err(RouteError::Conflict));
    // sub-delims, ':' and '@' stay literal
    let r2 = routes(&[(Method::Get, "/x/a:b@c!$&'()*+,;=-._~")]);
    assert!(found(&r2, Method::Get, "/x/a:b@c!$&'()*+,;=-._~").is_some());
    assert!(is_not_found(&r2, Method::Get, "/x/a%3Ab@c!$&'()*+,;=-._~"));
    assert_eq!(
        canonicalize("é %zz%4a".as_bytes()),
        b"%C3%A9%20%25zz%4A".to_vec()
    );
}

#[test]
fn head_falls_back_to_get() {
    let r = routes(&[
        (Method::Get, "/g"),
        (Method::Get, "/h"),
        (Method::Head, "/h"),
        (Method::Post, "/p"),
    ]);
    assert_eq!(found(&r, Method::Head, "/g").map(|f| f.0), Some(0));
    assert_eq!(found(&r, Method::Head, "/h").map(|f| f.0), Some(2));
    assert_eq!(found(&r, Method::Get, "/h").map(|f| f.0), Some(1));
    assert_eq!(allow_of(&r, Method::Head, "/p").as_deref(), Some("POST"));
}

#[test]
fn allow_ordering() {
    let r = routes(&[
        (Method::Post, "/a"),
        (Method::Get, "/a"),
        (Method::Delete, "/a"),
    ]);
    assert_eq!(
        allow_of(&r, Method::Put, "/a").as_deref(),
        Some("POST, GET, HEAD, DELETE")
    );
    let r = routes(&[
        (Method::Get, "/b"),
        (Method::Put, "/b"),
        (Method::Head, "/b"),
    ]);
    assert_eq!(
        allow_of(&r, Method::Post, "/b").as_deref(),
        Some("GET, PUT, HEAD")
    );
    let r = routes(&[(Method::Head, "/c"), (Method::Get, "/c")]);
    assert_eq!(
        allow_of(&r, Method::Post, "/c").as_deref(),
        Some("HEAD, GET")
    );
    let r = routes(&[(Method::Options, "/d"), (Method::Patch, "/d")]);
    assert_eq!(
        allow_of(&r, Method::Get, "/d").as_deref(),
        Some("OPTIONS, PATCH")
    );
    assert_eq!(
        allow_of(&r, Method::Head, "/d").as_deref(),
        Some("OPTIONS, PATCH")
    );
    let r = routes(&[(Method::Get, "/e")]);
    assert_eq!(
        allow_of(&r, Method::Options, "/e").as_deref(),
        Some("GET, HEAD")
    );
    assert_eq!(
        r.snapshot().allow(b"/e/").map(str::to_string).as_deref(),
        Some("GET, HEAD")
    );
    assert_eq!(r.snapshot().allow(b"/f"), None);
    // intermediate nodes without handlers are unknown paths
    let r = routes(&[(Method::Get, "/x/y")]);
    assert!(is_not_found(&r, Method::Post, "/x"));
    assert_eq!(r.snapshot().allow(b"/x"), None);
}

#[test]
fn websocket_routes_are_separate() {
    let r = routes(&[
        (Method::Ws, "/ws"),
        (Method::Ws, "/both"),
        (Method::Get, "/both"),
    ]);
    assert!(is_not_found(&r, Method::Get, "/ws"));
    assert!(is_not_found(&r, Method::Post, "/ws"));
    assert_eq!(r.snapshot().allow(b"/ws"), None);
    assert_eq!(found(&r, Method::Ws, "/ws").map(|f| f.0), Some(0));
    assert_eq!(found(&r, Method::Ws, "/both").map(|f| f.0), Some(1));
    assert_eq!(found(&r, Method::Get, "/both").map(|f| f.0), Some(2));
    assert_eq!(
        allow_of(&r, Method::Post, "/both").as_deref(),
        Some("GET, HEAD")
    );
    let r = routes(&[(Method::Get, "/only-http")]);
    assert!(is_not_found(&r, Method::Ws, "/only-http"));
}

#[test]
fn snapshot_independence_and_reset() {
    let r = routes(&[(Method::Get, "/a")]);
    let old = r.snapshot_full();
    assert_eq!(r.add(Method::Get, "/b"), Ok(1));
    assert_eq!(r.add(Method::Post, "/a"), Ok(2));
    assert!(matches!(old.lookup(Method::Get, b"/b"), Lookup::NotFound));
    assert!(matches!(
        old.lookup(Method::Post, b"/a"),
        Lookup::MethodNotAllowed { allow: "GET, HEAD" }
    ));
    assert_eq!(old.stats().route_count, 1);
    assert!(found(&r, Method::Get, "/b").is_some());
    assert_eq!(
        allow_of(&r, Method::Put, "/a").as_deref(),
        Some("GET, HEAD, POST")
    );
    r.reset();
    assert!(is_not_found(&r, Method::Get, "/a"));
    assert!(old.route(0).is_some());
    assert_eq!(
        r.stats(),
        RouterStats {
            route_count: 0,
            node_count: 1,
            edge_count: 0
        }
    );
    assert_eq!(r.add(Method::Get, "/z"), Ok(0));
}

#[test]
fn stats_count_nodes_and_edges() {
    let r = routes(&[
        (Method::Get, "/"),
        (Method::Get, "/a/b"),
        (Method::Post, "/a/b"),
        (Method::Get, "/a/{x}"),
        (Method::Get, "/c/{p:path}"),
    ]);
    // root, a, b, {x}, c, {p}
    assert_eq!(
        r.stats(),
        RouterStats {
            route_count: 5,
            node_count: 6,
            edge_count: 5
        }
    );
}

#[test]
fn wide_static_nodes_use_the_index() {
    let r = Routes::new();
    for i in 0..40 {
        assert_eq!(r.add(Method::Get, &format!("/w/s{i}")), Ok(i));
    }
    r.add(Method::Get, "/w/é").unwrap();
    r.add(Method::Get, "/w/{other}").unwrap();
    for i in 0..40 {
        assert_eq!(
            found(&r, Method::Get, &format!("/w/s{i}/")).map(|f| f.0),
            Some(i)
        );
    }
    assert_eq!(found(&r, Method::Get, "/w/%c3%a9").map(|f| f.0), Some(40));
    assert_eq!(found(&r, Method::Get, "/w/%C3%A9").map(|f| f.0), Some(40));
    assert_eq!(found(&r, Method::Get, "/w/s40").map(|f| f.0), Some(41));
    assert_eq!(r.add(Method::Get, "/w/s7"), Err(RouteError::Conflict));
    assert_eq!(r.add(Method::Post, "/w/s7"), Ok(42));
}

#[test]
fn many_params_fill_values() {
    let pattern: String = (0..16).map(|i| format!("/{{p{i}:int}}")).collect();
    let r = routes(&[(Method::Get, &pattern)]);
    let path: String = (0..16).map(|i| format!("/{i}")).collect();
    let (_, vals) = found(&r, Method::Get, &path).unwrap();
    assert_eq!(vals.len(), 16);
    assert_eq!(vals[15], ("p15".to_string(), "15".to_string()));
}

proptest! {
    #[test]
    fn lookup_never_panics(path in proptest::collection::vec(any::<u8>(), 0..64), m in 0u8..8) {
        let r = routes(&[
            (Method::Get, "/"),
            (Method::Get, "/a/{x:int}/b"),
            (Method::Post, "/a/{x:int}/{y:float}"),
            (Method::Get, "/c/{p:path}"),
            (Method::Get, "/caf%C3%A9/{flag:bool}"),
            (Method::Ws, "/ws/{name}"),
        ]);
        let t = r.snapshot();
        let method = Method::from_code(m).unwrap();
        match t.lookup(method, &path) {
            Lookup::Found { pattern_params, values, .. } => {
                prop_assert_eq!(pattern_params.len(), values.len());
                for (spec, v) in pattern_params.iter().zip(values.iter()) {
                    prop_assert!(spec.kind.accepts(v));
                }
            }
            Lookup::MethodNotAllowed { allow } => prop_assert!(!allow.is_empty()),
            Lookup::NotFound => {}
        }
        let _ = t.allow(&path);
    }

    #[test]
    fn lookup_never_panics_on_segment_soup(
        segs in proptest::collection::vec(prop_oneof![
            Just("a".to_string()), Just("1".to_string()), Just("-1.5".to_string()),
            Just("".to_string()), Just("%".to_string()), Just("%c3%a9".to_string()),
            Just("caf%C3%A9".to_string()), Just("café".to_string()), Just("c".to_string()),
            Just("b".to_string()), Just("?".to_string()), Just("on".to_string()),
        ], 0..8),
        m in 0u8..8,
    ) {
        let r = routes(&[
            (Method::Get, "/a/{x:int}/b"),
            (Method::Post, "/a/{x:int}/{y:float}"),
            (Method::Get, "/c/{p:path}"),
            (Method::Get, "/café/{flag:bool}"),
        ]);
        let path = format!("/{}", segs.join("/"));
        let method = Method::from_code(m).unwrap();
        let _ = r.snapshot().lookup(method, path.as_bytes());
    }

    #[test]
    fn add_never_panics(pattern in "[/{}a-z:%é]{0,24}") {
        let r = Routes::new();
        if r.add(Method::Get, &pattern).is_ok() {
            // a registered pattern finds itself when it has no params
            if !pattern.contains('{') {
                prop_assert!(!matches!(r.snapshot().lookup(Method::Get, pattern.as_bytes()), Lookup::NotFound));
            }
        }
    }
}
