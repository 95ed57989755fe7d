//! Content type by file extension (docs/internals/static-files.md#responses): the original's table
//! plus the host's additions, as a small explicit table (not `mime_guess`, so
//! the answers are exactly the documented ones and cannot drift with a crate update).

use std::path::Path;

/// The fallback for unknown or missing extensions.
const OCTET_STREAM: &str = "application/octet-stream";

/// Extension (lower-case) → content type. The first block is the original's
/// table; the second the host additions (IANA types).
const TABLE: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "application/javascript"),
    ("json", "application/json"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("svg", "image/svg+xml"),
    ("ico", "image/x-icon"),
    ("txt", "text/plain; charset=utf-8"),
    ("wasm", "application/wasm"),
    // Host additions.
    ("mjs", "application/javascript"),
    ("map", "application/json"),
    ("webmanifest", "application/json"),
    ("xml", "application/xml"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("ttf", "font/ttf"),
    ("otf", "font/otf"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
    ("mp3", "audio/mpeg"),
    ("wav", "audio/wav"),
    ("pdf", "application/pdf"),
    ("csv", "text/csv; charset=utf-8"),
    ("md", "text/markdown; charset=utf-8"),
];

/// The `Content-Type` for a file path or name: the extension is what follows
/// the last `.` of the last path segment, compared case-insensitively;
/// anything unknown (or no extension) is `application/octet-stream`.
/// Shared with `FileResponse` (docs/internals/static-files.md#transfer).
pub fn content_type_for(path: impl AsRef<Path>) -> &'static str {
    let path = path.as_ref();
    // `Path::extension` would say "none" for `.html`; the documented rule is the
    // plain "last dot in the last segment", so work on the name itself.
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return OCTET_STREAM;
    };
    let Some((_, ext)) = name.rsplit_once('.') else {
        return OCTET_STREAM;
    };
    TABLE
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map_or(OCTET_STREAM, |(_, t)| t)
}

/// True for the types worth compressing on the fly (docs/internals/static-files.md#gzip): `text/*`,
/// JavaScript, JSON, XML, SVG and WebAssembly.
pub(crate) fn is_compressible(content_type: &str) -> bool {
    let base = content_type
        .split(';')
        .next()
        .unwrap_or(content_type)
        .trim();
    base.starts_with("text/")
        || matches!(
            base,
            "application/javascript"
                | "application/json"
                | "application/xml"
                | "image/svg+xml"
                | "application/wasm"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_table() {
        assert_eq!(content_type_for("a.html"), "text/html; charset=utf-8");
        assert_eq!(content_type_for("a.htm"), "text/html; charset=utf-8");
        assert_eq!(content_type_for("a.css"), "text/css; charset=utf-8");
        assert_eq!(content_type_for("a.js"), "application/javascript");
        assert_eq!(content_type_for("a.json"), "application/json");
        assert_eq!(content_type_for("a.png"), "image/png");
        assert_eq!(content_type_for("a.jpg"), "image/jpeg");
        assert_eq!(content_type_for("a.jpeg"), "image/jpeg");
        assert_eq!(content_type_for("a.gif"), "image/gif");
        assert_eq!(content_type_for("a.svg"), "image/svg+xml");
        assert_eq!(content_type_for("a.ico"), "image/x-icon");
        assert_eq!(content_type_for("a.txt"), "text/plain; charset=utf-8");
        assert_eq!(content_type_for("a.wasm"), "application/wasm");
    }

    #[test]
    fn host_additions() {
        assert_eq!(content_type_for("a.mjs"), "application/javascript");
        assert_eq!(content_type_for("a.js.map"), "application/json");
        assert_eq!(content_type_for("site.webmanifest"), "application/json");
        assert_eq!(content_type_for("a.xml"), "application/xml");
        assert_eq!(content_type_for("a.webp"), "image/webp");
        assert_eq!(content_type_for("a.avif"), "image/avif");
        assert_eq!(content_type_for("a.woff"), "font/woff");
        assert_eq!(content_type_for("a.woff2"), "font/woff2");
        assert_eq!(content_type_for("a.ttf"), "font/ttf");
        assert_eq!(content_type_for("a.otf"), "font/otf");
        assert_eq!(content_type_for("a.mp4"), "video/mp4");
        assert_eq!(content_type_for("a.webm"), "video/webm");
        assert_eq!(content_type_for("a.mp3"), "audio/mpeg");
        assert_eq!(content_type_for("a.wav"), "audio/wav");
        assert_eq!(content_type_for("a.pdf"), "application/pdf");
        assert_eq!(content_type_for("a.csv"), "text/csv; charset=utf-8");
        assert_eq!(
            content_type_for("README.md"),
            "text/markdown; charset=utf-8"
        );
    }

    #[test]
    fn case_insensitive_last_dot_last_segment() {
        assert_eq!(
            content_type_for("/www/INDEX.HTML"),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type_for("a.tar.gz"), "application/octet-stream");
        assert_eq!(content_type_for("app.min.JS"), "application/javascript");
        assert_eq!(content_type_for(".html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type_for("/dir.html/file"),
            "application/octet-stream"
        );
        assert_eq!(content_type_for("noext"), "application/octet-stream");
        assert_eq!(content_type_for("trailing."), "application/octet-stream");
        assert_eq!(content_type_for(""), "application/octet-stream");
    }

    #[test]
    fn compressible_types() {
        assert!(is_compressible("text/html; charset=utf-8"));
        assert!(is_compressible("text/csv; charset=utf-8"));
        assert!(is_compressible("application/javascript"));
        assert!(is_compressible("application/json"));
        assert!(is_compressible("application/xml"));
        assert!(is_compressible("image/svg+xml"));
        assert!(is_compressible("application/wasm"));
        assert!(!is_compressible("image/png"));
        assert!(!is_compressible("application/octet-stream"));
        assert!(!is_compressible("font/woff2"));
    }
}
