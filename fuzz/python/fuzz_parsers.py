#!/usr/bin/env python3
"""atheris harness for the Python-side byte parsers (docs/internals/fuzzing.md).

Targets, picked by the first input byte:

* `request.parse_query` (str as the native side hands it over, latin-1, and bytes);
* `request.parse_cookies`;
* `request._parse_headers_blob` (the IPC `name\\0value\\0...` blob);
* `forms.parse_urlencoded` / `forms.parse_form` with arbitrary content types and bodies;
* `forms.parse_form` on *structured* multipart bodies: a real (or near-real) boundary, parts
  with Content-Disposition / Content-Type lines, quoted and RFC 5987 (`filename*=`) parameters
  whose charset comes from every codec name Python knows, obsolete line folding, preambles,
  epilogues, truncation — so the fuzzer gets past the boundary check;
* `forms.parse_form` on a valid one-part body whose `filename*=` charset (one name per codec),
  language and percent-encoded value are fuzzed;
* a whole `Request._from_native(...)`: headers, query params, cookies, `form()` and `json()`.

Contract checked: the query / cookie / header-blob parsers never raise; the form parsers and
`Request.json()` raise nothing but `HTTPException` with status 400 or 413 (forms.py: "nothing
else escapes parse_form()"); results have the documented shapes and limits. Any other exception
is a crash: atheris prints it, writes the input under `-artifact_prefix` and exits non-zero.

Run: `.venv/bin/python fuzz/python/fuzz_parsers.py -max_total_time=60 [corpus_dir]` (any
libFuzzer flag works); `scripts/fuzz.sh` runs it for `FUZZ_SECONDS`.
"""
from __future__ import annotations

import codecs
import encodings
import encodings.aliases
import os
import pkgutil
import sys

import atheris

with atheris.instrument_imports(include=["viperhttp"]):
    from viperhttp import forms as vforms
    from viperhttp import request as vreq
    from viperhttp.exceptions import HTTPException

# Every codec name Python can resolve: the charset space of `filename*=charset''...`.
CODECS = sorted(
    set(encodings.aliases.aliases)
    | set(encodings.aliases.aliases.values())
    | {m.name for m in pkgutil.iter_modules(encodings.__path__)}
    | {"utf-8", "UTF-8", "latin-1", "iso-8859-1", "us-ascii", ""}
)



def _one_name_per_codec():
    seen = {}
    for name in CODECS:
        try:
            seen.setdefault(codecs.lookup(name).name, name)
        except LookupError:
            seen.setdefault("?" + name, name)  # names Python cannot resolve stay too
    # Odd names: empty (defaults to UTF-8), unknown, and a control byte in the name.
    return sorted(set(seen.values()) | {"", "x-unknown", "utf-8\x00", "UTF-8"})


# One name per distinct codec (~120), so the charset dimension is small enough for the fuzzer.
CHARSETS = _one_name_per_codec()

DISPOSITION_TYPES = ["form-data", "FORM-DATA", "attachment", "", "form-data ;"]
PARAM_NAMES = ["name", "filename", "filename*", "NAME", "Filename", "x", "boundary", ""]
HEADER_NAMES = ["Content-Disposition", "content-disposition", "Content-Type", "X-Other", "", " "]
NEWLINES = [b"\r\n", b"\n", b"\r", b""]


# Known findings to tolerate, comma-separated (docs/internals/fuzzing.md): only for measuring the other
# paths while a finding is open. Default: none, every escape is a crash.
TOLERATE = set(filter(None, os.environ.get("VIPERHTTP_FUZZ_TOLERATE", "").split(",")))


def _raised_in(exc, function):
    tb = exc.__traceback__
    names = []
    while tb is not None:
        names.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    return function in names


def expect_http_error(fn, *args):
    """Run a form/json parser: success, or HTTPException 400/413, or a crash."""
    try:
        return fn(*args)
    except HTTPException as e:
        if e.status_code not in (400, 413):
            raise AssertionError(f"undocumented status {e.status_code}: {e.detail!r}") from e
        return None
    except ValueError as e:  # UnicodeError is a ValueError
        # F1: a `filename*=` charset that decodes with an error other than LookupError.
        if "F1" in TOLERATE and _raised_in(e, "_header_params"):
            return None
        raise


def check_query(qs, limit=vreq.MAX_QUERY_PAIRS):
    result = vreq.parse_query(qs, limit)
    assert len(result) <= max(limit, 1), (len(result), limit)
    for k, v in result.items():
        assert isinstance(k, str) and k, k
        assert isinstance(v, str)
    return result


def check_cookies(header):
    cookies = vreq.parse_cookies(header)
    for k, v in cookies.items():
        assert isinstance(k, str) and k and k == k.strip(" \t\r\n")
        assert isinstance(v, str) and v == v.strip(" \t\r\n")


def check_headers_blob(blob):
    headers = vreq._parse_headers_blob(blob)
    for k, v in headers.items():
        assert isinstance(k, str) and isinstance(v, str)
        headers.get(k.upper())  # case-insensitive access never raises
        k.upper() in headers


def check_form_result(form):
    if form is None:
        return
    assert isinstance(form, dict)
    assert len(form) <= vforms.MAX_FIELDS
    for name, value in form.items():
        assert isinstance(name, str)
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, dict):
                assert isinstance(v["data"], bytes)
                assert len(v["data"]) <= vforms.MAX_FILE_SIZE
                assert isinstance(v["filename"], str) and isinstance(v["content_type"], str)
                assert vforms.form_upload({name: v}, name) is not None
            else:
                assert isinstance(v, str), type(v)


def often(fdp, usual, others):
    """`usual` three times in four, else one of `others` (keeps structured inputs mostly valid)."""
    if fdp.ConsumeIntInRange(0, 3) != 0:
        return usual
    return fdp.PickValueInList(others)


def quoted(fdp, text):
    mode = fdp.ConsumeIntInRange(0, 3)
    if mode == 0:
        return text
    if mode == 1:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if mode == 2:
        return '"' + text  # unterminated quoted-string
    return '"' + text + '"'


def param_value(fdp, pname):
    if pname.lower() == "filename*":  # RFC 5987: charset'language'percent-encoded
        return (fdp.PickValueInList(CODECS) + "'" + fdp.ConsumeUnicodeNoSurrogates(2) + "'"
                + fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 12)))
    return quoted(fdp, fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 12)))


def structured_multipart(fdp):
    """A multipart body that is right often enough to reach the part parser."""
    if fdp.ConsumeIntInRange(0, 3) != 0:
        boundary = fdp.PickValueInList(["X", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "a b", "=?"])
    else:
        boundary = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 80))
    ct = "multipart/form-data; boundary=" + quoted(fdp, boundary)
    if fdp.ConsumeIntInRange(0, 7) == 0:
        ct += "; charset=" + fdp.PickValueInList(CODECS)
    b = boundary.encode("utf-8", "replace")
    crlf = b"\r\n"
    out = bytearray()
    if fdp.ConsumeIntInRange(0, 7) == 0:
        out += fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 16))  # preamble
        out += often(fdp, crlf, NEWLINES)
    for _ in range(fdp.ConsumeIntInRange(0, 4)):
        out += b"--" + b + often(fdp, b"", [b" ", b"\t ", b"x"]) + often(fdp, crlf, NEWLINES)
        for _ in range(fdp.ConsumeIntInRange(0, 2)):
            hname = often(fdp, "Content-Disposition", HEADER_NAMES)
            value = often(fdp, "form-data", DISPOSITION_TYPES)
            for _ in range(fdp.ConsumeIntInRange(0, 3)):
                pname = fdp.PickValueInList(PARAM_NAMES)
                value += often(fdp, "; ", [";", " ; ", ";;"]) + pname + "=" + param_value(fdp, pname)
            line = (hname + often(fdp, ": ", [":", " ", ""]) + value).encode(
                often(fdp, "utf-8", ["latin-1", "utf-16"]), "replace")
            out += line + often(fdp, crlf, NEWLINES)
            if fdp.ConsumeIntInRange(0, 7) == 0:
                out += b" folded" + often(fdp, crlf, NEWLINES)  # obsolete line folding
        out += often(fdp, crlf, NEWLINES)
        out += fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 32))  # part data
        out += often(fdp, crlf, NEWLINES)
    if fdp.ConsumeIntInRange(0, 3) != 0:
        out += b"--" + b + b"--"  # close delimiter
        if fdp.ConsumeIntInRange(0, 3) == 0:
            out += fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8))  # epilogue
    if fdp.ConsumeIntInRange(0, 15) == 0 and out:
        del out[fdp.ConsumeIntInRange(0, len(out) - 1):]  # truncated body
    return ct, bytes(out)


def rfc5987_part(fdp):
    """A valid one-part body whose `filename*` charset, language and value are fuzzed."""
    charset = CHARSETS[fdp.ConsumeIntInRange(0, len(CHARSETS) - 1)]
    lang = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 3)).replace("'", "")
    raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 24))
    encoded = "".join(f"%{c:02X}" if fdp.ConsumeBool() else chr(c) for c in raw)
    encoded = encoded.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")
    head = f"Content-Disposition: form-data; name=\"f\"; filename*={charset}'{lang}'{encoded}"
    body = (b"--X\r\n" + head.encode("utf-8") + b"\r\n\r\n"
            + fdp.ConsumeBytes(fdp.remaining_bytes()) + b"\r\n--X--\r\n")
    return "multipart/form-data; boundary=X", body


def build_blob(fdp):
    """A header blob: mostly well formed `name\\0value\\0`, sometimes raw bytes."""
    if fdp.ConsumeIntInRange(0, 3) == 0:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 128))
    blob = bytearray()
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        name = fdp.PickValueInList([b"cookie", b"content-type", b"host", b"x-a", b"COOKIE"])
        blob += name + b"\0" + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40)).replace(b"\0", b"") + b"\0"
    return bytes(blob)


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 7)
    if mode == 0:
        raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512))
        limit = fdp.ConsumeIntInRange(-2, 80)
        check_query(raw.decode("latin-1"), limit)
        check_query(raw)
        # A hand-built str (tests, Request(query=...)). Lone surrogates are left out: they raise
        # UnicodeEncodeError (docs/internals/fuzzing.md, finding F4), reachable only from Python code.
        check_query(fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes()))
    elif mode == 1:
        check_cookies(fdp.ConsumeUnicode(fdp.remaining_bytes()))
    elif mode == 2:
        blob = fdp.ConsumeBytes(fdp.remaining_bytes())
        check_headers_blob(blob)
        check_headers_blob(blob.decode("latin-1"))
    elif mode == 3:
        body = fdp.ConsumeBytes(fdp.remaining_bytes())
        check_form_result(expect_http_error(vforms.parse_urlencoded, body))
        check_form_result(
            expect_http_error(vforms.parse_form, "application/x-www-form-urlencoded", body))
    elif mode == 4:
        ct = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 120))
        body = fdp.ConsumeBytes(fdp.remaining_bytes())
        check_form_result(expect_http_error(vforms.parse_form, ct, body))
        check_form_result(expect_http_error(vforms.parse_form, "multipart/form-data; " + ct, body))
    elif mode == 5:
        ct, body = structured_multipart(fdp)
        check_form_result(expect_http_error(vforms.parse_form, ct, body))
    elif mode == 6:
        ct, body = rfc5987_part(fdp)
        check_form_result(expect_http_error(vforms.parse_form, ct, body))
    else:
        blob = build_blob(fdp)
        query = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64)).decode("latin-1")
        if fdp.ConsumeBool():
            ct, body = structured_multipart(fdp)
            blob += b"content-type\0" + ct.encode("utf-8", "replace").replace(b"\0", b"") + b"\0"
        else:
            body = fdp.ConsumeBytes(fdp.remaining_bytes())
        req = vreq.Request._from_native(1, "POST", "/p", query, blob, body, None, "http", "1.1")
        check_headers_blob(blob)
        assert isinstance(req.headers, dict)
        check_query(req.query)
        assert isinstance(req.query_params, dict)
        check_cookies(req.headers.get("cookie"))
        assert isinstance(req.cookies, dict)
        check_form_result(expect_http_error(req.form))
        expect_http_error(req.json)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
