#!/usr/bin/env python3
"""ClickHouse HTTP interface for tests, backed by chDB (in-process ClickHouse 26.x).

Usage:
  clickhouse_http.py --port P --data DIR [--users default:,bridge:secret] [--host 127.0.0.1]

Speaks the parts of ClickHouse's HTTP interface (port 8123) that otel-bridge uses:
  GET / and GET /ping -> "Ok.\\n"; queries from the `query` URL parameter and/or the POST body (URL part
  first, then body); `database` / X-ClickHouse-Database; `default_format` / X-ClickHouse-Format
  (TabSeparated otherwise); `param_NAME=value` query parameters; auth by X-ClickHouse-User/-Key,
  user/password URL params or HTTP Basic (403 + code 516 when wrong); `readonly` (GET implies 2);
  every other URL parameter is a ClickHouse setting applied to the query (unknown -> code 115);
  `enable_http_compression=1` + Accept-Encoding, negotiated as ClickHouse's chooseHTTPCompressionMethod
  does (the server's order zstd, br, lz4, snappy, gzip, deflate, xz, bz2 decides, not the client's; `q=0`
  refuses a token, `*` accepts the rest; tokens match whole and case-insensitively): zstd, gzip, deflate,
  xz and bz2 are written here, br, lz4 and snappy are not (a client that accepts only those gets the
  body as it is), all at `http_zlib_compression_level` (default 3, as in ClickHouse, which uses that one
  setting for every method; zlib's 1..9, the 10..12 of a libdeflate build are written at 9);
  `query_id`; ClickHouse response headers incl.
  X-ClickHouse-Summary and X-ClickHouse-Exception-Tag; errors as `Code: N. DB::Exception: ...`
  with the status of ClickHouse's exceptionCodeToHTTPStatus.cpp; chunked (64 KiB) bodies.

Fault injection (tests):
  POST /__control        JSON, merged into the fault state:
    {"mid_stream_exception": {"after_bytes": N, "style": "tagged"|"legacy", "code": 395,
                              "message": "...", "count": 1}}   next `count` SELECTs fail after N bytes
    {"delay_seconds": S}                                        sleep S before answering every query
    {"fail_status": {"status": 503, "code": 202, "message": "...", "count": 2}}
    {"exception_tag_header": false}                             act like a server < 25.11 (no tag header)
    {"foreign_response": {"status": 200, "content_type": "text/html", "body": "<html>…",
                          "location": "http://…", "headers": {"X-Other": "v"}, "count": 1}}
                            next `count` queries get an answer that is not ClickHouse's: no
                            X-ClickHouse-* header at all (a login page, a proxy's 200/204, a 302
                            with Location), before authentication, like a proxy in front would
    Add "database": "db" to a control body to scope its faults to queries whose `database`
    parameter is "db" (so tests running in parallel only hit their own); unscoped faults apply
    to every query.
  POST /__control/reset  clear all faults;   GET /__control  show the fault state.
Data persists in DIR (chDB session). One log line per query on stderr.
"""
import argparse
import base64
import bz2
import json
import lzma
import random
import re
import socket
import string
import sys
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import zstandard
from chdb import session as chdb_session

VERSION = "26.9.0"
CHUNK = 64 * 1024
ZLIB_LEVEL = 3  # ClickHouse's default http_zlib_compression_level (system.settings of chDB 26.9: 3)
DISPLAY_NAME = socket.gethostname()

# URL parameters the HTTP handler consumes itself (ClickHouse's HTTPHandler reserved names).
RESERVED = {
    "query", "database", "default_format", "user", "password", "quota_key", "query_id", "stacktrace",
    "role", "buffer_size", "wait_end_of_query", "session_id", "session_timeout", "session_check",
    "client_protocol_version", "close_session", "compress", "decompress", "readonly",
}

# src/Server/HTTP/exceptionCodeToHTTPStatus.cpp, by error name (codes resolved through chDB at startup).
_BY_NAME = {
    401: "REQUIRED_PASSWORD",
    403: "UNKNOWN_USER WRONG_PASSWORD AUTHENTICATION_FAILED SET_NON_GRANTED_ROLE ACCESS_DENIED",
    400: "BAD_ARGUMENTS CANNOT_COMPILE_REGEXP CANNOT_PARSE_TEXT CANNOT_PARSE_ESCAPE_SEQUENCE "
         "CANNOT_PARSE_QUOTED_STRING CANNOT_PARSE_DATE CANNOT_PARSE_DATETIME CANNOT_PARSE_NUMBER "
         "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING CANNOT_PARSE_IPV4 CANNOT_PARSE_IPV6 "
         "CANNOT_PARSE_INPUT_ASSERTION_FAILED CANNOT_PARSE_UUID DUPLICATE_COLUMN ILLEGAL_COLUMN "
         "UNKNOWN_ELEMENT_IN_AST UNKNOWN_TYPE_OF_AST_NODE THERE_IS_NO_COLUMN TOO_DEEP_AST TOO_BIG_AST "
         "UNEXPECTED_AST_STRUCTURE SYNTAX_ERROR INCORRECT_DATA TYPE_MISMATCH VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
    404: "UNKNOWN_TABLE UNKNOWN_FUNCTION UNKNOWN_IDENTIFIER UNKNOWN_TYPE UNKNOWN_STORAGE UNKNOWN_DATABASE "
         "UNKNOWN_SETTING UNKNOWN_DIRECTION_OF_SORTING UNKNOWN_AGGREGATE_FUNCTION UNKNOWN_FORMAT "
         "UNKNOWN_DATABASE_ENGINE UNKNOWN_TYPE_OF_QUERY UNKNOWN_ROLE",
    413: "QUERY_IS_TOO_LARGE",
    501: "NOT_IMPLEMENTED",
    503: "SOCKET_TIMEOUT CANNOT_OPEN_FILE CANNOT_SCHEDULE_TASK",
    411: "HTTP_LENGTH_REQUIRED",
    408: "TIMEOUT_EXCEEDED",
    415: "UNSUPPORTED_MEDIA_TYPE",
}
STATUS_OF_NAME = {n: st for st, names in _BY_NAME.items() for n in names.split()}
CODE_NAMES = {}  # code -> name, filled from chDB's errorCodeToName


def http_status(code):
    return STATUS_OF_NAME.get(CODE_NAMES.get(code, ""), 500)


CONTENT_TYPES = [
    (re.compile(r"^(TabSeparated|TSV)", re.I), "text/tab-separated-values; charset=UTF-8"),
    (re.compile(r"^CSVWithNames", re.I), "text/csv; charset=UTF-8; header=present"),
    (re.compile(r"^CSV", re.I), "text/csv; charset=UTF-8; header=absent"),
    (re.compile(r"^JSON(Compact)?(Strings)?(EachRow|Lines)", re.I), "application/x-ndjson; charset=UTF-8"),
    (re.compile(r"^(JSON|NDJSON)", re.I), "application/json; charset=UTF-8"),
    (re.compile(r"^(Native|RowBinary|Parquet|Arrow|ORC|Avro|Protobuf|MsgPack)", re.I), "application/octet-stream"),
]


def content_type(fmt):
    for rx, ct in CONTENT_TYPES:
        if rx.match(fmt):
            return ct
    return "text/plain; charset=UTF-8"


class CHError(Exception):
    def __init__(self, code, name, message):
        super().__init__(message)
        self.code, self.name, self.message = code, name, message

    def text(self):
        msg = self.message.rstrip() + "."  # ClickHouse always writes "<message>. (NAME)"
        return f"Code: {self.code}. DB::Exception: {msg} ({self.name}) (version {VERSION})"


_CH_ERR = re.compile(r"^Code: (\d+)\. DB::Exception: (.*) \(([A-Z0-9_]+)\)(?: \(version [^)]*\))?\s*$", re.S)


def to_ch_error(exc):
    text = str(exc).strip()
    m = _CH_ERR.match(text)
    if not m:
        return CHError(1001, "STD_EXCEPTION", text or type(exc).__name__)
    code, msg, name = int(m.group(1)), m.group(2), m.group(3)
    inner = _CH_ERR.match(msg)  # chDB sometimes nests the same exception twice
    if inner and int(inner.group(1)) == code:
        msg = inner.group(2)
    msg = re.sub(r"\s*\(version [^)]*\)", "", msg)
    return CHError(code, name, msg[:-1] if msg.endswith(".") else msg)


def first_keyword(sql):
    s = re.sub(r"(--[^\n]*\n|/\*.*?\*/|\s|\()+", " ", " " + sql, flags=re.S).strip()
    return (s.split(None, 1)[0] if s else "").upper()


class Engine:
    """One chDB session, serialized by a lock."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.s = chdb_session.Session(path)
        rows = self.s.query("SELECT number, errorCodeToName(toInt32(number)) FROM numbers(2000) "
                            "WHERE errorCodeToName(toInt32(number)) != ''", "TabSeparated").bytes()
        CODE_NAMES.update({int(a): b for a, b in (l.split("\t") for l in rows.decode().splitlines())})

    def name(self, code):
        return CODE_NAMES.get(code, "UNKNOWN_EXCEPTION")

    def run(self, sql, fmt, params, settings, database):
        with self.lock:
            applied = []
            try:
                for k, v in settings:
                    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
                        raise CHError(115, "UNKNOWN_SETTING", f"Unknown setting '{k}'")
                    esc = v.replace("\\", "\\\\").replace("'", "\\'")
                    self.s.query(f"SET {k} = '{esc}'", "TabSeparated")
                    applied.append(k)
                if database:
                    self.s.query(f"USE `{database.replace('`', '``')}`", "TabSeparated")
                return self.s.query(sql, fmt, params=params or None)
            except CHError:
                raise
            except Exception as e:  # chDB raises with ClickHouse's exception text
                raise to_ch_error(e) from None
            finally:
                for k in applied:
                    try:
                        self.s.query(f"SET {k} = DEFAULT", "TabSeparated")
                    except Exception:
                        pass
                if database:
                    self.s.query("USE default", "TabSeparated")


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.scopes = {"": {}}  # database ("" = every query) -> fault state

    @property
    def state(self):
        return {scope or "*": st for scope, st in self.scopes.items()}

    def update(self, d):
        with self.lock:
            d = dict(d)
            scope = str(d.pop("database", "") or "")
            for k in ("mid_stream_exception", "fail_status", "foreign_response"):
                if k in d and d[k] is not None:
                    d[k] = dict(d[k])
                    d[k].setdefault("count", 1)
            self.scopes.setdefault(scope, {}).update(d)

    def get(self, key, database, default=None):
        """A plain fault setting for a query on `database` (its scope first, then unscoped)."""
        with self.lock:
            for scope in (database or "", ""):
                if key in self.scopes.get(scope, {}):
                    return self.scopes[scope][key]
            return default

    def take(self, key, database):
        """Consume one use of a counted fault for a query on `database`; its dict or None."""
        with self.lock:
            for scope in (database or "", ""):
                f = self.scopes.get(scope, {}).get(key)
                if f and f.get("count", 1) > 0:
                    f["count"] = f.get("count", 1) - 1
                    return dict(f)
            return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as ClickHouse's HTTP server (Poco's TCPServer) and the Collector (Go) set on
    # every connection: without it a response written in pieces waits for the client's delayed
    # ACK, 40 ms a request, which no real server adds.
    disable_nagle_algorithm = True

    def version_string(self):
        return "ClickHouse"

    def log_message(self, fmt, *args):  # one line per query is logged by _query instead
        pass

    # ---- plumbing -------------------------------------------------------
    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            data = bytes(data)
        else:
            n = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(n) if n else b""
        enc = self.headers.get("Content-Encoding", "").lower()
        if enc in ("gzip", "deflate") and data:
            data = zlib.decompress(data, 47)
        return data

    def _simple(self, status, body, ctype="text/plain; charset=UTF-8", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, err, query_id, fmt):
        body = (err.text() + "\n").encode()
        self._simple(http_status(err.code), body, extra={
            "X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Format": fmt,
            "X-ClickHouse-Timezone": "UTC", "X-ClickHouse-Server-Display-Name": DISPLAY_NAME,
            "X-ClickHouse-Exception-Code": str(err.code)})
        return http_status(err.code)

    # ---- routes ---------------------------------------------------------
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path in ("/ping",) or (url.path == "/" and not url.query):
            return self._simple(200, b"Ok.\n")
        if url.path == "/__control":
            return self._simple(200, json.dumps(self.server.faults.state).encode(), "application/json")
        if url.path == "/":
            return self._query(url, b"")
        self._simple(404, f"There is no handle {url.path}\n".encode())

    def do_POST(self):
        url = urlsplit(self.path)
        body = self._body()
        if url.path == "/__control/reset":
            self.server.faults.reset()
            return self._simple(200, b"{}", "application/json")
        if url.path == "/__control":
            try:
                self.server.faults.update(json.loads(body or b"{}"))
            except (ValueError, TypeError) as e:
                return self._simple(400, f"bad control JSON: {e}\n".encode())
            return self._simple(200, json.dumps(self.server.faults.state).encode(), "application/json")
        if url.path == "/":
            return self._query(url, body)
        self._simple(404, f"There is no handle {url.path}\n".encode())

    # ---- the query ------------------------------------------------------
    def _query(self, url, body):
        t0 = time.monotonic()
        self._started = False
        qs = parse_qsl(url.query, keep_blank_values=True)
        p = dict(qs)
        h = self.headers
        query_id = p.get("query_id") or str(uuid.uuid4())
        fmt = p.get("default_format") or h.get("X-ClickHouse-Format") or "TabSeparated"
        user, status = "default", 0
        # query text: URL part, then body
        qtext = p.get("query", "")
        btext = body.decode("utf-8", "replace")
        sql = qtext + ("\n" if qtext and btext else "") + btext
        if self._foreign(p, h, sql, t0):
            return
        try:
            # auth
            user, password = p.get("user"), p.get("password")
            if h.get("X-ClickHouse-User") is not None:
                user, password = h.get("X-ClickHouse-User"), h.get("X-ClickHouse-Key", "")
            elif user is None and h.get("Authorization", "").startswith("Basic "):
                user, _, password = base64.b64decode(h["Authorization"][6:]).decode().partition(":")
            user = user or "default"
            if self.server.users.get(user) != (password or ""):
                raise CHError(516, "AUTHENTICATION_FAILED", f"{user}: Authentication failed: password is "
                              "incorrect, or there is no user with such name")
            if not sql.strip():
                raise CHError(62, "SYNTAX_ERROR", "Empty query")
            faults = self.server.faults
            database = p.get("database") or h.get("X-ClickHouse-Database")
            delay = faults.get("delay_seconds", database)
            if delay:
                time.sleep(float(delay))
            fs = faults.take("fail_status", database)
            if fs:
                code = int(fs.get("code", 202))
                err = CHError(code, self.server.engine.name(code), fs.get("message") or
                              "Too many simultaneous queries. Maximum: 100")
                status = int(fs.get("status", http_status(code)))
                self._simple(status, (err.text() + "\n").encode(), extra={
                    "X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Exception-Code": str(code)})
                return
            kw = first_keyword(sql)
            ro = p.get("readonly", "0").strip().lower() or "0"
            readonly = int(ro) if ro.isdigit() else int(ro == "true")
            if self.command in ("GET", "HEAD"):
                readonly = readonly or 2
            if readonly and kw not in ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN") \
                    and not (readonly == 2 and kw == "SET"):
                raise CHError(164, "READONLY", f"{user}: Cannot execute query in readonly mode")
            if kw != "INSERT":
                m = None
                for m in re.finditer(r"\bFORMAT\s+([A-Za-z0-9_]+)", sql, re.I):
                    pass
                if m:
                    fmt = m.group(1)
            params = {k[6:]: v for k, v in qs if k.startswith("param_")}
            settings = [(k, v) for k, v in qs if k not in RESERVED and not k.startswith("param_")]
            res = self.server.engine.run(sql, fmt, params, settings, database)
            held = res.get_memview()  # chDB's own buffer, not a copy of it: a 10 M-row result is GBs
            out = held.view()
            mid = faults.take("mid_stream_exception", database) if kw in ("SELECT", "WITH") else None
            self._stream(res, out, fmt, query_id, p, mid, t0)
            status = 200
        except CHError as err:
            status = self._error(err, query_id, fmt) if not self._started else 200
        except OSError:  # client went away (e.g. its timeout fired during delay_seconds)
            status, self.close_connection = 499, True
        except Exception as e:  # a bug here, or bad input we did not foresee: answer like ClickHouse would
            if self._started:
                raise
            status = self._error(CHError(1001, "STD_EXCEPTION", f"{type(e).__name__}: {e}"), query_id, fmt)
        finally:
            one_line = " ".join(sql.split())[:300]
            sys.stderr.write(f"{time.strftime('%H:%M:%S')} {status} user={user} id={query_id} "
                             f"{(time.monotonic() - t0) * 1000:.1f}ms {one_line}\n")
            sys.stderr.flush()

    def _foreign(self, p, h, sql, t0):
        """The `foreign_response` fault: answer as a proxy or login page would (no ClickHouse headers)."""
        fr = self.server.faults.take("foreign_response", p.get("database") or h.get("X-ClickHouse-Database"))
        if not fr:
            return False
        status = int(fr.get("status", 200))
        body = b"" if status in (204, 304) else str(fr.get("body", "<html><body>Please log in</body></html>")).encode()
        headers = {str(k): str(v) for k, v in (fr.get("headers") or {}).items()}
        ctype = fr.get("content_type") or next((v for k, v in headers.items() if k.lower() == "content-type"),
                                                "text/html; charset=utf-8")
        self.send_response(status)
        if status not in (204, 304):
            self.send_header("Content-Type", str(ctype))
            self.send_header("Content-Length", str(len(body)))
        if fr.get("location"):
            self.send_header("Location", str(fr["location"]))
        for k, v in headers.items():
            if k.lower() != "content-type":
                self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} {status} foreign_response "
                         f"{(time.monotonic() - t0) * 1000:.1f}ms {' '.join(sql.split())[:300]}\n")
        return True

    def _stream(self, res, out, fmt, query_id, p, mid, t0):
        header_tag = self.server.faults.get("exception_tag_header", p.get("database"), True)
        if mid and mid.get("style", "tagged") == "legacy":
            header_tag = False
        tag = "".join(random.choices(string.ascii_letters + string.digits, k=16))
        encoding = None
        if p.get("enable_http_compression") in ("1", "true"):
            encoding = choose_encoding(self.headers.get("Accept-Encoding", ""))
        gz = ENCODERS[encoding](zlib_level(p)) if encoding else None
        summary = {
            "read_rows": res.rows_read(), "read_bytes": res.bytes_read(),
            "written_rows": res.rows_written(), "written_bytes": res.bytes_written(),
            "total_rows_to_read": res.rows_read(), "result_rows": result_rows(fmt, out),
            "result_bytes": len(out), "elapsed_ns": int((time.monotonic() - t0) * 1e9),
        }
        self._started = True
        self.send_response(200)
        self.send_header("Content-Type", content_type(fmt))
        self.send_header("Transfer-Encoding", "chunked")
        if gz:
            self.send_header("Content-Encoding", encoding)
        self.send_header("X-ClickHouse-Server-Display-Name", DISPLAY_NAME)
        if header_tag:
            self.send_header("X-ClickHouse-Exception-Tag", tag)
        self.send_header("X-ClickHouse-Query-Id", query_id)
        self.send_header("X-ClickHouse-Format", fmt)
        self.send_header("X-ClickHouse-Timezone", "UTC")
        self.send_header("X-ClickHouse-Summary", json.dumps({k: str(v) for k, v in summary.items()},
                                                            separators=(",", ":")))
        self.end_headers()
        if self.command == "HEAD":
            return
        tail = b""
        if mid:
            out = out[: int(mid.get("after_bytes", 0))]
            code = int(mid.get("code", 395))
            err = CHError(code, self.server.engine.name(code),
                          mid.get("message", "Value passed to 'throwIf' function is non-zero"))
            msg = err.text().encode()
            if mid.get("style", "tagged") == "legacy":
                tail = b"\n" + msg + b"\n"
            else:
                t = tag.encode()
                tail = (b"\r\n__exception__\r\n" + t + b"\r\n" + msg + b"\n" +
                        str(len(msg)).encode() + b" " + t + b"\r\n__exception__\r\n")
        for i in range(0, len(out), CHUNK):
            self._chunk(gz.compress(out[i:i + CHUNK]) if gz else out[i:i + CHUNK])
        if tail:
            self._chunk(gz.compress(tail) if gz else tail)
        if gz:
            self._chunk(gz.flush())
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chunk(self, data):
        if data:
            self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
            self.wfile.flush()


# ClickHouse's preference, most preferred first (IO/CompressionMethod.cpp, chooseHTTPCompressionMethod).
SERVER_ORDER = ["zstd", "br", "lz4", "snappy", "gzip", "deflate", "xz", "bz2"]
# The methods this endpoint writes: a compressor with compress() and flush() per response, at a level.
ENCODERS = {
    "zstd": lambda level: zstandard.ZstdCompressor(level=level).compressobj(),
    "gzip": lambda level: zlib.compressobj(level, zlib.DEFLATED, 31),
    "deflate": lambda level: zlib.compressobj(level, zlib.DEFLATED, 15),  # ClickHouse's Zlib: RFC 1950
    "xz": lambda level: lzma.LZMACompressor(format=lzma.FORMAT_XZ, preset=level),
    "bz2": lambda level: bz2.BZ2Compressor(level),
}


def choose_encoding(header):
    """The response's Content-Encoding for an Accept-Encoding header, or None: the first method in the
    server's order that the client accepts (a token with q > 0, or `*` with q > 0 for a method the
    header does not name) and that this endpoint writes."""
    named, wildcard = {}, False
    for item in header.split(","):
        token, *params = [part.strip() for part in item.split(";")]
        if not token:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0  # an unreadable weight accepts nothing
        if token == "*":
            wildcard = q > 0
        else:
            named[token.lower()] = q > 0
    for method in SERVER_ORDER:
        if named.get(method, wildcard) and method in ENCODERS:
            return method
    return None


def zlib_level(p):
    """The gzip level of a response: the `http_zlib_compression_level` setting (already accepted by chDB's
    SET, so an integer), ClickHouse's default 3 without it; Python's zlib stops at 9."""
    try:
        return min(max(int(p.get("http_zlib_compression_level", ZLIB_LEVEL)), 1), 9)
    except ValueError:
        return ZLIB_LEVEL


def result_rows(fmt, out):
    f = fmt.lower()
    if f.startswith("json") and not re.search(r"eachrow|lines", f):
        m = re.search(rb'"rows":\s*(\d+)', bytes(out))
        return int(m.group(1)) if m else 0
    if re.match(r"(tabseparated|tsv|csv|json\w*eachrow|jsonlines|tskv)", f):
        n = bytes(out).count(b"\n")
        if "withnamesandtypes" in f:
            n -= 2
        elif "withnames" in f:
            n -= 1
        return max(n, 0)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--data", required=True, help="chDB data directory (persistent)")
    ap.add_argument("--users", default="default:", help="user:password,… (default: default with no password)")
    a = ap.parse_args()
    srv = ThreadingHTTPServer((a.host, a.port), Handler)
    srv.daemon_threads = True
    srv.engine = Engine(a.data)
    srv.faults = Faults()
    srv.users = dict(u.partition(":")[::2] for u in a.users.split(",") if u)
    sys.stderr.write(f"clickhouse_http listening on http://{a.host}:{a.port} data={a.data}\n")
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
