//! Tests for mounts, resolution and serving, on a real temporary tree.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;

use super::mounts::{map_vfs_path, trim_trailing_slashes};
use super::*;

// ---------------------------------------------------------------- fixture

/// A temporary tree, removed on drop:
/// ```text
/// <dir>/outside/secret.txt
/// <dir>/www/{hello.txt, a b.txt, index.html, data.bin (100 B), empty.txt,
///            big.bin (200000 B), app.js (5000 B), tiny.css, image.png (5000 B),
///            style.css + style.css.gz, docs/index.html, plain/ (no index),
///            link-out -> ../outside/secret.txt, link-in -> hello.txt,
///            dir-out -> ../outside}
/// ```
struct Fixture {
    dir: PathBuf,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

const HELLO: &[u8] = b"hello world\n";
const CSS: &[u8] = b"body { color: red; }\n";

fn data_bin() -> Vec<u8> {
    (0..100u8).collect()
}

fn big_bin() -> Vec<u8> {
    (0..200_000u32).map(|i| (i % 251) as u8).collect()
}

fn app_js() -> Vec<u8> {
    b"function hello() { return 'hello world'; }\n"
        .iter()
        .copied()
        .cycle()
        .take(5000)
        .collect()
}

impl Fixture {
    fn new() -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("viperhttp-static-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let www = dir.join("www");
        std::fs::create_dir_all(www.join("docs")).unwrap();
        std::fs::create_dir_all(www.join("plain")).unwrap();
        std::fs::create_dir_all(dir.join("outside")).unwrap();
        std::fs::write(dir.join("outside/secret.txt"), b"secret").unwrap();
        std::fs::write(www.join("hello.txt"), HELLO).unwrap();
        std::fs::write(www.join("a b.txt"), b"spaced").unwrap();
        std::fs::write(www.join("index.html"), b"<h1>root</h1>").unwrap();
        std::fs::write(www.join("docs/index.html"), b"<h1>docs</h1>").unwrap();
        std::fs::write(www.join("data.bin"), data_bin()).unwrap();
        std::fs::write(www.join("empty.txt"), b"").unwrap();
        std::fs::write(www.join("big.bin"), big_bin()).unwrap();
        std::fs::write(www.join("app.js"), app_js()).unwrap();
        std::fs::write(www.join("tiny.css"), b"a{}").unwrap();
        std::fs::write(www.join("image.png"), vec![7u8; 5000]).unwrap();
        std::fs::write(www.join("style.css"), CSS).unwrap();
        std::fs::write(www.join("style.css.gz"), gzip::compress(CSS).unwrap()).unwrap();
        std::os::unix::fs::symlink("../outside/secret.txt", www.join("link-out")).unwrap();
        std::os::unix::fs::symlink("hello.txt", www.join("link-in")).unwrap();
        std::os::unix::fs::symlink("../outside", www.join("dir-out")).unwrap();
        Fixture { dir }
    }

    fn www(&self) -> String {
        self.dir.join("www").to_str().unwrap().to_owned()
    }

    /// `/static` → www (html off), `/site` → www (html on), `/favicon.ico`
    /// and `/secret` file mounts.
    fn config(&self, max_age: u32) -> StaticConfig {
        let mut m = StaticMounts::new();
        m.mount("/static", &self.www(), false).unwrap();
        m.mount("/site/", &self.www(), true).unwrap();
        m.mount_file("/favicon.ico", &format!("{}/data.bin", self.www()))
            .unwrap();
        // File mounts may point anywhere, symlinks included.
        m.mount_file("/secret", &format!("{}/link-out", self.www()))
            .unwrap();
        m.mount_file("/gone", &format!("{}/missing.txt", self.www()))
            .unwrap();
        m.freeze(None, max_age)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn request(
    cfg: &StaticConfig,
    cache: &GzipCache,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
) -> Resp {
    let (path, query) = match uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (uri, None),
    };
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let target = cfg.resolve(path, query);
    assert!(target.is_static(), "{uri} should be static");
    let resp = serve(cfg, cache, target, &method, &map, None).await;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

async fn get(cfg: &StaticConfig, uri: &str, headers: &[(&str, &str)]) -> Resp {
    request(cfg, &GzipCache::default(), Method::GET, uri, headers).await
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

// ---------------------------------------------------------------- mounts

#[test]
fn mount_validation_messages() {
    let mut m = StaticMounts::new();
    assert_eq!(
        m.mount("static", "/www", false).unwrap_err().to_string(),
        "invalid mount"
    );
    assert_eq!(
        m.mount("", "/www", false).unwrap_err().to_string(),
        "invalid mount"
    );
    assert_eq!(
        m.mount("/s", "", false).unwrap_err().to_string(),
        "invalid mount"
    );
    assert_eq!(
        m.mount("/s\0", "/www", false).unwrap_err(),
        MountError::InvalidMount
    );
    // Host: a relative root is fine.
    m.mount("/rel", "www", false).unwrap();
    m.mount("/static", "/www", false).unwrap();
    assert_eq!(
        m.mount("/static", "/other", false).unwrap_err().to_string(),
        "mount prefix already used"
    );
    // Trailing slashes are trimmed before comparing.
    assert_eq!(
        m.mount("/static/", "/other", false).unwrap_err(),
        MountError::PrefixUsed
    );
    // Same prefix and root updates html.
    m.mount("/static/", "/www/", true).unwrap();
    assert_eq!(m.dirs.len(), 2);
    assert!(m.dirs.iter().any(|d| d.prefix == "/static" && d.html));
}

#[test]
fn mount_trims_trailing_slash_not_below_one_char() {
    assert_eq!(trim_trailing_slashes("/static///"), "/static");
    assert_eq!(trim_trailing_slashes("/"), "/");
    assert_eq!(trim_trailing_slashes("///"), "/");
    assert_eq!(trim_trailing_slashes("www/"), "www");
    let mut m = StaticMounts::new();
    m.mount("/", "/www", false).unwrap();
    assert_eq!(m.dirs.first().unwrap().prefix, "/");
}

#[test]
fn mount_limits() {
    let mut m = StaticMounts::new();
    for i in 0..MAX_DIR_MOUNTS {
        m.mount(&format!("/m{i}"), "/www", false).unwrap();
    }
    assert_eq!(
        m.mount("/one-more", "/www", false).unwrap_err(),
        MountError::TooManyMounts
    );
    for i in 0..MAX_FILE_MOUNTS {
        m.mount_file(&format!("/f{i}"), "/www/f").unwrap();
    }
    assert_eq!(
        m.mount_file("/one-more", "/www/f").unwrap_err(),
        MountError::TooManyFileMounts
    );
    m.clear();
    assert!(m.is_empty());
}

#[test]
fn mount_file_validation_messages() {
    let mut m = StaticMounts::new();
    for (path, file) in [
        ("favicon.ico", "/www/f.ico"),
        ("/a/../b", "/www/f"),
        ("/a\\b", "/www/f"),
        ("/a", "/www/../etc/passwd"),
        ("/a", "..\\x"),
        ("/a", ""),
        ("/a\0", "/f"),
    ] {
        assert_eq!(
            m.mount_file(path, file).unwrap_err().to_string(),
            "invalid mount_file",
            "{path} {file}"
        );
    }
    m.mount_file("/favicon.ico", "/www/favicon.ico").unwrap();
    m.mount_file("/favicon.ico", "/www/favicon.ico").unwrap();
    m.mount_file("/rel", "www/x.txt").unwrap();
    assert_eq!(
        m.mount_file("/favicon.ico", "/www/other.ico")
            .unwrap_err()
            .to_string(),
        "mount_file path already used"
    );
}

#[test]
fn vfs_mapping() {
    let base = Path::new("/srv/fs");
    assert_eq!(
        map_vfs_path(Path::new("/www"), Some(base)),
        Some(PathBuf::from("/srv/fs/www"))
    );
    assert_eq!(
        map_vfs_path(Path::new("www/x"), Some(base)),
        Some(PathBuf::from("/srv/fs/www/x"))
    );
    assert_eq!(
        map_vfs_path(Path::new("/a/../b"), Some(base)),
        Some(PathBuf::from("/srv/fs/b"))
    );
    assert_eq!(map_vfs_path(Path::new("/../etc"), Some(base)), None);
    assert_eq!(map_vfs_path(Path::new("a/../../x"), Some(base)), None);
    assert_eq!(
        map_vfs_path(Path::new("www"), None),
        Some(PathBuf::from("www"))
    );
}

#[test]
fn freeze_maps_under_vfs_root_and_canonicalises() {
    let fx = Fixture::new();
    let mut m = StaticMounts::new();
    m.mount("/s", "/www", false).unwrap();
    m.mount("/rel", "www", false).unwrap();
    m.mount("/missing", "/nope", false).unwrap();
    m.mount("/escape", "/../www", false).unwrap();
    m.mount("/file-root", "/www/hello.txt", false).unwrap();
    let cfg = m.freeze(Some(&fx.dir), 0);
    assert_eq!(cfg.max_age(), 0);
    let canon = std::fs::canonicalize(fx.dir.join("www")).unwrap();
    let root_of = |uri: &str| match cfg.resolve(uri, None) {
        StaticMatch::File(f) => f.root.as_deref().map(Path::to_path_buf),
        other => panic!("{uri}: {other:?}"),
    };
    assert_eq!(root_of("/s/hello.txt"), Some(canon.clone()));
    assert_eq!(root_of("/rel/hello.txt"), Some(canon));
    // Unusable roots: the mount still claims its paths, answered 404.
    assert_eq!(cfg.resolve("/missing/x", None), StaticMatch::NotFound);
    assert_eq!(
        cfg.resolve("/escape/hello.txt", None),
        StaticMatch::NotFound
    );
    assert_eq!(cfg.resolve("/file-root/x", None), StaticMatch::NotFound);
}

#[test]
fn internal_mounts_are_not_vfs_mapped() {
    let fx = Fixture::new();
    let mut m = StaticMounts::new();
    m.mount_internal("/_viperhttp/docs/", &fx.dir.join("www"), false)
        .unwrap();
    let cfg = m.freeze(Some(Path::new("/definitely/not/here")), 300);
    assert!(matches!(
        cfg.resolve("/_viperhttp/docs/hello.txt", None),
        StaticMatch::File(_)
    ));
}

// ---------------------------------------------------------------- resolve

#[test]
fn nothing_mounted_is_not_static() {
    let cfg = StaticConfig::default();
    assert!(cfg.is_empty());
    assert_eq!(cfg.max_age(), DEFAULT_MAX_AGE);
    assert_eq!(cfg.resolve("/static/x", None), StaticMatch::NotStatic);
    assert!(!cfg.resolve("/", None).is_static());
}

#[test]
fn resolve_file_mounts_first_and_exact() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    match cfg.resolve("/favicon.ico", None) {
        StaticMatch::File(f) => {
            assert!(f.is_file_mount());
            assert!(f.path().ends_with("data.bin"));
            assert_eq!(f.redirect_location(), None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(cfg.resolve("/favicon.ico/", None), StaticMatch::NotStatic);
    assert_eq!(cfg.resolve("/FAVICON.ICO", None), StaticMatch::NotStatic);
    // File mounts compare the raw path: no decoding.
    assert_eq!(cfg.resolve("/favicon%2Eico", None), StaticMatch::NotStatic);
}

#[test]
fn resolve_prefix_boundaries() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    assert_eq!(
        cfg.resolve("/staticx/hello.txt", None),
        StaticMatch::NotStatic
    );
    assert_eq!(cfg.resolve("/other", None), StaticMatch::NotStatic);
    match cfg.resolve("/static/hello.txt", None) {
        StaticMatch::File(f) => {
            assert!(f.path().ends_with("www/hello.txt"));
            assert!(!f.is_file_mount());
            // Not html mode: no redirect candidate.
            assert_eq!(f.redirect_location(), None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn resolve_traversal_falls_through_to_python() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    // docs/internals/static-files.md#resolution: raw `..` segment or `\` → not a static match.
    assert_eq!(
        cfg.resolve("/static/../secret.txt", None),
        StaticMatch::NotStatic
    );
    assert_eq!(
        cfg.resolve("/static/a/../../x", None),
        StaticMatch::NotStatic
    );
    assert_eq!(cfg.resolve("/static/..", None), StaticMatch::NotStatic);
    assert_eq!(cfg.resolve("/static/a\\b", None), StaticMatch::NotStatic);
    // `..` inside a name is not a segment.
    assert!(matches!(
        cfg.resolve("/static/a..b", None),
        StaticMatch::File(_)
    ));
}

#[test]
fn resolve_encoded_refusals_are_native_404() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    for uri in [
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2e/x",
        "/static/.%2e/x",
        "/static/%2e",
        "/static/./hello.txt",
        "/static/a%2fb",
        "/static/a%2Fb",
        "/static/a%5cb",
        "/static/a%00b",
        "/static/a\0b",
        "/static/a%zzb",
        "/static/a%2",
        "/static/a%",
        "/static/%ff%fe",
    ] {
        assert_eq!(cfg.resolve(uri, None), StaticMatch::NotFound, "{uri}");
    }
}

#[test]
fn resolve_decodes_once() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    match cfg.resolve("/static/a%20b.txt", None) {
        StaticMatch::File(f) => assert!(f.path().ends_with("a b.txt")),
        other => panic!("{other:?}"),
    }
    // `+` stays `+`; `%25` decodes to a literal `%` once.
    match cfg.resolve("/static/a+b%2541", None) {
        StaticMatch::File(f) => assert!(f.path().ends_with("a+b%41")),
        other => panic!("{other:?}"),
    }
    // Empty segments are skipped (never an absolute push).
    match cfg.resolve("/static//etc/passwd", None) {
        StaticMatch::File(f) => assert!(f
            .path()
            .starts_with(fx.dir.join("www").canonicalize().unwrap())),
        other => panic!("{other:?}"),
    }
}

#[test]
fn resolve_directory_requests() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    // Not html: empty remainder / trailing slash → not a match.
    assert_eq!(cfg.resolve("/static", None), StaticMatch::NotStatic);
    assert_eq!(cfg.resolve("/static/", None), StaticMatch::NotStatic);
    assert_eq!(cfg.resolve("/static/docs/", None), StaticMatch::NotStatic);
    // html: index.html; the prefix itself serves root/index.html.
    for (uri, tail) in [
        ("/site", "www/index.html"),
        ("/site/", "www/index.html"),
        ("/site/docs/", "www/docs/index.html"),
    ] {
        match cfg.resolve(uri, None) {
            StaticMatch::File(f) => {
                assert!(f.path().ends_with(tail), "{uri}");
                assert_eq!(f.redirect_location(), None);
            }
            other => panic!("{uri}: {other:?}"),
        }
    }
    // html, no trailing slash below the prefix: a redirect candidate.
    match cfg.resolve("/site/docs", Some("x=1")) {
        StaticMatch::File(f) => assert_eq!(f.redirect_location(), Some("/site/docs/?x=1")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn resolve_registration_order_and_root_prefix() {
    let fx = Fixture::new();
    let mut m = StaticMounts::new();
    m.mount("/", &fx.www(), false).unwrap();
    m.mount("/docs", "/nowhere", false).unwrap();
    let cfg = m.freeze(None, 300);
    // The first registered mount wins even though a later one is longer.
    match cfg.resolve("/docs/index.html", None) {
        StaticMatch::File(f) => assert!(f.path().ends_with("www/docs/index.html")),
        other => panic!("{other:?}"),
    }
    match cfg.resolve("/hello.txt", None) {
        StaticMatch::File(f) => assert!(f.path().ends_with("www/hello.txt")),
        other => panic!("{other:?}"),
    }
    assert_eq!(cfg.resolve("/", None), StaticMatch::NotStatic);
}

// ---------------------------------------------------------------- serve: basics

#[tokio::test]
async fn serves_file_with_validators_and_cache_control() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let r = get(&cfg, "/static/hello.txt", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, HELLO);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("content-length"), Some("12"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
    let meta = std::fs::metadata(fx.dir.join("www/hello.txt")).unwrap();
    let mtime = meta
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(r.header("etag").unwrap(), format!("W/\"c-{mtime:x}\""));
    assert_eq!(
        r.header("last-modified").unwrap(),
        httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime))
    );
    // Small non-compressible file: no gzip variant, no Vary.
    assert_eq!(r.header("vary"), None);
    assert_eq!(r.header("content-encoding"), None);
}

#[tokio::test]
async fn max_age_zero_omits_cache_control() {
    let fx = Fixture::new();
    let cfg = fx.config(0);
    let r = get(&cfg, "/static/hello.txt", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("cache-control"), None);
    let r = get(&cfg, "/static/hello.txt", &[("if-none-match", "*")]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert_eq!(r.header("cache-control"), None);
}

#[tokio::test]
async fn head_has_headers_only() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let cache = GzipCache::default();
    let r = request(
        &cfg,
        &cache,
        Method::HEAD,
        "/static/big.bin",
        &[("range", "bytes=0-9")],
    )
    .await;
    // Range is ignored for HEAD.
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some("200000"));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(r.header("etag").is_some());
}

#[tokio::test]
async fn other_methods_get_405_with_allow() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let cache = GzipCache::default();
    for uri in [
        "/static/hello.txt",
        "/static/missing.txt",
        "/static/%2e%2e/x",
    ] {
        let r = request(&cfg, &cache, Method::POST, uri, &[]).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{uri}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.body, "Method Not Allowed");
        assert_eq!(r.header("cache-control"), None);
    }
    let r = request(&cfg, &cache, Method::OPTIONS, "/static/hello.txt", &[]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn refusals_are_the_same_404() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    for uri in [
        "/static/missing.txt",
        "/static/docs",
        "/static/plain",
        "/static/link-out",
        "/static/dir-out/secret.txt",
        "/static/%2e%2e/outside/secret.txt",
        "/site/plain/",
        "/gone",
    ] {
        let r = get(&cfg, uri, &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(r.body, "Not Found", "{uri}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("cache-control"), None);
        assert_eq!(r.header("etag"), None);
    }
    let r = get(&cfg, "/static/missing.txt", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn symlinks_inside_root_are_followed() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let r = get(&cfg, "/static/link-in", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, HELLO);
    // File mounts may point anywhere.
    let r = get(&cfg, "/secret", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "secret");
}

#[tokio::test]
async fn percent_decoded_names_and_file_mounts() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let r = get(&cfg, "/static/a%20b.txt", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "spaced");
    let r = get(&cfg, "/favicon.ico", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, data_bin());
    // Content type follows the served file's name.
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
}

#[tokio::test]
async fn html_mode_index_and_redirect() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let r = get(&cfg, "/site", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "<h1>root</h1>");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let r = get(&cfg, "/site/docs/", &[]).await;
    assert_eq!(r.body, "<h1>docs</h1>");
    let r = get(&cfg, "/site/docs?lang=en", &[]).await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(r.header("location"), Some("/site/docs/?lang=en"));
    assert!(r.body.is_empty());
    assert_eq!(r.header("cache-control"), None);
    let r = get(&cfg, "/site/docs", &[]).await;
    assert_eq!(r.header("location"), Some("/site/docs/"));
    // A file in html mode is just a file; a missing one is 404.
    let r = get(&cfg, "/site/hello.txt", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = get(&cfg, "/site/nope", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A directory symlinked out of the root is refused, not redirected.
    let r = get(&cfg, "/site/dir-out", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------- conditionals

#[tokio::test]
async fn if_none_match_gives_304() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let etag = get(&cfg, "/static/hello.txt", &[])
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    let strong = etag.trim_start_matches("W/").to_owned();
    for inm in [
        etag.clone(),
        strong,
        "*".to_owned(),
        format!("\"x\", {etag}"),
        format!("W/\"nope\",{etag} "),
    ] {
        let r = get(&cfg, "/static/hello.txt", &[("if-none-match", &inm)]).await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{inm}");
        assert!(r.body.is_empty());
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        assert!(r.header("last-modified").is_some());
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
        assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
        assert_eq!(r.header("content-length"), None);
        assert_eq!(r.header("content-type"), None);
    }
    let r = get(
        &cfg,
        "/static/hello.txt",
        &[("if-none-match", "W/\"other\"")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // A matching If-None-Match wins over Range.
    let r = get(
        &cfg,
        "/static/hello.txt",
        &[("if-none-match", &etag), ("range", "bytes=0-1")],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn if_modified_since_only_without_if_none_match() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let lm = get(&cfg, "/static/hello.txt", &[])
        .await
        .header("last-modified")
        .unwrap()
        .to_owned();
    let r = get(&cfg, "/static/hello.txt", &[("if-modified-since", &lm)]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let future = httpdate::fmt_http_date(
        std::time::SystemTime::now() + std::time::Duration::from_secs(86400),
    );
    let r = get(&cfg, "/static/hello.txt", &[("if-modified-since", &future)]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = get(
        &cfg,
        "/static/hello.txt",
        &[("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // Unparseable → ignored.
    let r = get(
        &cfg,
        "/static/hello.txt",
        &[("if-modified-since", "yesterday")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // A non-matching If-None-Match disables If-Modified-Since.
    let r = get(
        &cfg,
        "/static/hello.txt",
        &[("if-none-match", "\"x\""), ("if-modified-since", &lm)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

// ---------------------------------------------------------------- ranges (Pinned)

#[tokio::test]
async fn range_first_64_bytes() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let r = get(&cfg, "/static/big.bin", &[("range", "bytes=0-63")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body.len(), 64);
    assert_eq!(&r.body[..], &big_bin()[..64]);
    assert_eq!(r.header("content-range"), Some("bytes 0-63/200000"));
    assert_eq!(r.header("content-length"), Some("64"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
}

#[tokio::test]
async fn range_suffix_and_clamp() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let r = get(&cfg, "/static/data.bin", &[("range", "bytes=-32")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], &data_bin()[68..]);
    assert_eq!(r.header("content-range"), Some("bytes 68-99/100"));
    let r = get(&cfg, "/static/data.bin", &[("range", "bytes=0-999999")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header("content-range"), Some("bytes 0-99/100"));
    assert_eq!(r.body.len(), 100);
}

#[tokio::test]
async fn range_unsatisfiable_416() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    for range in [
        "bytes=999999999-",
        "bytes=0-3,8-15",
        "bytes=-0",
        "bytes=5-2",
        "bytes=x",
    ] {
        let r = get(&cfg, "/static/data.bin", &[("range", range)]).await;
        assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(r.header("content-range"), Some("bytes */100"), "{range}");
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
        assert!(r.header("etag").is_some());
        assert!(r.header("last-modified").is_some());
        assert_eq!(r.header("cache-control"), None);
        assert!(r.body.is_empty());
    }
    let r = get(&cfg, "/static/empty.txt", &[("range", "bytes=0-")]).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("content-range"), Some("bytes */0"));
    // Two Range lines are a multi-range.
    let r = get(
        &cfg,
        "/static/data.bin",
        &[("range", "bytes=0-1"), ("range", "bytes=4-5")],
    )
    .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
}

#[tokio::test]
async fn range_other_unit_ignored() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let r = get(&cfg, "/static/data.bin", &[("range", "items=0-5")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), 100);
}

#[tokio::test]
async fn if_range_rules() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let full = get(&cfg, "/static/data.bin", &[]).await;
    let etag = full.header("etag").unwrap().to_owned();
    let lm = full.header("last-modified").unwrap().to_owned();
    // Stale date → full 200 (Pinned).
    let r = get(
        &cfg,
        "/static/data.bin",
        &[
            ("range", "bytes=0-9"),
            ("if-range", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), 100);
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    let r = get(
        &cfg,
        "/static/data.bin",
        &[("range", "bytes=0-9"), ("if-range", "W/\"stale\"")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // The current ETag is weak: RFC 9110 §13.1.5 wants a strong match → full 200.
    assert!(etag.starts_with("W/"));
    let r = get(
        &cfg,
        "/static/data.bin",
        &[("range", "bytes=0-9"), ("if-range", etag.as_str())],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), 100);
    // The exact Last-Modified date → range honoured.
    let r = get(
        &cfg,
        "/static/data.bin",
        &[("range", "bytes=0-9"), ("if-range", lm.as_str())],
    )
    .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body.len(), 10);
    // A stale If-Range also turns a would-be 416 into a full 200.
    let r = get(
        &cfg,
        "/static/data.bin",
        &[("range", "bytes=500-"), ("if-range", "\"x\"")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

// ---------------------------------------------------------------- streaming

/// Files above the open-file cache's size limit stream from disk; 200 000
/// bytes is below the default limit, so these tests lower it.
fn streaming_config(fx: &Fixture) -> StaticConfig {
    fx.config(300).with_file_cache(FileCacheLimits {
        max_file_bytes: 64 * 1024,
        ..FileCacheLimits::default()
    })
}

#[tokio::test]
async fn large_files_stream_whole_and_ranged() {
    let fx = Fixture::new();
    let cfg = streaming_config(&fx);
    let r = get(&cfg, "/static/big.bin", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length"), Some("200000"));
    assert_eq!(r.body, big_bin());
    let r = get(&cfg, "/static/big.bin", &[("range", "bytes=70000-")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header("content-range"), Some("bytes 70000-199999/200000"));
    assert_eq!(&r.body[..], &big_bin()[70000..]);
}

#[tokio::test]
async fn streamed_body_reports_exact_size_and_chunks() {
    let fx = Fixture::new();
    let cfg = streaming_config(&fx);
    let target = cfg.resolve("/static/big.bin", None);
    let resp = serve(
        &cfg,
        &GzipCache::default(),
        target,
        &Method::GET,
        &HeaderMap::new(),
        None,
    )
    .await;
    let mut body = resp.into_body();
    assert_eq!(http_body::Body::size_hint(&body).exact(), Some(200_000));
    let mut sizes = Vec::new();
    while let Some(frame) = body.frame().await {
        sizes.push(frame.unwrap().into_data().unwrap().len());
    }
    assert!(sizes.iter().all(|&n| n as u64 <= file_body::CHUNK));
    assert_eq!(sizes.iter().sum::<usize>(), 200_000);
    assert!(sizes.len() >= 4);
}

// ---------------------------------------------------------------- gzip

#[tokio::test]
async fn precompressed_sibling() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let gz = std::fs::read(fx.dir.join("www/style.css.gz")).unwrap();
    let r = get(
        &cfg,
        "/static/style.css",
        &[("accept-encoding", "gzip, deflate")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, gz);
    assert_eq!(gunzip(&r.body), CSS);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(r.header("content-length").unwrap(), gz.len().to_string());
    // ETag is the .gz file's.
    assert!(r
        .header("etag")
        .unwrap()
        .starts_with(&format!("W/\"{:x}-", gz.len())));
    // Ranges apply to the .gz bytes.
    let r = get(
        &cfg,
        "/static/style.css",
        &[("accept-encoding", "gzip"), ("range", "bytes=0-1")],
    )
    .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], &gz[..2]);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    // Without gzip (or with q=0): identity, still Vary.
    for h in [&[][..], &[("accept-encoding", "gzip;q=0")][..]] {
        let r = get(&cfg, "/static/style.css", h).await;
        assert_eq!(r.body, CSS);
        assert_eq!(r.header("content-encoding"), None);
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    }
    // 304 of the gzip representation carries the gzip headers.
    let etag = get(&cfg, "/static/style.css", &[("accept-encoding", "gzip")])
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    let r = get(
        &cfg,
        "/static/style.css",
        &[("accept-encoding", "gzip"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
}

#[tokio::test]
async fn on_the_fly_gzip_and_cache() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let cache = GzipCache::default();
    let js = app_js();
    let r = request(
        &cfg,
        &cache,
        Method::GET,
        "/static/app.js",
        &[("accept-encoding", "br, gzip")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_eq!(r.header("content-type"), Some("application/javascript"));
    assert_eq!(
        r.header("content-length").unwrap(),
        r.body.len().to_string()
    );
    assert_eq!(gunzip(&r.body), js);
    let etag = r.header("etag").unwrap().to_owned();
    assert!(etag.starts_with(&format!("W/\"{:x}-", js.len())));
    assert!(etag.ends_with("-gz\""));
    assert_eq!(cache.len(), 1);
    // Second request: same bytes from the cache.
    let r2 = request(
        &cfg,
        &cache,
        Method::GET,
        "/static/app.js",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(r2.body, r.body);
    assert_eq!(cache.len(), 1);
    // HEAD gives the compressed length.
    let h = request(
        &cfg,
        &cache,
        Method::HEAD,
        "/static/app.js",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert!(h.body.is_empty());
    assert_eq!(
        h.header("content-length").unwrap(),
        r.body.len().to_string()
    );
    // 304 on the -gz ETag.
    let r = request(
        &cfg,
        &cache,
        Method::GET,
        "/static/app.js",
        &[("accept-encoding", "gzip"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    // A Range request gets the identity representation.
    let r = request(
        &cfg,
        &cache,
        Method::GET,
        "/static/app.js",
        &[("accept-encoding", "gzip"), ("range", "bytes=0-9")],
    )
    .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], &js[..10]);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert!(!r.header("etag").unwrap().ends_with("-gz\""));
    // No gzip accepted: identity, Vary kept.
    let r = request(&cfg, &cache, Method::GET, "/static/app.js", &[]).await;
    assert_eq!(r.body, js);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
}

#[tokio::test]
async fn on_the_fly_cache_notices_edits() {
    let fx = Fixture::new();
    // No open-file cache: the edit is seen at once (with it, after its
    // window: `cache_revalidates_modified_file`).
    let cfg = fx.config(300).with_file_cache(FileCacheLimits {
        valid: std::time::Duration::ZERO,
        ..FileCacheLimits::default()
    });
    let cache = GzipCache::default();
    let ae = [("accept-encoding", "gzip")];
    let r = request(&cfg, &cache, Method::GET, "/static/app.js", &ae).await;
    assert_eq!(gunzip(&r.body), app_js());
    let edited: Vec<u8> = b"let x = 1;\n".iter().copied().cycle().take(3000).collect();
    std::fs::write(fx.dir.join("www/app.js"), &edited).unwrap();
    let r = request(&cfg, &cache, Method::GET, "/static/app.js", &ae).await;
    assert_eq!(gunzip(&r.body), edited);
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn no_gzip_variant_outside_bounds_or_types() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let ae = [("accept-encoding", "gzip")];
    // Below 1024 bytes.
    let r = get(&cfg, "/static/tiny.css", &ae).await;
    assert_eq!(r.body, "a{}");
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), None);
    // Not a compressible type.
    let r = get(&cfg, "/static/image.png", &ae).await;
    assert_eq!(r.body.len(), 5000);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), None);
    // Above 4 MiB: sent as is, streamed.
    let big: Vec<u8> = b"var a = 1;\n"
        .iter()
        .copied()
        .cycle()
        .take(4 * 1024 * 1024 + 1)
        .collect();
    std::fs::write(fx.dir.join("www/huge.js"), &big).unwrap();
    let r = get(&cfg, "/static/huge.js", &ae).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), None);
    assert_eq!(r.body.len(), big.len());
    assert!(r.body == big);
}

// ---------------------------------------------------------------- open-file cache

/// A little past the open-file cache's window.
async fn past_window() {
    tokio::time::sleep(DEFAULT_FILE_CACHE_VALID + std::time::Duration::from_millis(150)).await;
}

#[tokio::test]
async fn cache_holds_small_files_only() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    assert_eq!(cfg.file_cache_limits(), FileCacheLimits::default());
    assert_eq!(get(&cfg, "/static/hello.txt", &[]).await.body, HELLO);
    assert_eq!(cfg.file_cache.len(), 1);
    // Refusals and directories are not cached.
    for uri in ["/static/missing.txt", "/static/link-out", "/site/docs"] {
        let r = get(&cfg, uri, &[]).await;
        assert!(
            r.status.is_client_error() || r.status.is_redirection(),
            "{uri}"
        );
    }
    assert_eq!(cfg.file_cache.len(), 1);
    // Above the size limit: streamed, not cached.
    let big: Vec<u8> = vec![3u8; MAX_CACHED_FILE_BYTES as usize + 1];
    std::fs::write(fx.dir.join("www/over.bin"), &big).unwrap();
    let r = get(&cfg, "/static/over.bin", &[]).await;
    assert!(r.body == big);
    assert_eq!(cfg.file_cache.len(), 1);
}

#[tokio::test]
async fn cache_serves_within_window_and_revalidates_modified_file() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let cache = GzipCache::default();
    let ae = [("accept-encoding", "gzip")];
    let first = get(&cfg, "/static/hello.txt", &[]).await;
    let gz_first = request(&cfg, &cache, Method::GET, "/static/app.js", &ae).await;
    let etag = first.header("etag").unwrap().to_owned();
    let gz_etag = gz_first.header("etag").unwrap().to_owned();
    let written = std::time::Instant::now();
    std::fs::write(fx.dir.join("www/hello.txt"), b"changed, and longer\n").unwrap();
    let edited: Vec<u8> = b"let x = 1;\n".iter().copied().cycle().take(3000).collect();
    std::fs::write(fx.dir.join("www/app.js"), &edited).unwrap();
    // Inside the window the cached version is served, whole and unchanged
    // (checked only when this test was not starved past the window).
    let r = get(&cfg, "/static/hello.txt", &[]).await;
    let g = request(&cfg, &cache, Method::GET, "/static/app.js", &ae).await;
    if written.elapsed() < std::time::Duration::from_millis(800) {
        assert_eq!(r.body, HELLO);
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        assert_eq!(gunzip(&g.body), app_js());
    }
    past_window().await;
    let r = get(&cfg, "/static/hello.txt", &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "changed, and longer\n");
    assert_eq!(r.header("content-length"), Some("20"));
    let new_etag = r.header("etag").unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert!(new_etag.starts_with("W/\"14-"));
    // The new entry is a hit again, with the new validators.
    let r = get(&cfg, "/static/hello.txt", &[("if-none-match", &new_etag)]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    // The gzip variant follows the new source (and its -gz ETag).
    let g = request(&cfg, &cache, Method::GET, "/static/app.js", &ae).await;
    assert_eq!(gunzip(&g.body), edited);
    let g_etag = g.header("etag").unwrap();
    assert_ne!(g_etag, gz_etag);
    assert!(g_etag.starts_with(&format!("W/\"{:x}-", edited.len())));
    assert!(g_etag.ends_with("-gz\""));
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn cache_forgets_deleted_file() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    assert_eq!(
        get(&cfg, "/static/data.bin", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(cfg.file_cache.len(), 1);
    std::fs::remove_file(fx.dir.join("www/data.bin")).unwrap();
    past_window().await;
    let r = get(&cfg, "/static/data.bin", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body, "Not Found");
    assert_eq!(r.header("etag"), None);
    assert_eq!(cfg.file_cache.len(), 0);
    // A file turned into a directory is the same 404 (307 in html mode).
    assert_eq!(
        get(&cfg, "/static/hello.txt", &[]).await.status,
        StatusCode::OK
    );
    std::fs::remove_file(fx.dir.join("www/hello.txt")).unwrap();
    std::fs::create_dir(fx.dir.join("www/hello.txt")).unwrap();
    past_window().await;
    assert_eq!(
        get(&cfg, "/static/hello.txt", &[]).await.status,
        StatusCode::NOT_FOUND
    );
    let r = get(&cfg, "/site/hello.txt", &[]).await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(cfg.file_cache.len(), 0);
}

#[tokio::test]
async fn cache_rechecks_containment_after_symlink_swap() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let link = fx.dir.join("www/swap");
    std::os::unix::fs::symlink("hello.txt", &link).unwrap();
    let r = get(&cfg, "/static/swap", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, HELLO);
    // Atomically point the link outside the root.
    let tmp = fx.dir.join("www/swap.tmp");
    std::os::unix::fs::symlink("../outside/secret.txt", &tmp).unwrap();
    std::fs::rename(&tmp, &link).unwrap();
    past_window().await;
    let r = get(&cfg, "/static/swap", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body, "Not Found");
    assert_eq!(cfg.file_cache.len(), 0);
    // And stays refused (nothing cached for it).
    let r = get(&cfg, "/static/swap", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cache_entry_is_bound_to_its_mount_root() {
    // `/sub` has root www/docs; www/docs/up -> ../hello.txt is inside www
    // but outside www/docs.
    let fx = Fixture::new();
    std::os::unix::fs::symlink("../hello.txt", fx.dir.join("www/docs/up")).unwrap();
    let mut m = StaticMounts::new();
    m.mount("/static", &fx.www(), false).unwrap();
    m.mount("/sub", &format!("{}/docs", fx.www()), false)
        .unwrap();
    let cfg = m.freeze(None, 300);
    for _ in 0..2 {
        let r = get(&cfg, "/static/docs/up", &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, HELLO);
        // Same candidate path, cached a moment ago, but another root.
        let r = get(&cfg, "/sub/up", &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn cache_hit_compresses_on_first_gzip_request() {
    let fx = Fixture::new();
    let cfg = fx.config(300);
    let cache = GzipCache::default();
    // Cached by an identity request, then asked for gzip: compressed once.
    let r = request(&cfg, &cache, Method::GET, "/static/app.js", &[]).await;
    assert_eq!(r.body, app_js());
    assert!(cache.is_empty());
    for _ in 0..2 {
        let r = request(
            &cfg,
            &cache,
            Method::GET,
            "/static/app.js",
            &[("accept-encoding", "gzip")],
        )
        .await;
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(gunzip(&r.body), app_js());
        assert_eq!(
            r.header("content-length").unwrap(),
            r.body.len().to_string()
        );
    }
    assert_eq!(cache.len(), 1);
    assert_eq!(cfg.file_cache.len(), 1);
}

#[tokio::test]
async fn cached_and_uncached_responses_are_identical() {
    let fx = Fixture::new();
    let cached = fx.config(300);
    let uncached = fx.config(300).with_file_cache(FileCacheLimits {
        valid: std::time::Duration::ZERO,
        ..FileCacheLimits::default()
    });
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("/static/hello.txt", &[]),
        ("/static/data.bin", &[("range", "bytes=10-19")]),
        ("/static/data.bin", &[("range", "bytes=-5")]),
        ("/static/data.bin", &[("range", "bytes=500-")]),
        (
            "/static/data.bin",
            &[("range", "bytes=0-1"), ("if-range", "\"x\"")],
        ),
        ("/static/empty.txt", &[]),
        ("/static/style.css", &[("accept-encoding", "gzip")]),
        (
            "/static/style.css",
            &[("accept-encoding", "gzip"), ("range", "bytes=0-3")],
        ),
        ("/static/style.css", &[]),
        ("/static/app.js", &[("accept-encoding", "gzip")]),
        (
            "/static/app.js",
            &[("accept-encoding", "gzip"), ("range", "bytes=0-3")],
        ),
        (
            "/static/hello.txt",
            &[("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT")],
        ),
        ("/static/hello.txt", &[("if-none-match", "*")]),
        ("/favicon.ico", &[]),
        ("/secret", &[]),
    ];
    for (uri, headers) in cases {
        // Twice on the cached config: the miss that fills it, then the hit.
        let a = get(&cached, uri, headers).await;
        let b = get(&cached, uri, headers).await;
        let c = get(&uncached, uri, headers).await;
        for r in [&a, &b] {
            assert_eq!(r.status, c.status, "{uri} {headers:?}");
            assert_eq!(r.headers, c.headers, "{uri} {headers:?}");
            assert_eq!(r.body, c.body, "{uri} {headers:?}");
        }
        // HEAD too.
        let h = request(&cached, &GzipCache::default(), Method::HEAD, uri, headers).await;
        let hu = request(&uncached, &GzipCache::default(), Method::HEAD, uri, headers).await;
        assert_eq!(h.status, hu.status, "HEAD {uri}");
        assert_eq!(h.headers, hu.headers, "HEAD {uri}");
        assert!(h.body.is_empty());
    }
}
