//! Blob codecs of docs/internals/ipc.md §5–§6 and the record enums of §2–§3.
//!
//! * Request blob round trip: `write_request_blob` of arbitrary URI / headers /
//!   body, then `split_request_blob` + `request_headers` give back exactly the
//!   URI, the (name, trimmed value) pairs and the body; a NUL in a name or value
//!   is `Malformed`; a destination of the wrong size is `Malformed`.
//! * Decoders on arbitrary bytes (`request_headers`, `response_headers`,
//!   `split_request_blob`, `split_uri`) never panic; the pairs they yield
//!   re-encode to a prefix of the input; at most one error, and it is last.
//! * Response header block: arbitrary `push_response_header` calls either
//!   append exactly one line or leave the block unchanged with the documented
//!   error; the block stays ≤ 65 535 bytes and parses back to the pushed pairs.
//! * `RESP_FILE` path (§2): `file_path` on arbitrary bytes never panics and accepts exactly
//!   an absolute, NUL-free path of at most `MAX_FILE_PATH_LEN` bytes; `push_file_path` of the
//!   same bytes agrees and round-trips through `file_path`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use viperhttp_ipc::blob::{
    file_path, is_tchar, is_token, push_file_path, push_response_header, request_headers,
    request_headers_len, response_headers, split_request_blob, split_uri, trim_ows,
    write_request_blob, MAX_FILE_PATH_LEN, MAX_HEADERS_LEN,
};
use viperhttp_ipc::{IpcError, Method, MsgType};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    uri: &'a [u8],
    headers: Vec<(&'a [u8], &'a [u8])>,
    body: &'a [u8],
    size_delta: i8,
    uri_len: u16,
    headers_len: u16,
    raw: &'a [u8],
    resp: Vec<(&'a [u8], &'a [u8], u16)>,
    codes: [u8; 2],
}

fn check_request_blob(input: &Input<'_>) {
    let hl = request_headers_len(input.headers.iter().copied());
    let total = input.uri.len() + hl + input.body.len();
    let has_nul = input
        .headers
        .iter()
        .any(|(n, v)| n.contains(&0) || trim_ows(v).contains(&0));

    // Exact size.
    let mut dst = vec![0xA5u8; total];
    let res = write_request_blob(
        &mut dst,
        input.uri,
        input.headers.iter().copied(),
        input.body,
    );
    if has_nul {
        assert!(
            matches!(res, Err(IpcError::Malformed(_))),
            "NUL in a header must be refused: {res:?}"
        );
    } else {
        assert_eq!(res, Ok(()), "a valid request blob was refused");
        let parts = split_request_blob(&dst, input.uri.len(), hl).expect("split of own blob");
        assert_eq!(parts.uri, input.uri);
        assert_eq!(parts.body, input.body);
        assert_eq!(parts.headers.len(), hl);
        let decoded: Vec<_> = request_headers(parts.headers).collect();
        assert_eq!(decoded.len(), input.headers.len(), "header count changed");
        for (got, (n, v)) in decoded.iter().zip(&input.headers) {
            let (gn, gv) = got.as_ref().expect("own header blob failed to decode");
            assert_eq!(*gn, *n);
            assert_eq!(*gv, trim_ows(v));
        }
        // Query = tail of the URI after the first '?'.
        let (path, query) = split_uri(parts.uri);
        match query {
            Some(q) => {
                assert_eq!(path.len() + 1 + q.len(), parts.uri.len());
                assert!(!path.contains(&b'?'));
            }
            None => assert_eq!(path, parts.uri),
        }
    }

    // Wrong size (never the exact one).
    let delta = input.size_delta as isize;
    if delta != 0 {
        let wrong = total as isize + delta;
        if wrong >= 0 {
            let mut dst = vec![0u8; wrong as usize];
            let res = write_request_blob(
                &mut dst,
                input.uri,
                input.headers.iter().copied(),
                input.body,
            );
            assert!(
                matches!(res, Err(IpcError::Malformed(_))),
                "a destination of the wrong size must be refused"
            );
        }
    }
}

fn check_decoders(raw: &[u8], uri_len: usize, headers_len: usize) {
    // request_headers: Ok pairs re-encode to a prefix; one error at most, last.
    let mut rebuilt = Vec::new();
    let mut errors = 0;
    for item in request_headers(raw) {
        assert_eq!(errors, 0, "item after an error");
        match item {
            Ok((n, v)) => {
                assert!(!n.contains(&0) && !v.contains(&0));
                rebuilt.extend_from_slice(n);
                rebuilt.push(0);
                rebuilt.extend_from_slice(v);
                rebuilt.push(0);
            }
            Err(e) => {
                assert!(matches!(e, IpcError::Malformed(_)));
                errors += 1;
            }
        }
    }
    assert!(raw.starts_with(&rebuilt), "request_headers invented bytes");
    assert_eq!(
        errors == 0,
        rebuilt.len() == raw.len(),
        "truncation not reported"
    );

    // response_headers: same shape with "name: value\r\n".
    let mut rebuilt = Vec::new();
    let mut errors = 0;
    for item in response_headers(raw) {
        assert_eq!(errors, 0, "item after an error");
        match item {
            Ok((n, v)) => {
                rebuilt.extend_from_slice(n);
                rebuilt.extend_from_slice(b": ");
                rebuilt.extend_from_slice(v);
                rebuilt.extend_from_slice(b"\r\n");
            }
            Err(e) => {
                assert!(matches!(e, IpcError::Malformed(_)));
                errors += 1;
            }
        }
    }
    assert!(raw.starts_with(&rebuilt), "response_headers invented bytes");
    assert_eq!(
        errors == 0,
        rebuilt.len() == raw.len(),
        "bad block not reported"
    );

    // split_request_blob with arbitrary lengths.
    match split_request_blob(raw, uri_len, headers_len) {
        Ok(p) => {
            assert!(uri_len + headers_len <= raw.len());
            assert_eq!(p.uri.len(), uri_len);
            assert_eq!(p.headers.len(), headers_len);
            assert_eq!(p.uri.len() + p.headers.len() + p.body.len(), raw.len());
        }
        Err(e) => {
            assert!(uri_len + headers_len > raw.len(), "in-range split refused");
            assert!(matches!(e, IpcError::Malformed(_)));
        }
    }

    // trim_ows / is_token.
    let t = trim_ows(raw);
    assert!(t.first().is_none_or(|b| *b != b' ' && *b != b'\t'));
    assert!(t.last().is_none_or(|b| *b != b' ' && *b != b'\t'));
    assert_eq!(
        is_token(raw),
        !raw.is_empty() && raw.iter().all(|&b| is_tchar(b))
    );
}

fn check_response_block(resp: &[(&[u8], &[u8], u16)]) {
    let mut block = Vec::new();
    let mut pushed: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for &(name, value, pad) in resp {
        // Sometimes make the value long so the 64 KiB limit is reached.
        let long;
        let value: &[u8] = if pad > 0xC000 && !value.is_empty() {
            long = value
                .iter()
                .copied()
                .cycle()
                .take(usize::from(pad))
                .collect::<Vec<u8>>();
            &long
        } else {
            value
        };
        let before = block.clone();
        let res = push_response_header(&mut block, name, value);
        let bad_name = !is_token(name);
        let bad_value = value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f);
        let too_large = before.len() + name.len() + value.len() + 4 > MAX_HEADERS_LEN;
        match res {
            Ok(()) => {
                assert!(
                    !bad_name && !bad_value && !too_large,
                    "invalid header accepted"
                );
                let mut line = name.to_vec();
                line.extend_from_slice(b": ");
                line.extend_from_slice(value);
                line.extend_from_slice(b"\r\n");
                assert_eq!(&block[before.len()..], &line[..]);
                assert_eq!(&block[..before.len()], &before[..]);
                pushed.push((name.to_vec(), value.to_vec()));
            }
            Err(e) => {
                assert_eq!(block, before, "block changed on error");
                if bad_name || bad_value {
                    assert!(matches!(e, IpcError::Malformed(_)), "{e:?}");
                } else {
                    assert!(too_large);
                    assert_eq!(e, IpcError::HeadersTooLarge);
                }
            }
        }
        assert!(block.len() <= MAX_HEADERS_LEN);
    }
    let parsed: Vec<_> = response_headers(&block)
        .map(|r| r.map(|(n, v)| (n.to_vec(), v.to_vec())))
        .collect::<Result<_, _>>()
        .expect("own response block failed to parse");
    assert_eq!(parsed, pushed, "response block round trip");
}

fn check_enums(codes: [u8; 2], raw: &[u8]) {
    for &c in &codes {
        match MsgType::try_from(c) {
            Ok(t) => assert_eq!(t as u8, c),
            Err(e) => {
                assert!(c > 9);
                assert!(matches!(e, IpcError::Malformed(_)));
            }
        }
        match Method::from_code(c) {
            Some(m) => {
                assert_eq!(m as u8, c);
                if m != Method::Ws {
                    assert_eq!(Method::from_bytes(m.as_str().as_bytes()), Some(m));
                }
            }
            None => assert!(c > 7),
        }
    }
    if let Some(m) = Method::from_bytes(raw) {
        assert_eq!(m.as_str().as_bytes(), raw);
        assert_ne!(m, Method::Ws);
    }
}

fn check_file_path(raw: &[u8]) {
    let valid = raw.first() == Some(&b'/') && !raw.contains(&0) && raw.len() <= MAX_FILE_PATH_LEN;
    match file_path(raw) {
        Ok(p) => {
            assert!(valid, "invalid file path accepted");
            assert_eq!(p, raw);
        }
        Err(e) => {
            assert!(!valid, "valid file path refused");
            assert!(matches!(e, IpcError::Malformed(_)));
        }
    }
    let mut body = b"x".to_vec();
    match push_file_path(&mut body, raw) {
        Ok(()) => {
            assert!(valid);
            assert_eq!(file_path(&body[1..]), Ok(raw), "round trip");
        }
        Err(_) => assert_eq!(body, b"x", "body changed on error"),
    }
}

fuzz_target!(|input: Input<'_>| {
    check_request_blob(&input);
    check_decoders(
        input.raw,
        usize::from(input.uri_len) % (input.raw.len() + 4),
        usize::from(input.headers_len) % (input.raw.len() + 4),
    );
    check_response_block(&input.resp);
    check_enums(input.codes, input.raw);
    check_file_path(input.raw);
});
