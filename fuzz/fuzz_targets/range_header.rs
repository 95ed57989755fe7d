//! The static-files `Range` parser (`static_files/range.rs`,
//! docs/internals/static-files.md#responses).
//!
//! The parser is crate-private, so this target compiles the very same source
//! file into the fuzz binary (`#[path]`; no product code changes) and checks
//! it directly on arbitrary header text and file sizes:
//! `Satisfiable { start, end }` must satisfy `start <= end < size`; anything
//! not starting with `bytes=` (case-insensitive, after trimming) is `Ignore`;
//! a `,` after the unit is always `Unsatisfiable`; a size of 0 is never
//! satisfiable.
//!
//! It then goes through the nearest public API, `static_files::serve`, with
//! real files (sizes 0, 1, 100 and 70 000 — past the 64 KiB streaming chunk),
//! arbitrary `Range` header lines, GET: the status must be what the parser
//! said (200 / 206 / 416), `Content-Range` / `Content-Length` must match, and
//! a 206 body must be exactly the requested bytes of the file.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/viperhttp-runtime/src/static_files/range.rs"]
mod range;

use std::path::PathBuf;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use http::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use range::{evaluate, RangeOutcome};
use viperhttp_runtime::static_files::{
    serve, FileCacheLimits, GzipCache, StaticConfig, StaticMatch, StaticMounts,
};

const SIZES: [usize; 4] = [0, 1, 100, 70_000];

struct Fixture {
    _dir: PathBuf,
    cfg: StaticConfig,
    cache: GzipCache,
    rt: tokio::runtime::Runtime,
    contents: Vec<Vec<u8>>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("viperhttp-fuzz-range-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("fixture dir");
        let mut mounts = StaticMounts::new();
        let mut contents = Vec::new();
        for (i, size) in SIZES.iter().enumerate() {
            let data: Vec<u8> = (0..*size).map(|j| (j % 251) as u8 ^ (i as u8)).collect();
            let file = dir.join(format!("f{i}.bin"));
            std::fs::write(&file, &data).expect("fixture file");
            mounts
                .mount_file(&format!("/f{i}"), file.to_str().expect("utf-8 temp dir"))
                .expect("mount_file");
            contents.push(data);
        }
        // Files above 64 KiB bypass the open-file cache, so the 70 000-byte file
        // keeps exercising the streaming path (positioned reads) as well.
        let cfg = mounts.freeze(None, 0).with_file_cache(FileCacheLimits {
            max_file_bytes: 64 * 1024,
            ..FileCacheLimits::default()
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime");
        Fixture {
            _dir: dir,
            cfg,
            cache: GzipCache::new(0),
            rt,
            contents,
        }
    })
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    value: &'a str,
    size: u64,
    file: u8,
    lines: Vec<&'a [u8]>,
}

fn check_parser(value: &str, size: u64) {
    let out = evaluate(value, size);
    let t = value.trim();
    let is_bytes = t.len() >= 6 && t.as_bytes()[..6].eq_ignore_ascii_case(b"bytes=");
    match out {
        RangeOutcome::Ignore => assert!(!is_bytes, "bytes= range ignored: {value:?}"),
        RangeOutcome::Unsatisfiable => assert!(is_bytes, "non-bytes range answered 416"),
        RangeOutcome::Satisfiable { start, end } => {
            assert!(is_bytes);
            assert!(size > 0, "satisfiable range of an empty file");
            assert!(start <= end, "start > end: {value:?} -> {start}-{end}");
            assert!(
                end < size,
                "end past the file: {value:?} size {size} -> {end}"
            );
            assert!(!t[6..].contains(','), "multi-range accepted");
        }
    }
}

fn check_serve(file: usize, lines: &[&[u8]]) {
    let fx = fixture();
    let mut headers = HeaderMap::new();
    let mut joined: Option<String> = None;
    for line in lines.iter().take(3) {
        let Ok(v) = HeaderValue::from_bytes(line) else {
            return;
        };
        let s = String::from_utf8_lossy(v.as_bytes()).into_owned();
        joined = Some(match joined {
            Some(acc) => acc + "," + &s,
            None => s,
        });
        headers.append(RANGE, v);
    }
    let data = &fx.contents[file];
    let size = data.len() as u64;
    let target = fx.cfg.resolve(&format!("/f{file}"), None);
    assert!(
        matches!(target, StaticMatch::File(_)),
        "fixture file not resolved"
    );
    let (status, resp_headers, body) = fx.rt.block_on(async {
        let resp = serve(&fx.cfg, &fx.cache, target, &Method::GET, &headers, None).await;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        (parts.status, parts.headers, body)
    });
    let header = |name| {
        resp_headers
            .get(name)
            .map(|v: &HeaderValue| v.to_str().expect("ascii header").to_owned())
    };
    let expected = match &joined {
        None => RangeOutcome::Ignore,
        Some(v) => evaluate(v, size),
    };
    match expected {
        RangeOutcome::Ignore => {
            assert_eq!(status, StatusCode::OK, "{joined:?}");
            assert_eq!(&body[..], &data[..]);
            assert_eq!(header(CONTENT_RANGE), None);
        }
        RangeOutcome::Unsatisfiable => {
            assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE, "{joined:?}");
            assert_eq!(header(CONTENT_RANGE), Some(format!("bytes */{size}")));
            assert!(body.is_empty());
        }
        RangeOutcome::Satisfiable { start, end } => {
            assert_eq!(status, StatusCode::PARTIAL_CONTENT, "{joined:?}");
            assert_eq!(
                header(CONTENT_RANGE),
                Some(format!("bytes {start}-{end}/{size}"))
            );
            assert_eq!(header(CONTENT_LENGTH), Some((end - start + 1).to_string()));
            assert_eq!(
                &body[..],
                &data[start as usize..=end as usize],
                "wrong 206 bytes"
            );
        }
    }
}

fuzz_target!(|input: Input<'_>| {
    // Small sizes most of the time, so boundaries are hit; any u64 sometimes.
    let size = if input.size & 1 == 0 {
        (input.size >> 1) % 300
    } else {
        input.size
    };
    check_parser(input.value, size);
    check_parser(input.value, 0);
    check_parser(input.value, u64::MAX);
    let file = input.file as usize % SIZES.len();
    check_serve(file, &input.lines);
});
