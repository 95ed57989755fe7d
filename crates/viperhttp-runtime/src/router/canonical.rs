//! The canonical form of a literal segment (module docs of `router`): bytes outside RFC 3986
//! `pchar` percent-encoded with upper-case hex, `%xx` escapes upper-cased, a stray `%` as `%25`.
//! Patterns store their literals in this form (`canonicalize`); a request segment is compared to
//! it on the fly, without allocating (`canonical_eq`).

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
pub(super) fn needs_canonical(segment: &[u8]) -> bool {
    segment.iter().any(|&b| b == b'%' || !is_pchar(b))
}

/// `canonical(segment) == literal`, without allocating.
pub(super) fn canonical_eq(literal: &[u8], segment: &[u8]) -> bool {
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

pub(super) fn canonicalize(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0usize;
    while let Some((buf, n, used)) = canonical_chunk(raw, i) {
        out.extend_from_slice(buf.get(..n).unwrap_or(&[]));
        i += used;
    }
    out
}
