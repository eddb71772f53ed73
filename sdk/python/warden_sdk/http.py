"""Blocking outbound HTTP over wasi:http/outgoing-handler@0.2 (which Warden links for every plugin;
what a plugin may reach is its manifest's [http] grant).

    resp = http.get("https://api.example.com/items?id=1", headers={"accept": "application/json"})
    resp.status, resp.headers, resp.json()
"""

import json as _json
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

from componentize_py_types import Err, Ok
from wit_world.imports import http_types as ht
from wit_world.imports import outgoing_handler, streams

_METHODS = {
    "GET": ht.Method_Get, "HEAD": ht.Method_Head, "POST": ht.Method_Post, "PUT": ht.Method_Put,
    "DELETE": ht.Method_Delete, "OPTIONS": ht.Method_Options, "PATCH": ht.Method_Patch,
}
_CHUNK = 4096  # blocking-write-and-flush takes at most 4096 bytes at a time


class HttpError(Exception):
    """The request did not produce a response (denied by the host, DNS, connect, timeout...)."""


@dataclass
class Response:
    status: int
    headers: List[Tuple[str, str]]
    body: bytes

    def header(self, name: str) -> Optional[str]:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return _json.loads(self.body)


def _err_text(e: Any) -> str:
    v = getattr(e, "value", e)
    name = type(v).__name__.removeprefix("ErrorCode_")
    payload = getattr(v, "value", None)
    if name == "InternalError" and isinstance(payload, str):
        return payload  # the host's reason, e.g. "refused by Warden: ..."
    return f"{name}({payload})" if payload is not None else name


def request(method: str, url: str, headers: Optional[Mapping[str, str]] = None,
            body: Union[bytes, str, None] = None, timeout_ms: Optional[int] = None) -> Response:
    u = urlsplit(url)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise HttpError(f"not an absolute http(s) URL: {url!r}")
    data = body.encode() if isinstance(body, str) else (body or b"")
    pairs = [(k, v.encode()) for k, v in (headers or {}).items()]
    if data and not any(k.lower() == "content-length" for k, _ in pairs):
        pairs.append(("content-length", str(len(data)).encode()))  # else it goes out chunked
    try:
        fields = ht.Fields.from_list(pairs)
    except Err as e:
        raise HttpError(f"bad header: {_err_text(e)}") from None
    req = ht.OutgoingRequest(fields)
    m = _METHODS.get(method.upper())
    req.set_method(m() if m else ht.Method_Other(method))
    req.set_scheme(ht.Scheme_Https() if u.scheme == "https" else ht.Scheme_Http())
    req.set_authority(u.netloc)
    req.set_path_with_query((u.path or "/") + (f"?{u.query}" if u.query else ""))
    out_body = req.body()

    options = None
    if timeout_ms is not None:
        options = ht.RequestOptions()
        ns = timeout_ms * 1_000_000
        options.set_connect_timeout(ns)
        options.set_first_byte_timeout(ns)
        options.set_between_bytes_timeout(ns)

    try:
        future = outgoing_handler.handle(req, options)
    except Err as e:
        raise HttpError(f"request refused: {_err_text(e)}") from None

    with out_body.write() as stream:
        for i in range(0, len(data), _CHUNK):
            stream.blocking_write_and_flush(data[i:i + _CHUNK])
    ht.OutgoingBody.finish(out_body, None)

    while True:
        got = future.get()
        if got is not None:
            break
        with future.subscribe() as pollable:
            pollable.block()
    if isinstance(got, Err):
        raise HttpError("response already taken")
    inner = got.value
    if isinstance(inner, Err):
        raise HttpError(f"request failed: {_err_text(inner)}")
    resp: ht.IncomingResponse = inner.value

    status = resp.status()
    with resp.headers() as h:
        hdrs = [(k, v.decode("latin-1")) for k, v in h.entries()]
    in_body = resp.consume()
    chunks = []
    with in_body.stream() as s:
        while True:
            try:
                chunks.append(s.blocking_read(65536))
            except Err as e:
                if isinstance(e.value, streams.StreamError_Closed):
                    break
                raise HttpError("response body failed") from None
    ht.IncomingBody.finish(in_body).__exit__(None, None, None)  # drop the trailers future
    resp.__exit__(None, None, None)
    future.__exit__(None, None, None)
    return Response(status, hdrs, b"".join(chunks))


def get(url: str, headers: Optional[Mapping[str, str]] = None, timeout_ms: Optional[int] = None) -> Response:
    return request("GET", url, headers=headers, timeout_ms=timeout_ms)


def post(url: str, json: Any = None, data: Union[bytes, str, None] = None,
         headers: Optional[Mapping[str, str]] = None, timeout_ms: Optional[int] = None) -> Response:
    h = dict(headers or {})
    if json is not None:
        data = _json.dumps(json)
        h.setdefault("content-type", "application/json")
    return request("POST", url, headers=h, body=data, timeout_ms=timeout_ms)
