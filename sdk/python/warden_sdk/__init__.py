"""warden_sdk: write a Warden plugin (warden:plugin@0.2.0) as decorated, type-hinted
Python functions; build it with componentize-py.

    from warden_sdk import Server, Context, tool    # `Server` must be a name in the app module

    @tool
    def greet(cx: Context, name: str) -> str:
        '''Greets someone by name.'''
        return f"Hello, {name}! You are {cx.caller.subject}."

Build-time facts this module is written around (all verified with componentize-py 0.25.1):
* The app module and everything it imports run ONCE, at build time (componentize-py pre-initializes
  and snapshots the interpreter). So the @tool registry costs nothing per request, but anything read
  at import time (os.environ, time, files) is the builder's, frozen into the .wasm.
* Only modules imported during that build-time run are in the component: an `import` first executed
  inside a tool at call time fails with ModuleNotFoundError (there is no filesystem at run time).
  This module therefore imports everything it needs at top level, and so must plugins.
* An exception escaping an export traps the instance (`unreachable`) with the traceback on stderr,
  which Warden does not keep. Every export here is wrapped: exceptions become plugin-error values
  and the traceback goes to the call's log (`cx.log`).
"""

import inspect
import json
import re
import traceback
import types as _pytypes
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from componentize_py_types import Err
from wit_world import exports as _exports
from wit_world.imports import context as _context
from wit_world.imports import database as _database
from wit_world.imports import warden_types as wt

from . import http  # noqa: F401  (imported now so that it is in the snapshot)

# Stdlib modules that the stdlib itself imports lazily, on first use; imported here so that they
# are in the snapshot (else e.g. datetime.strptime fails with "No module named '_strptime'").
import _strptime  # noqa: F401,E402
import encodings.idna  # noqa: F401,E402
import encodings.punycode  # noqa: F401,E402

Level = _context.Level

__all__ = [
    "Server", "Context", "Database", "tool", "resource", "prompt", "Level", "http",
    "PluginError", "InvalidArguments", "Forbidden", "NotFound", "MissingCapability", "ToolError",
    "Result", "text", "image", "audio", "embedded", "resource_link", "user", "assistant",
]


# --- errors -----------------------------------------------------------------------------------

class PluginError(Exception):
    """Fails the request with `plugin-error::failed(message)` (subclasses pick another case)."""

    def to_wit(self) -> wt.PluginError:
        return wt.PluginError_Failed(str(self))


class InvalidArguments(PluginError):
    """`plugin-error::invalid-arguments`: the model can fix its arguments."""

    def to_wit(self) -> wt.PluginError:
        return wt.PluginError_InvalidArguments(str(self))


class Forbidden(PluginError):
    def to_wit(self) -> wt.PluginError:
        return wt.PluginError_Forbidden(str(self))


class NotFound(PluginError):
    def to_wit(self) -> wt.PluginError:
        return wt.PluginError_NotFound(str(self))


class MissingCapability(PluginError):
    """`plugin-error::missing-client-capabilities`: the client did not declare what this needs."""

    def __init__(self, capabilities: "wt.ClientCapabilities"):
        super().__init__(f"the client must support {capabilities}")
        self.capabilities = capabilities

    def to_wit(self) -> wt.PluginError:
        return wt.PluginError_MissingClientCapabilities(self.capabilities)


class ToolError(Exception):
    """A tool result with `is-error: true`: the model sees the message (MCP `isError`)."""


class _InputNeeded(BaseException):
    """Raised by `Context.elicit`/`sample` when the client must answer first: the SDK returns
    `input-required`, and the handler runs again, from the start, with the answer. A
    BaseException, so that a handler's `except Exception` does not swallow it."""

    def __init__(self, key: str, request: wt.InputRequest):
        super().__init__(key)
        self.key = key
        self.request = request


# --- content ----------------------------------------------------------------------------------

def text(value: str) -> wt.Content:
    """A text content block."""
    return wt.Content_Text(value)


def image(data: bytes, mime_type: str) -> wt.Content:
    """An image content block."""
    return wt.Content_Image(wt.Media(bytes(data), mime_type))


def audio(data: bytes, mime_type: str) -> wt.Content:
    """An audio content block."""
    return wt.Content_Audio(wt.Media(bytes(data), mime_type))


def embedded(uri: str, body: Union[str, bytes], mime_type: Optional[str] = None) -> wt.Content:
    """An embedded resource: text, or bytes as a blob."""
    b = wt.ResourceBody_Text(body) if isinstance(body, str) else wt.ResourceBody_Blob(bytes(body))
    return wt.Content_Embedded(wt.ResourceContents(uri, mime_type, b))


def resource_link(uri: str, name: str, title: Optional[str] = None, description: Optional[str] = None,
                  mime_type: Optional[str] = None) -> wt.Content:
    """A link to a resource."""
    return wt.Content_ResourceLink(wt.ResourceLink(uri, name, title, description, mime_type))


def user(content: Union[str, wt.Content]) -> wt.PromptMessage:
    """A prompt message from the user."""
    return wt.PromptMessage(wt.Role.USER, text(content) if isinstance(content, str) else content)


def assistant(content: Union[str, wt.Content]) -> wt.PromptMessage:
    """A prompt message from the assistant."""
    return wt.PromptMessage(wt.Role.ASSISTANT, text(content) if isinstance(content, str) else content)


@dataclass
class Result:
    """A tool result built by hand: content blocks, structured content, or an error result."""
    content: List[Any]
    structured: Any = None
    is_error: bool = False


# --- database ---------------------------------------------------------------------------------

def _to_value(v: Any) -> _database.Value:
    if v is None:
        return _database.Value_Null()
    if isinstance(v, bool):
        return _database.Value_Boolean(v)
    if isinstance(v, int):
        return _database.Value_Int(v)
    if isinstance(v, float):
        return _database.Value_Float(v)
    if isinstance(v, str):
        return _database.Value_Text(v)
    if isinstance(v, (bytes, bytearray)):
        return _database.Value_Bytes(bytes(v))
    raise InvalidArguments(f"cannot bind a {type(v).__name__} as a SQL parameter")


def _from_value(v: _database.Value) -> Any:
    return None if isinstance(v, _database.Value_Null) else v.value


def _db_error(e: Err) -> PluginError:
    v = e.value
    msg = getattr(v, "value", None) or type(v).__name__.removeprefix("DbError_").lower()
    if isinstance(v, (_database.DbError_NotPermitted, _database.DbError_Denied)):
        return Forbidden(f"database: {msg}")
    if isinstance(v, _database.DbError_Invalid):
        return InvalidArguments(f"database: {msg}")
    return PluginError(f"database: {msg}")


class Database:
    """The request's `query-handle`, with Python values in and dicts out."""

    def __init__(self, handle: _database.QueryHandle):
        self._h = handle

    def query(self, sql: str, *params: Any) -> List[Dict[str, Any]]:
        try:
            rows = self._h.query(sql, [_to_value(p) for p in params])
        except Err as e:
            raise _db_error(e) from None
        return [dict(zip(rows.columns, map(_from_value, r))) for r in rows.rows]

    def table(self, sql: str, *params: Any) -> Dict[str, Any]:
        """The result as `{"columns": [...], "rows": [[...]], "truncated": bool}` (the shape the Rust
        SDK's `Table` serializes to)."""
        try:
            rows = self._h.query(sql, [_to_value(p) for p in params])
        except Err as e:
            raise _db_error(e) from None
        return {
            "columns": list(rows.columns),
            "rows": [[_from_value(v) for v in r] for r in rows.rows],
            "truncated": rows.truncated,
        }

    def execute(self, sql: str, *params: Any) -> int:
        try:
            return self._h.execute(sql, [_to_value(p) for p in params])
        except Err as e:
            raise _db_error(e) from None


# --- context ----------------------------------------------------------------------------------

def _try_json(text_: str) -> Any:
    try:
        return json.loads(text_)
    except ValueError:
        return None


def _envelope(state: Optional[str]) -> Optional[Dict[str, Any]]:
    v = None if state is None else _try_json(state)
    if isinstance(v, dict) and v.get("warden_sdk") == 1 and isinstance(v.get("answers"), dict):
        return v
    return None


_JSON_TYPES = {"string": str, "boolean": bool, "number": (int, float), "integer": int, "array": list, "object": dict}


def _conforms(schema: Dict[str, Any], value: Any) -> bool:
    """Whether an elicitation answer fits the (flat) schema it was asked with."""
    if not isinstance(value, dict):
        return False
    if any(name not in value for name in schema.get("required", [])):
        return False
    for name, prop in (schema.get("properties") or {}).items():
        t = _JSON_TYPES.get(prop.get("type")) if isinstance(prop, dict) else None
        if name in value and t is not None:
            x = value[name]
            if not isinstance(x, t) or (isinstance(x, bool) and prop.get("type") != "boolean"):
                return False
    return True

class Context:
    """What a tool gets besides its arguments: the caller, logging, progress, cancellation, the
    database (if the manifest grants one) and outbound HTTP (`warden_sdk.http`)."""

    def __init__(self, req: wt.Request, cx: _context.CallContext, db: Optional[_database.QueryHandle]):
        self.request = req
        self._cx = cx
        self._db = Database(db) if db is not None else None
        self.http = http
        # Every answer so far (the host hands a round only the previous round's answers), carried
        # in the SDK's own `state` envelope, which the host seals.
        carried = _envelope(req.state)
        self._answers: Dict[str, str] = dict(carried["answers"]) if carried else {}
        for r in req.input_responses:
            self._answers[r.key] = r.result_json
        if carried is not None:
            self._user_state = carried.get("user")
        else:
            self._user_state = None if req.state is None else _try_json(req.state)

    def _next_state(self) -> str:
        return json.dumps({"warden_sdk": 1, "answers": self._answers, "user": self._user_state})

    @property
    def caller(self) -> wt.Identity:
        return self.request.caller

    @property
    def claims(self) -> Dict[str, Any]:
        return json.loads(self.request.caller.claims_json)

    @property
    def db(self) -> Database:
        if self._db is None:
            raise Forbidden("this plugin's manifest grants no database")
        return self._db

    def log(self, message: str, level: Level = Level.INFO, logger: Optional[str] = None) -> None:
        self._cx.log(level, logger, message)

    def debug(self, message: str) -> None:
        self.log(message, Level.DEBUG)

    def info(self, message: str) -> None:
        self.log(message, Level.INFO)

    def warning(self, message: str) -> None:
        self.log(message, Level.WARNING)

    def error(self, message: str) -> None:
        self.log(message, Level.ERROR)

    def progress(self, progress: float, total: Optional[float] = None, message: Optional[str] = None) -> None:
        self._cx.progress(float(progress), None if total is None else float(total), message)

    @property
    def cancelled(self) -> bool:
        return self._cx.is_cancelled()

    @property
    def state(self) -> Any:
        """What `set_state` stored in an earlier round of this request, if anything."""
        return self._user_state

    def set_state(self, value: Any) -> None:
        """Keeps `value` (any JSON value) for the rounds that follow an `elicit` or `sample`."""
        self._user_state = value

    def _answer(self, key: str) -> Any:
        text_ = self._answers.get(key)
        return None if text_ is None else _try_json(text_)

    def elicit(self, key: str, message: str, schema: Dict[str, Any]) -> Dict[str, Any]:
        """Asks the user (MCP elicitation) for an object matching `schema` and returns it. The
        first time, the handler stops here: the client is asked, and the handler runs again, from
        the start, with the answer. A declined or cancelled request fails the call."""
        answer = self._answer(key)
        if isinstance(answer, dict):
            action = answer.get("action")
            content = answer.get("content", {})
            if action == "accept" and _conforms(schema, content):
                return content
            if action == "decline":
                raise PluginError(f"the user declined the request {key!r}")
            if action == "cancel":
                raise PluginError(f"the user cancelled the request {key!r}")
        if not (self.request.client_capabilities & wt.ClientCapabilities.ELICITATION):
            raise MissingCapability(wt.ClientCapabilities.ELICITATION)
        raise _InputNeeded(key, wt.InputRequest_Elicitation(wt.Elicitation(message, json.dumps(schema))))

    def sample(self, key: str, prompt: str, max_tokens: int = 256) -> str:
        """Asks the client's model (MCP sampling) and returns the text of its answer; like
        `elicit`, the handler runs again with the answer."""
        answer = self._answer(key)
        if isinstance(answer, dict) and "content" in answer:
            blocks = answer["content"]
            texts = [b["text"] for b in (blocks if isinstance(blocks, list) else [blocks])
                     if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)]
            if not texts:
                raise PluginError(f"the answer to {key!r} holds no text")
            return "\n".join(texts)
        if not (self.request.client_capabilities & wt.ClientCapabilities.SAMPLING):
            raise MissingCapability(wt.ClientCapabilities.SAMPLING)
        msg = wt.SamplingMessage(wt.Role.USER, wt.Content_Text(prompt))
        raise _InputNeeded(key, wt.InputRequest_Sampling(wt.Sampling([msg], None, max_tokens)))


# --- tools: type hints -> JSON Schema ---------------------------------------------------------

_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _schema(tp: Any) -> Dict[str, Any]:
    if tp in _SIMPLE:
        return {"type": _SIMPLE[tp]}
    if tp is inspect.Parameter.empty or tp is Any:
        return {}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, List, tuple, Tuple):
        return {"type": "array", "items": _schema(args[0]) if args else {}}
    if origin in (dict, Dict) or tp is dict:
        return {"type": "object"}
    if tp is list:
        return {"type": "array"}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin is Union or origin is _pytypes.UnionType:
        rest = [a for a in args if a is not type(None)]
        return _schema(rest[0]) if len(rest) == 1 else {"anyOf": [_schema(a) for a in rest]}
    if origin is typing.Annotated:  # Annotated[str, "description"]
        s = _schema(args[0])
        s.update({"description": a for a in args[1:] if isinstance(a, str)})
        return s
    raise TypeError(f"warden_sdk: no JSON Schema for the type hint {tp!r}")


def _signature(f: Callable[..., Any]) -> Tuple[bool, List[inspect.Parameter], Dict[str, Any]]:
    """Whether `f` wants the context first, its other parameters, and its type hints."""
    hints = typing.get_type_hints(f, include_extras=True)
    params = list(inspect.signature(f).parameters.values())
    wants_context = bool(params) and (hints.get(params[0].name) is Context or params[0].name == "cx")
    return wants_context, params[1:] if wants_context else params, hints


def _description(tp: Any) -> Optional[str]:
    if typing.get_origin(tp) is typing.Annotated:
        return next((a for a in typing.get_args(tp)[1:] if isinstance(a, str)), None)
    return None


@dataclass
class _Tool:
    fn: Callable[..., Any]
    spec: wt.ToolSpec
    wants_context: bool
    params: List[str] = field(default_factory=list)


_TOOLS: Dict[str, _Tool] = {}


def tool(fn: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None, title: Optional[str] = None,
         description: Optional[str] = None, output_schema: Optional[Dict[str, Any]] = None):
    """Registers a function as a tool. Its type hints become the input schema; its docstring the
    description. A first parameter annotated `Context` (or named `cx`) receives the context."""

    def register(f: Callable[..., Any]) -> Callable[..., Any]:
        wants_context, params, hints = _signature(f)
        props: Dict[str, Any] = {}
        required: List[str] = []
        for p in params:
            props[p.name] = _schema(hints.get(p.name, inspect.Parameter.empty))
            if p.default is inspect.Parameter.empty:
                required.append(p.name)
        schema = {"type": "object", "properties": props, "required": required, "additionalProperties": False}
        tname = name or f.__name__
        if tname in _TOOLS:
            raise ValueError(f"warden_sdk: two tools named {tname!r}")
        _TOOLS[tname] = _Tool(
            fn=f,
            spec=wt.ToolSpec(
                name=tname,
                title=title,
                description=description or inspect.getdoc(f) or tname,
                input_schema=json.dumps(schema),
                output_schema=json.dumps(output_schema) if output_schema else None,
            ),
            wants_context=wants_context,
            params=[p.name for p in params],
        )
        return f

    return register(fn) if fn is not None else register


# --- resources and prompts --------------------------------------------------------------------

Completer = Callable[[str, Dict[str, str]], List[str]]


@dataclass
class _Resource:
    fn: Callable[..., Any]
    uri: str
    name: str
    title: Optional[str]
    description: Optional[str]
    mime_type: Optional[str]
    wants_context: bool
    complete: Dict[str, Completer]
    pattern: Optional[List[str]]  # a template's literals and {variables}; None: a fixed URI


_RESOURCES: List[_Resource] = []


def resource(uri: str, *, name: Optional[str] = None, title: Optional[str] = None,
             description: Optional[str] = None, mime_type: Optional[str] = None,
             complete: Optional[Dict[str, Completer]] = None):
    """Registers a function as a resource (a fixed `uri`) or a resource template (a `uri` with
    `{name}` parts, passed to the function as keyword arguments). It returns the contents: str,
    bytes, or a list of `embedded(...)` blocks. `complete` maps a part to its completions."""

    def register(f: Callable[..., Any]) -> Callable[..., Any]:
        wants_context, params, _ = _signature(f)
        parts = re.findall(r"\{([^}]+)\}", uri)
        if sorted(parts) != sorted(p.name for p in params):
            raise ValueError(f"warden_sdk: resource {uri!r}: the function's parameters must be exactly {parts}")
        pattern = [p for p in re.split(r"(\{[^}]+\})", uri) if p] if parts else None
        _RESOURCES.append(_Resource(f, uri, name or f.__name__, title, description or inspect.getdoc(f),
                                    mime_type, wants_context, dict(complete or {}), pattern))
        # Most specific first, as the host routes: the longest literal prefix, then the text.
        _RESOURCES.sort(key=lambda r: (r.pattern is not None, -len(r.uri.split("{", 1)[0]), r.uri))
        return f

    return register


@dataclass
class _Prompt:
    fn: Callable[..., Any]
    spec: wt.PromptSpec
    wants_context: bool
    complete: Dict[str, Completer]


_PROMPTS: Dict[str, _Prompt] = {}


def prompt(fn: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None, title: Optional[str] = None,
           description: Optional[str] = None, complete: Optional[Dict[str, Completer]] = None):
    """Registers a function as a prompt. Its parameters are the prompt's (string) arguments,
    required unless they have a default; `Annotated[str, "..."]` describes one. It returns a str
    (one user message), a list of `user(...)`/`assistant(...)` messages, or a list of strs."""

    def register(f: Callable[..., Any]) -> Callable[..., Any]:
        wants_context, params, hints = _signature(f)
        pname = name or f.__name__
        if pname in _PROMPTS:
            raise ValueError(f"warden_sdk: two prompts named {pname!r}")
        args = [wt.PromptArgument(p.name, _description(hints.get(p.name)), p.default is inspect.Parameter.empty)
                for p in params]
        _PROMPTS[pname] = _Prompt(
            f, wt.PromptSpec(pname, title, description or inspect.getdoc(f) or pname, args),
            wants_context, dict(complete or {}))
        return f

    return register(fn) if fn is not None else register


# --- outcomes ---------------------------------------------------------------------------------

def _content(c: Any) -> wt.Content:
    if isinstance(c, str):
        return wt.Content_Text(c)
    if isinstance(c, (wt.Content_Text, wt.Content_Image, wt.Content_Audio, wt.Content_ResourceLink,
                      wt.Content_Embedded)):
        return c
    raise TypeError(f"warden_sdk: a {type(c).__name__} is not a content block; use text(), image(), ...")


def _outcome(value: Any) -> wt.ToolOutcome:
    if isinstance(value, (wt.ToolOutcome_Complete, wt.ToolOutcome_InputRequired)):
        return value
    if isinstance(value, wt.ToolResult):
        return wt.ToolOutcome_Complete(value)
    if isinstance(value, Result):
        if value.structured is not None and not isinstance(value.structured, dict):
            raise TypeError("warden_sdk: structured content must be a dict (a JSON object)")
        structured = None if value.structured is None else _json(value.structured)
        return wt.ToolOutcome_Complete(wt.ToolResult([_content(c) for c in value.content], structured, value.is_error))
    if value is None:
        content: List[wt.Content] = []
        structured = None
    elif isinstance(value, str):
        content, structured = [wt.Content_Text(value)], None
    elif isinstance(value, (dict, list, int, float, bool)):
        text_ = _json(value)
        # MCP structured content is an object; other JSON values are text only.
        content, structured = [wt.Content_Text(text_)], text_ if isinstance(value, dict) else None
    else:
        raise TypeError(f"warden_sdk: a tool returned a {type(value).__name__}; return str, dict, list or Result")
    return wt.ToolOutcome_Complete(wt.ToolResult(content=content, structured_json=structured, is_error=False))


def _json(value: Any) -> str:
    """JSON text of a tool's result: bytes as text (UTF-8, else hex), no NaN or infinities."""
    def default(o: Any) -> Any:
        if isinstance(o, (bytes, bytearray)):
            try:
                return bytes(o).decode("utf-8")
            except UnicodeDecodeError:
                return bytes(o).hex()
        raise TypeError(f"a {type(o).__name__} is not JSON")
    return json.dumps(value, default=default, allow_nan=False)


def _input_required(e: _InputNeeded, context: "Context") -> wt.InputRequired:
    return wt.InputRequired([(e.key, e.request)], context._next_state())


_PLUGIN_ERRORS = (wt.PluginError_InvalidArguments, wt.PluginError_Forbidden, wt.PluginError_NotFound,
                  wt.PluginError_MissingClientCapabilities, wt.PluginError_Failed)


def _guarded(cx: Optional[_context.CallContext], run: Callable[[], Any]) -> Any:
    """Runs one export body; every exception leaves as `Err(plugin-error)`, never as a trap."""
    try:
        return run()
    except Err as e:
        if isinstance(e.value, _PLUGIN_ERRORS):
            raise  # already a plugin-error
        raise Err(wt.PluginError_Failed(f"an import failed: {e.value!r}")) from None
    except PluginError as e:
        raise Err(e.to_wit()) from None
    except BaseException as e:  # noqa: BLE001  (SystemExit too: it would trap)
        if cx is not None:
            try:
                cx.log(Level.ERROR, "warden_sdk", traceback.format_exc())
            except BaseException:  # noqa: BLE001
                pass
        raise Err(wt.PluginError_Failed(f"{type(e).__name__}: {e}")) from None


def _call(wants_context: bool, fn: Callable[..., Any], context: "Context", kwargs: Dict[str, Any]) -> Any:
    return fn(*([context] if wants_context else []), **kwargs)


def _find_resource(uri: str) -> Optional[Tuple[_Resource, Dict[str, str]]]:
    for r in _RESOURCES:
        if r.pattern is None and r.uri == uri:
            return r, {}
    for r in _RESOURCES:
        params = _template_params(r.pattern, uri) if r.pattern is not None else None
        if params is not None:
            return r, params
    return None


def _template_params(parts: List[str], uri: str) -> Optional[Dict[str, str]]:
    """A template's variables if `uri` matches, exactly as the host matches: literals match
    themselves; a {name} is a non-empty run without '/', '?' or '#', ending where the next
    literal first appears. Values are not percent-decoded."""
    params: Dict[str, str] = {}
    rest = uri
    for i, part in enumerate(parts):
        if not (part.startswith("{") and part.endswith("}")):
            if not rest.startswith(part):
                return None
            rest = rest[len(part):]
            continue
        stop = next((j for j, c in enumerate(rest) if c in "/?#"), len(rest))
        nxt = parts[i + 1] if i + 1 < len(parts) else None
        found = rest[:stop].find(nxt) if nxt is not None else -1
        end = stop if found == -1 else found
        if end == 0:
            return None
        params[part[1:-1]] = rest[:end]
        rest = rest[end:]
    return params if rest == "" else None


# --- the export -------------------------------------------------------------------------------

MAX_COMPLETIONS = 100


class Server(_exports.Server):
    """The `server` export. A plugin's app module only has to import it."""

    def describe(self) -> wt.Offer:
        fixed = [r for r in _RESOURCES if r.pattern is None]
        templates = [r for r in _RESOURCES if r.pattern is not None]
        return wt.Offer(
            tools=[t.spec for t in _TOOLS.values()],
            resources=[wt.ResourceSpec(r.uri, r.name, r.title, r.description, r.mime_type) for r in fixed],
            resource_templates=[wt.ResourceTemplateSpec(r.uri, r.name, r.title, r.description, r.mime_type)
                                for r in templates],
            prompts=[p.spec for p in _PROMPTS.values()],
        )

    def call_tool(self, name: str, arguments_json: str, req: wt.Request, cx: _context.CallContext,
                  db: Optional[_database.QueryHandle]) -> wt.ToolOutcome:
        def run() -> wt.ToolOutcome:
            t = _TOOLS.get(name)
            if t is None:
                raise NotFound(f"no tool {name!r}")
            try:
                args = json.loads(arguments_json) if arguments_json else {}
            except ValueError as e:
                raise InvalidArguments(f"arguments are not JSON: {e}") from None
            if not isinstance(args, dict):
                raise InvalidArguments("arguments must be a JSON object")
            unknown = set(args) - set(t.params)
            if unknown:
                raise InvalidArguments(f"unknown argument(s): {', '.join(sorted(unknown))}")
            context = Context(req, cx, db)
            try:
                value = _call(t.wants_context, t.fn, context, args)
            except ToolError as e:
                return wt.ToolOutcome_Complete(wt.ToolResult([wt.Content_Text(str(e))], None, True))
            except _InputNeeded as e:
                return wt.ToolOutcome_InputRequired(_input_required(e, context))
            return _outcome(value)

        return _guarded(cx, run)

    def read_resource(self, uri: str, req: wt.Request, cx: _context.CallContext,
                      db: Optional[_database.QueryHandle]) -> wt.ReadOutcome:
        def run() -> wt.ReadOutcome:
            found = _find_resource(uri)
            if found is None:
                raise NotFound(f"no resource {uri!r}")
            r, params = found
            context = Context(req, cx, db)
            try:
                out = _call(r.wants_context, r.fn, context, params)
            except _InputNeeded as e:
                return wt.ReadOutcome_InputRequired(_input_required(e, context))
            if isinstance(out, str):
                return wt.ReadOutcome_Complete([wt.ResourceContents(uri, r.mime_type, wt.ResourceBody_Text(out))])
            if isinstance(out, (bytes, bytearray)):
                return wt.ReadOutcome_Complete([wt.ResourceContents(uri, r.mime_type, wt.ResourceBody_Blob(bytes(out)))])
            contents = []
            for c in out:
                if not isinstance(c, wt.Content_Embedded):
                    raise TypeError("warden_sdk: a resource returns str, bytes or a list of embedded(...)")
                contents.append(c.value)
            return wt.ReadOutcome_Complete(contents)

        return _guarded(cx, run)

    def get_prompt(self, name: str, arguments: List[Tuple[str, str]], req: wt.Request, cx: _context.CallContext,
                   db: Optional[_database.QueryHandle]) -> wt.PromptOutcome:
        def run() -> wt.PromptOutcome:
            p = _PROMPTS.get(name)
            if p is None:
                raise NotFound(f"no prompt {name!r}")
            given = dict(arguments)
            known = {a.name for a in p.spec.arguments}
            unknown = set(given) - known
            if unknown:
                raise InvalidArguments(f"unknown argument(s): {', '.join(sorted(unknown))}")
            missing = [a.name for a in p.spec.arguments if a.required and a.name not in given]
            if missing:
                raise InvalidArguments(f"missing argument(s): {', '.join(missing)}")
            context = Context(req, cx, db)
            try:
                out = _call(p.wants_context, p.fn, context, given)
            except _InputNeeded as e:
                return wt.PromptOutcome_InputRequired(_input_required(e, context))
            if isinstance(out, wt.PromptResult):
                return wt.PromptOutcome_Complete(out)
            messages = [out] if isinstance(out, (str, wt.PromptMessage)) else list(out)
            return wt.PromptOutcome_Complete(wt.PromptResult(
                None, [m if isinstance(m, wt.PromptMessage) else user(m) for m in messages]))

        return _guarded(cx, run)

    def complete(self, of: wt.CompletionRef, argument: str, value: str, context_arguments: List[Tuple[str, str]],
                 caller: wt.Identity) -> wt.Completion:
        def run() -> wt.Completion:
            completer: Optional[Completer] = None
            if isinstance(of, wt.CompletionRef_Prompt):
                p = _PROMPTS.get(of.value)
                completer = p.complete.get(argument) if p else None
            else:
                r = next((r for r in _RESOURCES if r.uri == of.value), None)
                completer = r.complete.get(argument) if r else None
            values = list(completer(value, dict(context_arguments))) if completer else []
            return wt.Completion(values[:MAX_COMPLETIONS], len(values), len(values) > MAX_COMPLETIONS)

        return _guarded(None, run)
