"""Form parsing (docs/internals/requests-responses.md#request form() rules, host limits) and UploadFile:
in-process unit tests of the
parser, then the same behaviours over a real socket (tests/apps/rr_forms.py)."""
from __future__ import annotations

import asyncio
import hashlib
import random

import pytest

import viperhttp.forms as forms
from viperhttp.exceptions import HTTPException
from viperhttp.forms import UploadFile, form_upload, parse_form
from viperhttp.request import Request

B = "----viperhttpboundary"
MP = f"multipart/form-data; boundary={B}"
URLENC = "application/x-www-form-urlencoded"
TEXT = "text/plain; charset=utf-8"
FORMS = "apps/rr_forms.py"
UPLOAD = "apps/upload_app.py"


def multipart(parts, boundary: str = B, close: bool = True) -> bytes:
    """parts: (disposition params, extra header lines, data bytes)."""
    out = b""
    for params, extra, data in parts:
        out += f"--{boundary}\r\nContent-Disposition: form-data; {params}\r\n".encode()
        out += b"".join(line.encode() + b"\r\n" for line in extra)
        out += b"\r\n" + data + b"\r\n"
    if close:
        out += f"--{boundary}--\r\n".encode()
    return out


PINNED = (
    f"--{B}\r\n".encode() + b'Content-Disposition: form-data; name="title"\r\n\r\n' + b"hello\r\n"
    + f"--{B}\r\n".encode() + b'Content-Disposition: form-data; name="file"; filename="note.txt"\r\n'
    + b"Content-Type: text/plain\r\n\r\n" + b"filedata\r\n" + f"--{B}--\r\n".encode()
)


def raises(status: int, detail: str, content_type, body) -> None:
    with pytest.raises(HTTPException) as info:
        parse_form(content_type, body)
    assert (info.value.status_code, info.value.detail) == (status, detail)


# --- urlencoded ----------------------------------------------------------------------------


def test_urlencoded_basic_repeats_and_decoding():
    form = parse_form(URLENC, b"name=alice&role=admin&t=a&t=b&t=c&sp=x+y%20z&u=caf%C3%A9&e&&=v")
    assert form == {"name": "alice", "role": "admin", "t": ["a", "b", "c"], "sp": "x y z",
                    "u": "café", "e": ""}


def test_urlencoded_content_type_match_is_substring_case_insensitive():
    assert parse_form("Application/X-WWW-Form-URLEncoded; charset=UTF-8", b"a=1") == {"a": "1"}


def test_no_content_type_other_types_and_empty():
    assert parse_form(None, b"") == {}
    assert parse_form("", b"a=1") == {}
    assert parse_form("application/json", b'{"a":1}') == {}
    assert parse_form(URLENC, b"") == {}


def test_urlencoded_field_count_limit():
    ok = "&".join(f"f{i}=v" for i in range(64)).encode()
    assert len(parse_form(URLENC, ok)) == 64
    raises(413, "Too many form fields", URLENC, ok + b"&f64=v")
    # repeats count as fields too
    raises(413, "Too many form fields", URLENC, b"&".join([b"x=1"] * 65))


def test_urlencoded_field_size_limit():
    assert len(parse_form(URLENC, b"v=" + b"a" * 65536)["v"]) == 65536
    raises(413, "Form field too large", URLENC, b"v=" + b"a" * 65537)
    assert len(parse_form(URLENC, b"k" * 65536 + b"=1")) == 1
    raises(413, "Form field too large", URLENC, b"k" * 65537 + b"=1")
    # the limit applies to the decoded bytes: 65536 escaped bytes are fine
    assert len(parse_form(URLENC, b"v=" + b"%41" * 65536)["v"]) == 65536


# --- multipart -----------------------------------------------------------------------------


def test_multipart_pinned_field_and_file():
    form = parse_form(MP, PINNED)
    assert form == {"title": "hello",
                    "file": {"filename": "note.txt", "content_type": "text/plain", "data": b"filedata"}}


def test_multipart_repeats_empty_filename_and_binary():
    data = bytes(range(256)) + b"\r\n--not-the-boundary\r\n"
    body = multipart([
        ('name="t"', [], b"one"), ('name="t"', [], b"two"),
        ('name="f"; filename="a.bin"', ["Content-Type: application/octet-stream"], data),
        ('name="f"; filename=""', [], b""),
        ('name="u"', [], "zażółć".encode()),
        ('name="empty"', [], b""),
    ])
    form = parse_form(MP, body)
    assert form["t"] == ["one", "two"]
    assert form["f"] == [
        {"filename": "a.bin", "content_type": "application/octet-stream", "data": data},
        {"filename": "", "content_type": "", "data": b""},
    ]
    assert form["u"] == "zażółć" and form["empty"] == ""


def test_multipart_header_parameter_forms():
    body = multipart([
        ('name=plain', [], b"1"),
        ('NAME="Caps"; filename="x\\"y.txt"', ["content-type:  text/csv "], b"2"),
        ("name=\"star\"; filename=\"fallback\"; filename*=UTF-8''%C5%BC%C3%B3%C5%82w.txt", [], b"3"),
        ('name="semi;colon"', [], b"4"),
    ])
    form = parse_form(MP, body)
    assert form["plain"] == "1"
    assert form["Caps"] == {"filename": 'x"y.txt', "content_type": "text/csv", "data": b"2"}
    assert form["star"]["filename"] == "żółw.txt"
    assert form["semi;colon"] == "4"


def test_multipart_quoted_boundary_preamble_epilogue_and_padding():
    inner = multipart([('name="a"', [], b"1")], boundary="b q")
    body = b"preamble text\r\n" + inner.replace(b"--b q\r\n", b"--b q  \r\n", 1) + b"epilogue"
    assert parse_form('multipart/form-data; boundary="b q"', body) == {"a": "1"}
    # closing delimiter missing, but the body ends right after a delimiter: tolerated
    assert parse_form(MP, multipart([('name="a"', [], b"1")], close=False) + f"--{B}".encode()) == {"a": "1"}
    # empty body with a valid boundary
    assert parse_form(MP, b"") == {}


@pytest.mark.parametrize("content_type,body,detail", [
    ("multipart/form-data", PINNED, "Missing multipart boundary"),
    ("multipart/form-data; charset=utf-8", PINNED, "Missing multipart boundary"),
    ("multipart/form-data; boundary=", PINNED, "Invalid multipart boundary"),
    ("multipart/form-data; boundary=" + "a" * 71, PINNED, "Invalid multipart boundary"),
    ("multipart/form-data; boundary=bad{char}", PINNED, "Invalid multipart boundary"),
    ("multipart/form-data; boundary=other", PINNED, "Invalid multipart boundary"),
    (MP, f"--{B}\r\nContent-Disposition: form-data; name=\"a\"\r\n".encode(), "Invalid multipart headers"),
    (MP, f"--{B}\r\nno colon here\r\n\r\nx\r\n--{B}--".encode(), "Invalid multipart headers"),
    (MP, f"--{B}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{B}--".encode(), "Invalid multipart headers"),
    (MP, f"--{B}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--{B}--".encode(), "Invalid multipart headers"),
    (MP, f"--{B}\r\n\r\nx\r\n--{B}--".encode(), "Invalid multipart headers"),
    (MP, f"--{B}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end".encode(), "Invalid multipart data"),
    (MP, f"--{B}garbage\r\n".encode(), "Invalid multipart data"),
])
def test_multipart_errors(content_type, body, detail):
    raises(400, detail, content_type, body)


def test_multipart_part_count_limit():
    ok = multipart([(f'name="p{i}"', [], b"v") for i in range(64)])
    assert len(parse_form(MP, ok)) == 64
    too_many = multipart([(f'name="p{i}"', [], b"v") for i in range(65)])
    raises(413, "Too many form parts", MP, too_many)


def test_multipart_field_size_limit():
    assert len(parse_form(MP, multipart([('name="v"', [], b"a" * 65536)]))["v"]) == 65536
    raises(413, "Form field too large", MP, multipart([('name="v"', [], b"a" * 65537)]))


def test_multipart_file_size_limit(monkeypatch):
    monkeypatch.setattr(forms, "MAX_FILE_SIZE", 1000)
    assert len(parse_form(MP, multipart([('name="f"; filename="a"', [], b"x" * 1000)]))["f"]["data"]) == 1000
    raises(413, "Form file too large", MP, multipart([('name="f"; filename="a"', [], b"x" * 1001)]))
    # a file may be larger than the field limit
    monkeypatch.setattr(forms, "MAX_FILE_SIZE", 1048576)
    assert len(parse_form(MP, multipart([('name="f"; filename="a"', [], b"x" * 70000)]))["f"]["data"]) == 70000


def test_malformed_input_only_raises_http_exceptions():
    rng = random.Random(1234)
    seeds = [PINNED, multipart([('name="a"; filename="b"', ["Content-Type: x"], b"\r\n--" * 5)])]
    alphabet = [b"\r", b"\n", b"-", b"\"", b";", b"=", b":", B.encode(), b"\x00", b"\xff", b" "]
    for _ in range(3000):
        body = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            op = rng.random()
            pos = rng.randrange(len(body) + 1)
            if op < 0.4 and body:
                del body[pos:pos + rng.randint(1, 8)]
            elif op < 0.8:
                body[pos:pos] = rng.choice(alphabet)
            else:
                body = body[:pos]
        for ctype in (MP, URLENC, f'multipart/form-data; boundary="{B}"; x'):
            try:
                parse_form(ctype, bytes(body))
            except HTTPException as exc:
                assert exc.status_code in (400, 413)


def test_request_form_is_cached():
    r = Request("POST", "/", headers={"Content-Type": URLENC}, body=b"a=1")
    assert r.form() == {"a": "1"} and r.form() is r.form()


def test_form_getlist_and_multi_items():
    """Starlette's FormData methods over the original's dict (a repeated name holds a list)."""
    form = Request("POST", "/", headers={"Content-Type": URLENC}, body=b"a=1&b=2&a=3").form()
    assert form["a"] == ["1", "3"] and form["b"] == "2"  # the original's dict, unchanged
    assert form.getlist("a") == ["1", "3"] and form.getlist("b") == ["2"] and form.getlist("c") == []
    assert form.multi_items() == [("a", "1"), ("a", "3"), ("b", "2")]


# --- UploadFile ----------------------------------------------------------------------------


def test_uploadfile_pinned_read_seek_read():
    async def scenario():
        up = UploadFile("note.txt", "text/plain", b"filedata")
        assert (up.filename, up.content_type, up.size, up.closed) == ("note.txt", "text/plain", 8, False)
        assert await up.read(4) == b"file"
        assert await up.tell() == 4
        assert await up.seek(0) == 0
        assert await up.read() == b"filedata"
        assert await up.read() == b""
        assert await up.write(b"!") == 1
        assert up.size == 9
        await up.close()
        assert up.closed and await up.read() == b"" and up.size == 0
    asyncio.run(scenario())


def test_uploadfile_file_is_a_sync_binary_file():
    """Starlette's `UploadFile.file`: a synchronous file over the same bytes and position."""
    import io
    import shutil

    up = UploadFile("a.bin", "application/octet-stream", b"line1\nline2\n")
    f = up.file
    assert isinstance(f, io.BufferedIOBase) and f.readable() and f.seekable()
    assert f.readline() == b"line1\n" and up.tell_sync() == 6  # one position for both
    out = io.BytesIO()
    shutil.copyfileobj(f, out)
    assert out.getvalue() == b"line2\n"
    f.seek(0)
    assert list(f) == [b"line1\n", b"line2\n"]
    buf = bytearray(3)
    f.seek(0)
    assert f.readinto(buf) == 3 and buf == b"lin"
    assert up.file is f  # one object per upload, as Starlette's
    del f
    import gc

    gc.collect()  # a collected view does not close the upload (IOBase.__del__ would)
    assert not up.closed and up.size == 12
    up.file.close()
    assert up.closed and up.file.closed


def test_uploadfile_sync_twins_and_errors():
    up = UploadFile(data="héllo")  # str data is UTF-8 encoded
    assert up.size == 6 and up.read_sync(None) == "héllo".encode()
    assert up.seek_sync(-2, 2) == 4 and up.read_sync(10) == b"lo"
    assert up.seek_sync(-1, 1) == 5 and up.tell_sync() == 5
    assert up.read_sync(0) == b""
    assert up.seek_sync(9) == 9
    assert up.write_sync(b"xy") == 2  # seek past the end then write pads with zero bytes
    assert up.seek_sync(0) == 0 and up.read_sync() == "héllo".encode() + b"\0\0\0" + b"xy"
    up.seek_sync(1)
    up.write_sync(bytearray(b"E"))
    assert up.seek_sync(0) == 0 and up.read_sync(3) == b"hE\xa9"
    with pytest.raises(ValueError, match="negative seek position"):
        up.seek_sync(-1)
    with pytest.raises(ValueError, match="negative seek position"):
        up.seek_sync(-100, 2)
    with pytest.raises(ValueError, match="invalid whence"):
        up.seek_sync(0, 3)
    up.close_sync()
    assert up.read_sync() == b"" and up.tell_sync() == 0
    with pytest.raises(ValueError, match="I/O operation on closed UploadFile"):
        up.write_sync(b"x")
    with pytest.raises(ValueError, match="I/O operation on closed UploadFile"):
        up.seek_sync(0)
    with pytest.raises(ValueError, match="I/O operation on closed UploadFile"):
        asyncio.run(up.write(b"x"))


def test_uploadfile_from_multipart_and_form_upload():
    assert UploadFile.from_multipart(None) is None
    assert UploadFile.from_multipart("text") is None
    assert UploadFile.from_multipart({"filename": "x"}) is None
    assert UploadFile.from_multipart([{"data": b""}]) is None
    up = UploadFile.from_multipart({"data": b"abc"})
    assert (up.filename, up.content_type, up.read_sync()) == ("", "", b"abc")
    form = parse_form(MP, PINNED)
    up = form_upload(form, "file")
    assert up.filename == "note.txt" and up.read_sync() == b"filedata"
    assert form_upload(form, "title") is None and form_upload(form, "nope") is None
    assert form_upload(None, "file") is None
    assert UploadFile(b"n\xc3\xa9", None, None).filename == "né"
    assert "note.txt" in repr(form_upload(form, "file"))


# --- over a real socket ----------------------------------------------------------------------


def _post(server, path, body, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    return server.client.post(path, content=body, headers=headers)


def test_http_urlencoded(serve):
    server = serve("apps/rr_forms.py")
    r = _post(server, "/form", b"name=alice&role=admin", URLENC)  # Pinned
    assert r.status_code == 200 and r.json() == {"form": {"name": "alice", "role": "admin"}, "cached": True}
    r = server.client.post("/form", data={"t": ["a", "b"], "sp": "x y", "u": "é"})
    assert r.json()["form"] == {"t": ["a", "b"], "sp": "x y", "u": "é"}
    assert _post(server, "/form", b"a=1", None).json()["form"] == {}
    assert _post(server, "/form", b'{"a":1}', "application/json").json()["form"] == {}


def test_http_form_getlist_and_multi_items(serve):
    server = serve("apps/rr_forms.py")
    r = _post(server, "/form-multi", b"tag=a&x=1&tag=b", URLENC)
    assert r.json() == {"tags": ["a", "b"], "none": [], "items": [["tag", "a"], ["tag", "b"], ["x", "1"]]}
    r = server.client.post("/form-multi", data={"tag": ["c", "d"]}, files=[("f", ("n.txt", b"hi", "text/plain"))])
    assert r.json() == {"tags": ["c", "d"], "none": [], "items": [["tag", "c"], ["tag", "d"], ["f", "n.txt"]]}


def test_uploadfile_headers_are_the_parts():
    """Starlette's `UploadFile.headers`: the part's own headers; the form value stays the
    device's dict."""
    body = (b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n"
            b"Content-Type: text/plain\r\nX-Part: 7\r\n\r\nhello\r\n--b--\r\n")
    form = Request("POST", "/", headers={"Content-Type": "multipart/form-data; boundary=b"}, body=body).form()
    assert form["f"] == {"filename": "a.txt", "content_type": "text/plain", "data": b"hello"}
    upload = form_upload(form, "f")
    assert upload.headers["X-Part"] == "7" and upload.headers["content-type"] == "text/plain"
    assert UploadFile("n", "image/png", b"").headers == {"content-type": "image/png"}


def test_http_multipart_pinned_and_uploadfile(serve):
    server = serve("apps/rr_forms.py")
    r = _post(server, "/multipart", PINNED, MP)
    assert r.status_code == 200
    assert r.json() == {"title": "hello", "file": {"filename": "note.txt", "content_type": "text/plain", "size": 8}}
    r = _post(server, "/uploadfile", PINNED, MP)
    assert r.json() == {"filename": "note.txt", "content_type": "text/plain", "head": "file",
                        "body": "filedata", "tell": 8, "sync_head": "fi", "closed": True,
                        "after_close": "", "size_after_close": 0, "is_upload": True,
                        "file_head": "led"}
    assert _post(server, "/uploadfile", b"a=1", URLENC).json() == {"upload": None}
    # httpx's own multipart encoder, repeated names, binary data
    r = server.client.post("/form", data={"t": ["1", "2"]},
                           files=[("f", ("a.bin", bytes(range(256)), "application/x-bin"))])
    form = r.json()["form"]
    assert form["t"] == ["1", "2"]
    assert form["f"] == {"filename": "a.bin", "content_type": "application/x-bin", "size": 256,
                         "data": bytes(range(256)).decode("latin-1"), "data_type": "bytes"}


def _detail(r) -> tuple:
    return r.status_code, r.content


def test_http_form_limits(serve):
    server = serve("apps/rr_forms.py")
    fields = "&".join(f"f{i}=v" for i in range(64)).encode()
    assert len(_post(server, "/form", fields, URLENC).json()["form"]) == 64
    assert _detail(_post(server, "/form", fields + b"&x=1", URLENC)) == (413, b'{"detail":"Too many form fields"}')
    assert len(_post(server, "/form", b"v=" + b"a" * 65536, URLENC).json()["form"]["v"]) == 65536
    assert _detail(_post(server, "/form", b"v=" + b"a" * 65537, URLENC)) == (413, b'{"detail":"Form field too large"}')
    parts64 = multipart([(f'name="p{i}"', [], b"v") for i in range(64)])
    assert len(_post(server, "/form", parts64, MP).json()["form"]) == 64
    parts65 = multipart([(f'name="p{i}"', [], b"v") for i in range(65)])
    assert _detail(_post(server, "/form", parts65, MP)) == (413, b'{"detail":"Too many form parts"}')
    ok = _post(server, "/form", multipart([('name="v"', [], b"a" * 65536)]), MP)
    assert len(ok.json()["form"]["v"]) == 65536
    big = _post(server, "/form", multipart([('name="v"', [], b"a" * 65537)]), MP)
    assert _detail(big) == (413, b'{"detail":"Form field too large"}')
    file_ok = _post(server, "/form-small-files", multipart([('name="f"; filename="a"', [], b"x" * 1000)]), MP)
    assert file_ok.json()["form"]["f"]["size"] == 1000
    file_big = _post(server, "/form-small-files", multipart([('name="f"; filename="a"', [], b"x" * 1001)]), MP)
    assert _detail(file_big) == (413, b'{"detail":"Form file too large"}')
    assert file_big.headers["content-type"] == "application/json"


def test_http_multipart_errors(serve):
    server = serve("apps/rr_forms.py")
    cases = [
        ("multipart/form-data", PINNED, "Missing multipart boundary"),
        ("multipart/form-data; boundary=", PINNED, "Invalid multipart boundary"),
        ("multipart/form-data; boundary=" + "a" * 71, PINNED, "Invalid multipart boundary"),
        ("multipart/form-data; boundary=elsewhere", PINNED, "Invalid multipart boundary"),
        (MP, f"--{B}\r\nContent-Disposition: form-data; name=\"a\"\r\n".encode(), "Invalid multipart headers"),
        (MP, f"--{B}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end".encode(), "Invalid multipart data"),
    ]
    for content_type, body, detail in cases:
        r = _post(server, "/form", body, content_type)
        assert r.status_code == 400, (content_type, r.text)
        assert r.content == b'{"detail":"' + detail.encode() + b'"}'


def test_http_upload_8mib(serve):
    server = serve("apps/rr_forms.py", "big")
    data = random.Random(8).randbytes(8 * 1024 * 1024)
    body = multipart([('name="note"', [], b"big one"),
                      ('name="file"; filename="blob.bin"', ["Content-Type: application/octet-stream"], data)])
    r = server.client.post("/big", content=body, headers={"Content-Type": MP}, timeout=60)
    assert r.status_code == 200, r.text[:200]
    assert r.json() == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "note": "big one"}


# --- regressions found by fuzzing (docs/internals/fuzzing.md) -------------------------------------------

@pytest.mark.parametrize("charset", ["idna", "undefined", "x\x00y"])
def test_filename_star_with_unusable_charset_falls_back_to_utf8(charset):
    """F1: `filename*=<charset>''…` with a charset that cannot decode gave a 500, not a form."""
    body = (b'--X\r\nContent-Disposition: form-data; name="f"; filename*=' + charset.encode("latin-1")
            + b"''a%20b\r\n\r\nx\r\n--X--\r\n")
    req = Request(method="POST", path="/", headers={"content-type": "multipart/form-data; boundary=X"}, body=body)
    assert req.form() == {"f": {"filename": "a b", "content_type": "", "data": b"x"}}


def test_hostile_parameter_lists_and_folds_parse():
    """F3: 500k `;a` parameters or 200k folded lines in a part header (1–2 MiB) made the
    parser quadratic (seconds of interpreter time); they must parse like any other part."""
    for header in (b'Content-Disposition: form-data; name="f"' + b";a" * 500_000,
                   b'Content-Disposition: form-data; name="f"\r\nX-A: a' + b"\r\n b" * 200_000):
        body = b"--X\r\n" + header + b"\r\n\r\nx\r\n--X--\r\n"
        req = Request(method="POST", path="/", headers={"content-type": "multipart/form-data; boundary=X"}, body=body)
        assert req.form() == {"f": "x"}


# form and upload size limits over HTTP --------------------------------------------------------


def test_form_key_and_multipart_name_size_limits_at_and_past_the_boundary(serve):
    c = serve(FORMS).client
    at = b"k" * 65536
    r = c.post("/form", content=at + b"=v", headers={"Content-Type": URLENC})
    assert r.status_code == 200 and list(r.json()["form"]) == [at.decode()]
    r = c.post("/form", content=at + b"k=v", headers={"Content-Type": URLENC})
    assert (r.status_code, r.content) == (413, b'{"detail":"Form field too large"}')
    r = c.post("/form", content=multipart([(f'name="{"n" * 65536}"', [], b"v")]), headers={"Content-Type": MP})
    assert r.status_code == 200 and list(r.json()["form"]) == ["n" * 65536]
    r = c.post("/form", content=multipart([(f'name="{"n" * 65537}"', [], b"v")]), headers={"Content-Type": MP})
    assert (r.status_code, r.content) == (413, b'{"detail":"Form field too large"}')

def _upload_body(total: int, rng: random.Random) -> tuple:
    """A multipart body of exactly `total` bytes: a note field and one file part."""
    head = [('name="note"', [], b"eight"), ('name="file"; filename="blob.bin"', ["Content-Type: application/octet-stream"], b"")]
    overhead = len(multipart(head))
    data = rng.randbytes(total - overhead)
    body = multipart([head[0], (head[1][0], head[1][1], data)])
    assert len(body) == total
    return body, data

def test_upload_at_8_mib_with_max_body_size_raised(serve):
    server = serve(UPLOAD)
    limit = 8 * 1024 * 1024
    rng = random.Random(85)
    body, data = _upload_body(limit, rng)
    r = server.client.post("/upload", content=body, headers={"Content-Type": MP}, timeout=60)
    assert r.status_code == 200, r.text[:300]
    assert r.json() == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "note": "eight",
                        "body_len": limit, "file_limit": limit}
    raw = rng.randbytes(limit)
    r = server.client.post("/raw", content=raw, timeout=60)
    assert r.json() == {"body_len": limit, "sha256": hashlib.sha256(raw).hexdigest()}
    over, _ = _upload_body(limit + 1, rng)
    r = server.client.post("/upload", content=over, headers={"Content-Type": MP}, timeout=60)
    assert (r.status_code, r.content, r.headers["content-type"]) == (413, b"Payload Too Large", TEXT)
    assert server.client.post("/raw", content=b"ok").json()["body_len"] == 2  # still serving
