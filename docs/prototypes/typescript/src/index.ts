/// <reference path="../wit-types/plugin.d.ts" />
// Warden plugin SDK (contract warden:plugin@0.2.0) for componentize-js.
// Only type imports from `warden:plugin/*`: they vanish when bundled, so the SDK needs no
// runtime import of the world's interfaces (the host objects arrive as call arguments).
import type {
  Identity, Request, Offer, PluginError, ToolOutcome, ReadOutcome, PromptOutcome, CompletionRef,
  Completion, Content, ToolResult, ToolSpec, ResourceSpec, ResourceTemplateSpec, PromptSpec,
  ResourceContents, PromptResult, InputRequired, InputRequest, PromptArgument,
} from 'warden:plugin/types@0.2.0';
import type { CallContext, Level } from 'warden:plugin/context@0.2.0';
import type { QueryHandle, Value, Rows } from 'warden:plugin/database@0.2.0';

export type { Identity, Request, Content, ToolResult, Value, Rows, Level, CallContext, QueryHandle };

/** Thrown by handlers to return a typed `plugin-error`. Anything else becomes `failed(message)`. */
export class WardenError extends Error {
  constructor(readonly error: PluginError) {
    super('val' in error && typeof error.val === 'string' ? error.val : error.tag);
  }
}
export const invalidArguments = (m: string) => new WardenError({ tag: 'invalid-arguments', val: m });
export const forbidden = (m: string) => new WardenError({ tag: 'forbidden', val: m });
export const notFound = (m: string) => new WardenError({ tag: 'not-found', val: m });
export const failed = (m: string) => new WardenError({ tag: 'failed', val: m });

/** Marker returned by a handler to ask the client for input first. */
export class NeedInput { constructor(readonly value: InputRequired) {} }
export const inputRequired = (requests: Record<string, InputRequest>, state?: unknown) =>
  new NeedInput({ requests: Object.entries(requests), state: state === undefined ? undefined : JSON.stringify(state) });

/** Database wrapper: throws WardenError instead of the raw db-error ComponentError. */
export interface Db {
  query(sql: string, params?: Value[]): Rows;
  execute(sql: string, params?: Value[]): bigint;
}

export interface Ctx {
  caller: Identity;
  request: Request;
  /** Previous round's state (parsed JSON), if any. */
  state: unknown;
  /** Answers to the previous round's input requests, by key (parsed JSON). */
  answers: Record<string, unknown>;
  log(level: Level, message: string, logger?: string): void;
  progress(progress: number, total?: number, message?: string): void;
  isCancelled(): boolean;
  /** Present only if the manifest grants a database. */
  db?: Db;
}

type JsonSchema = { type: 'object'; properties?: Record<string, unknown>; required?: readonly string[]; [k: string]: unknown };
type ToolReturn = string | Content[] | ToolResult | { structured: unknown; text?: string } | NeedInput;

export interface ToolDef<A = any> {
  name: string;
  title?: string;
  description: string;
  input: JsonSchema;
  output?: JsonSchema;
  handler(args: A, ctx: Ctx): ToolReturn | Promise<ToolReturn>;
}
export const tool = <A = any>(def: ToolDef<A>): ToolDef<A> => def;

export interface ResourceDef {
  uri: string; name: string; title?: string; description?: string; mimeType?: string;
  read(uri: string, ctx: Ctx): string | ResourceContents[] | NeedInput | Promise<string | ResourceContents[] | NeedInput>;
}
export const resource = (def: ResourceDef): ResourceDef => def;

export interface PromptDef {
  name: string; title?: string; description: string; arguments?: PromptArgument[];
  render(args: Record<string, string>, ctx: Ctx): PromptResult | string | NeedInput | Promise<PromptResult | string | NeedInput>;
}
export const prompt = (def: PromptDef): PromptDef => def;

export interface PluginDef {
  tools?: ToolDef[];
  resources?: ResourceDef[];
  prompts?: PromptDef[];
  complete?(of: CompletionRef, argument: string, value: string, context: Record<string, string>, caller: Identity): string[] | Completion;
}

const DB_ERRORS = new Set(['not-permitted', 'denied', 'invalid', 'timeout', 'unavailable']);
const PLUGIN_ERRORS = new Set(['invalid-arguments', 'forbidden', 'not-found', 'missing-client-capabilities', 'failed']);

/** Maps any thrown value to a plugin-error (componentize-js traps on anything else). */
function toPluginError(e: any): PluginError {
  if (e instanceof WardenError) return e.error;
  // Import errors arrive as ComponentError { payload: <db-error> }.
  const p = e && typeof e === 'object' && 'payload' in e ? e.payload : e;
  if (p && typeof p === 'object' && PLUGIN_ERRORS.has(p.tag)) return p as PluginError;
  if (p && typeof p === 'object' && DB_ERRORS.has(p.tag)) {
    const msg = `database: ${p.tag}${p.val ? `: ${p.val}` : ''}`;
    return p.tag === 'not-permitted' || p.tag === 'denied' ? { tag: 'forbidden', val: msg } : { tag: 'failed', val: msg };
  }
  return { tag: 'failed', val: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
}

/** Runs `f`; a WIT `result` export returns ok by value and err by throwing the payload. */
async function guard<T>(f: () => Promise<T> | T): Promise<T> {
  try { return await f(); } catch (e) { throw toPluginError(e); }
}

function makeCtx(req: Request, cx: CallContext, db: QueryHandle | undefined): Ctx {
  const answers: Record<string, unknown> = {};
  for (const r of req.inputResponses) answers[r.key] = JSON.parse(r.resultJson);
  return {
    caller: req.caller, request: req, answers,
    state: req.state === undefined ? undefined : JSON.parse(req.state),
    log: (level, message, logger) => cx.log(level, logger, message),
    progress: (p, total, message) => cx.progress(p, total, message),
    isCancelled: () => cx.isCancelled(),
    db: db && {
      query: (sql, params = []) => db.query(sql, params),
      execute: (sql, params = []) => db.execute(sql, params),
    },
  };
}

function toToolResult(r: Exclude<ToolReturn, NeedInput>): ToolResult {
  if (typeof r === 'string') return { content: [{ tag: 'text', val: r }], isError: false };
  if (Array.isArray(r)) return { content: r, isError: false };
  if ('structured' in r) {
    const json = JSON.stringify(r.structured);
    return { content: [{ tag: 'text', val: r.text ?? json }], structuredJson: json, isError: false };
  }
  return r;
}

function templateMatch(template: string, uri: string): boolean {
  const re = new RegExp('^' + template.split(/\{[^}]+\}/).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^/]+') + '$');
  return re.test(uri);
}

/** Builds the `server` export object. Use as: `export const server = plugin({ tools: [...] })`. */
export function plugin(def: PluginDef) {
  const tools = new Map((def.tools ?? []).map((t) => [t.name, t]));
  const prompts = new Map((def.prompts ?? []).map((p) => [p.name, p]));
  const resources = def.resources ?? [];
  return {
    describe(): Offer {
      return {
        tools: [...tools.values()].map((t): ToolSpec => ({
          name: t.name, title: t.title, description: t.description,
          inputSchema: JSON.stringify(t.input), outputSchema: t.output && JSON.stringify(t.output),
        })),
        resources: resources.filter((r) => !r.uri.includes('{')).map(({ uri, name, title, description, mimeType }): ResourceSpec => ({ uri, name, title, description, mimeType })),
        resourceTemplates: resources.filter((r) => r.uri.includes('{')).map(({ uri, name, title, description, mimeType }): ResourceTemplateSpec => ({ uriTemplate: uri, name, title, description, mimeType })),
        prompts: [...prompts.values()].map((p): PromptSpec => ({ name: p.name, title: p.title, description: p.description, arguments: p.arguments ?? [] })),
      };
    },
    callTool(name: string, argumentsJson: string, req: Request, cx: CallContext, db: QueryHandle | undefined): Promise<ToolOutcome> {
      return guard(async () => {
        const t = tools.get(name);
        if (!t) throw notFound(`no tool named ${name}`);
        const r = await t.handler(JSON.parse(argumentsJson), makeCtx(req, cx, db));
        return r instanceof NeedInput ? { tag: 'input-required', val: r.value } : { tag: 'complete', val: toToolResult(r) };
      });
    },
    readResource(uri: string, req: Request, cx: CallContext, db: QueryHandle | undefined): Promise<ReadOutcome> {
      return guard(async () => {
        const r = resources.find((r) => r.uri === uri) ?? resources.find((r) => templateMatch(r.uri, uri));
        if (!r) throw notFound(`no resource ${uri}`);
        const out = await r.read(uri, makeCtx(req, cx, db));
        if (out instanceof NeedInput) return { tag: 'input-required', val: out.value };
        return { tag: 'complete', val: typeof out === 'string' ? [{ uri, mimeType: r.mimeType, body: { tag: 'text', val: out } }] : out };
      });
    },
    getPrompt(name: string, args: Array<[string, string]>, req: Request, cx: CallContext, db: QueryHandle | undefined): Promise<PromptOutcome> {
      return guard(async () => {
        const p = prompts.get(name);
        if (!p) throw notFound(`no prompt named ${name}`);
        const out = await p.render(Object.fromEntries(args), makeCtx(req, cx, db));
        if (out instanceof NeedInput) return { tag: 'input-required', val: out.value };
        return { tag: 'complete', val: typeof out === 'string' ? { messages: [{ role: 'user', content: { tag: 'text', val: out } }] } : out };
      });
    },
    complete(of: CompletionRef, argument: string, value: string, contextArguments: Array<[string, string]>, caller: Identity): Promise<Completion> {
      return guard(async () => {
        if (!def.complete) return { values: [], hasMore: false };
        const r = def.complete(of, argument, value, Object.fromEntries(contextArguments), caller);
        return Array.isArray(r) ? { values: r.slice(0, 100), total: r.length, hasMore: r.length > 100 } : r;
      });
    },
  };
}
