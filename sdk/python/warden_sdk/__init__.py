"""warden_sdk (prototype): write a Warden plugin (warden:plugin@0.2.0) as decorated, type-hinted
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
    "Server", "Context", "Database", "tool", "Level", "http",
    "PluginError", "InvalidArguments", "Forbidden", "NotFound", "ToolError",
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


class ToolError(Exception):
    """A tool result with `is-error: true`: the model sees the message (MCP `isError`)."""


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

class Context:
    """What a tool gets besides its arguments: the caller, logging, progress, cancellation, the
    database (if the manifest grants one) and outbound HTTP (`warden_sdk.http`)."""

    def __init__(self, req: wt.Request, cx: _context.CallContext, db: Optional[_database.QueryHandle]):
        self.request = req
        self._cx = cx
        self._db = Database(db) if db is not None else None
        self.http = http

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
        hints = typing.get_type_hints(f, include_extras=True)
        params = list(inspect.signature(f).parameters.values())
        wants_context = bool(params) and (hints.get(params[0].name) is Context or params[0].name == "cx")
        if wants_context:
            params = params[1:]
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


def _outcome(value: Any) -> wt.ToolOutcome:
    if isinstance(value, (wt.ToolOutcome_Complete, wt.ToolOutcome_InputRequired)):
        return value
    if isinstance(value, wt.ToolResult):
        return wt.ToolOutcome_Complete(value)
    if value is None:
        content: List[wt.Content] = []
        structured = None
    elif isinstance(value, str):
        content, structured = [wt.Content_Text(value)], None
    elif isinstance(value, (dict, list, int, float, bool)):
        text = json.dumps(value)
        content, structured = [wt.Content_Text(text)], text
    else:
        raise TypeError(f"warden_sdk: a tool returned a {type(value).__name__}; return str, dict, list or ToolResult")
    return wt.ToolOutcome_Complete(wt.ToolResult(content=content, structured_json=structured, is_error=False))


def _guarded(cx: Optional[_context.CallContext], run: Callable[[], Any]) -> Any:
    """Runs one export body; every exception leaves as `Err(plugin-error)`, never as a trap."""
    try:
        return run()
    except Err:
        raise  # already a plugin-error
    except PluginError as e:
        raise Err(e.to_wit()) from None
    except BaseException as e:  # noqa: BLE001  (SystemExit too: it would trap)
        if cx is not None:
            try:
                cx.log(Level.ERROR, "warden_sdk", traceback.format_exc())
            except BaseException:  # noqa: BLE001
                pass
        raise Err(wt.PluginError_Failed(f"{type(e).__name__}: {e}")) from None


# --- the export -------------------------------------------------------------------------------

class Server(_exports.Server):
    """The `server` export. A plugin's app module only has to import it."""

    def describe(self) -> wt.Offer:
        return wt.Offer(tools=[t.spec for t in _TOOLS.values()], resources=[], resource_templates=[], prompts=[])

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
            call_args = [Context(req, cx, db)] if t.wants_context else []
            try:
                value = t.fn(*call_args, **args)
            except ToolError as e:
                return wt.ToolOutcome_Complete(wt.ToolResult([wt.Content_Text(str(e))], None, True))
            return _outcome(value)

        return _guarded(cx, run)

    def read_resource(self, uri: str, req: wt.Request, cx: _context.CallContext,
                      db: Optional[_database.QueryHandle]) -> wt.ReadOutcome:
        raise Err(wt.PluginError_NotFound(f"no resource {uri!r}"))

    def get_prompt(self, name: str, arguments: List[Tuple[str, str]], req: wt.Request, cx: _context.CallContext,
                   db: Optional[_database.QueryHandle]) -> wt.PromptOutcome:
        raise Err(wt.PluginError_NotFound(f"no prompt {name!r}"))

    def complete(self, of: wt.CompletionRef, argument: str, value: str, context_arguments: List[Tuple[str, str]],
                 caller: wt.Identity) -> wt.Completion:
        raise Err(wt.PluginError_NotFound("no completions"))
