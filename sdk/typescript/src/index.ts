// @warden/plugin-sdk: write a Warden plugin (contract warden:plugin@0.2.0) in TypeScript, build
// it with `warden-ts-build` (esbuild, then componentize-js).
//
//     import { plugin, tool } from '@warden/plugin-sdk';
//     export const server = plugin({ tools: [
//       tool({
//         name: 'greet', description: 'Greets someone by name.',
//         input: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
//         handler: ({ name }, cx) => `Hello, ${name}! You are ${cx.caller.subject}.`,
//       }),
//     ] });
//
// Facts this module is written around (componentize-js 0.23):
// * The bundle's top level runs once, at build time (a Wizer snapshot); each call gets a fresh
//   instance of that snapshot. Nothing a call does survives it.
// * An exception escaping an export traps the instance with a message the host never sees, so
//   every export is guarded: exceptions become plugin-error values, the stack goes to `cx.log`.
// * The host objects (call context, query handle) arrive as arguments; the only import the SDK
//   makes itself is wasi:cli/environment (the HTTP destinations' URLs).

/// <reference path="./wasi.d.ts" />
import { getEnvironment } from 'wasi:cli/environment@0.2.12';
import type { FromSchema, ObjectSchema, Schema } from './schema.ts';
import type * as wit from './wit.ts';

export type { FromSchema, ObjectSchema, Schema, wit };
export type { Identity, Level, Content, PromptMessage, ResourceContents } from './wit.ts';

// --- errors ------------------------------------------------------------------------------------

/** Fails the request with a `plugin-error` (the MCP error the client gets). */
export class PluginError extends Error {
  /** The WIT value this error becomes. */
  readonly wit: wit.PluginError;
  constructor(error: wit.PluginError) {
    super(typeof error.val === 'string' ? error.val : error.tag);
    this.name = 'PluginError';
    this.wit = error;
  }
}

/** The arguments are wrong: the model can fix them (MCP -32602). */
export const invalidArguments = (message: string) => new PluginError({ tag: 'invalid-arguments', val: message });
/** The caller may not do this. */
export const forbidden = (message: string) => new PluginError({ tag: 'forbidden', val: message });
/** No such tool, resource or prompt. */
export const notFound = (message: string) => new PluginError({ tag: 'not-found', val: message });
/** Any other failure. */
export const failed = (message: string) => new PluginError({ tag: 'failed', val: message });

/** A tool result with `isError: true`: the model sees the message (MCP `isError`). */
export class ToolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ToolError';
  }
}

/** Thrown by `cx.elicit`/`cx.sample` when the client must answer first; the SDK turns it into
 *  `input-required` and the handler runs again, from the start, with the answer. */
class InputNeeded {
  constructor(readonly key: string, readonly request: wit.InputRequest) {}
}

const PLUGIN_ERRORS = new Set(['invalid-arguments', 'forbidden', 'not-found', 'missing-client-capabilities', 'failed']);

/** Any thrown value as a plugin-error (componentize-js traps on anything else). Duck-typed:
 *  the bindings' error class lives in another realm, so `instanceof` is unreliable. */
function toPluginError(e: any): wit.PluginError {
  if (e instanceof PluginError) return e.wit;
  const p = e && typeof e === 'object' && 'payload' in e ? e.payload : e;
  if (p && typeof p === 'object' && PLUGIN_ERRORS.has(p.tag)) {
    const ok = p.tag === 'missing-client-capabilities' ? p.val && typeof p.val === 'object' : typeof p.val === 'string';
    if (ok) return { tag: p.tag, val: p.val } as wit.PluginError;
  }
  if (e && typeof e === 'object' && typeof e.message === 'string') {
    return { tag: 'failed', val: `${e.name ?? 'Error'}: ${e.message}` };
  }
  return { tag: 'failed', val: String(e) };
}

async function guard<T>(cx: wit.CallContext | undefined, f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (e: any) {
    const error = toPluginError(e);
    if (cx && error.tag === 'failed' && e && typeof e.stack === 'string' && e.stack) {
      try {
        cx.log('error', 'warden-sdk', `${error.val}\n${e.stack}`);
      } catch {
        // logging is best effort
      }
    }
    throw error;
  }
}

// --- database ----------------------------------------------------------------------------------

/** A value a query takes as a parameter. */
export type Param = null | undefined | boolean | number | bigint | string | Uint8Array;
/** A value a query returns: integers as numbers (or strings beyond 2^53), bytes as Uint8Array. */
export type Cell = null | boolean | number | string | Uint8Array;

function toValue(v: Param): wit.Value {
  if (v === null || v === undefined) return { tag: 'null' };
  switch (typeof v) {
    case 'boolean':
      return { tag: 'boolean', val: v };
    case 'bigint':
      return { tag: 'int', val: v };
    case 'number':
      return Number.isSafeInteger(v) ? { tag: 'int', val: BigInt(v) } : { tag: 'float', val: v };
    case 'string':
      return { tag: 'text', val: v };
  }
  if (v instanceof Uint8Array) return { tag: 'bytes', val: v };
  throw invalidArguments(`cannot bind a ${typeof v} as a SQL parameter`);
}

function fromValue(v: wit.Value): Cell {
  switch (v.tag) {
    case 'null':
      return null;
    case 'int':
      return v.val >= BigInt(Number.MIN_SAFE_INTEGER) && v.val <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(v.val)
        : v.val.toString();
    default:
      return v.val;
  }
}

function dbError(e: any): never {
  const p = e && typeof e === 'object' && 'payload' in e ? e.payload : undefined;
  if (!p || typeof p.tag !== 'string') throw e;
  const msg = `database: ${p.val ?? p.tag}`;
  if (p.tag === 'not-permitted' || p.tag === 'denied') throw forbidden(msg);
  if (p.tag === 'invalid') throw invalidArguments(msg);
  throw failed(msg);
}

/** A query result in the shape the Rust SDK's `Table` serializes to. */
export interface Table {
  columns: string[];
  rows: Cell[][];
  truncated: boolean;
}

/** The request's query handle, as the calling user (the manifest's `[database]` grant). */
export class Database {
  constructor(private readonly handle: wit.QueryHandle) {}

  private rows(sql: string, params: Param[]): wit.Rows {
    try {
      return this.handle.query(sql, params.map(toValue));
    } catch (e) {
      return dbError(e);
    }
  }

  /** Rows as objects keyed by column name. */
  query(sql: string, ...params: Param[]): Record<string, Cell>[] {
    const r = this.rows(sql, params);
    return r.rows.map((row) => Object.fromEntries(row.map((v, i) => [r.columns[i], fromValue(v)])));
  }

  /** Rows as a table (columns, rows, truncated). */
  table(sql: string, ...params: Param[]): Table {
    const r = this.rows(sql, params);
    return { columns: r.columns, rows: r.rows.map((row) => row.map(fromValue)), truncated: r.truncated };
  }

  /** Runs a statement; returns the number of rows it changed. */
  execute(sql: string, ...params: Param[]): number {
    try {
      return Number(this.handle.execute(sql, params.map(toValue)));
    } catch (e) {
      return dbError(e);
    }
  }
}

// --- outbound HTTP -----------------------------------------------------------------------------

let environment: Map<string, string> | undefined;

/** The URL of the manifest's `[http.destinations.<name>]` (the host sets WARDEN_HTTP_<NAME>). */
export function destination(name: string): string {
  environment ??= new Map(getEnvironment());
  const url = environment.get(`WARDEN_HTTP_${name.toUpperCase().replace(/-/g, '_')}`);
  if (url === undefined) throw failed(`this plugin's manifest declares no [http.destinations.${name}]`);
  return url;
}

/** `fetch`, with the failure named: Warden refuses what the manifest does not grant, and the
 *  JavaScript runtime reports every refusal as a bare "NetworkError". */
export async function fetch(input: string | URL, init?: RequestInit): Promise<Response> {
  try {
    return await globalThis.fetch(input, init);
  } catch (e: any) {
    const method = (init?.method ?? 'GET').toUpperCase();
    throw failed(
      `HTTP ${method} ${String(input)} failed (${String(e?.message ?? e).trim()}): refused by Warden (not granted by ` +
        `the manifest's [http.destinations], or an address it does not allow), or no answer from the destination; ` +
        `Warden's audit log has the reason`,
    );
  }
}

// --- the context -------------------------------------------------------------------------------

function tryParse(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

/** Whether an elicitation answer fits the (flat, MCP-restricted) schema it was asked with:
 *  an object holding every required property, each of the declared primitive type. */
function conforms(schema: ObjectSchema, value: unknown): boolean {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  for (const name of schema.required ?? []) if (!Object.hasOwn(v, name)) return false;
  for (const [name, s] of Object.entries(schema.properties ?? {})) {
    if (!Object.hasOwn(v, name)) continue;
    const t = (s as { type?: string }).type;
    const x = v[name];
    const fits =
      t === undefined ||
      (t === 'string' && typeof x === 'string') ||
      (t === 'boolean' && typeof x === 'boolean') ||
      (t === 'number' && typeof x === 'number') ||
      (t === 'integer' && Number.isInteger(x)) ||
      (t === 'array' && Array.isArray(x)) ||
      (t === 'object' && typeof x === 'object' && x !== null);
    if (!fits) return false;
  }
  return true;
}

/** The SDK's own `state` envelope: every answer so far (the host hands a round only the
 *  previous round's), and the handler's state. The host seals it, so it comes back unchanged. */
interface Envelope {
  warden_sdk: 1;
  answers: Record<string, string>;
  user?: unknown;
}

function envelope(state: string | undefined): Envelope | undefined {
  if (state === undefined) return undefined;
  try {
    const v = JSON.parse(state);
    if (v && typeof v === 'object' && v.warden_sdk === 1 && v.answers && typeof v.answers === 'object') return v;
  } catch {
    // not ours
  }
  return undefined;
}

/** What a handler gets besides its arguments. */
export class Context {
  private database: Database | undefined;
  /** Every answer so far, as JSON text, by key. */
  private readonly answers = new Map<string, string>();
  private userState: unknown;

  constructor(
    /** The whole request: caller, client capabilities, input responses, state. */
    readonly request: wit.Request,
    private readonly cx: wit.CallContext,
    db: wit.QueryHandle | undefined,
  ) {
    this.database = db && new Database(db);
    const carried = envelope(request.state);
    for (const [key, json] of Object.entries(carried?.answers ?? {})) {
      if (typeof json === 'string') this.answers.set(key, json);
    }
    for (const r of request.inputResponses) this.answers.set(r.key, r.resultJson);
    this.userState = carried ? carried.user : request.state === undefined ? undefined : tryParse(request.state);
  }

  private answer(key: string): unknown {
    const json = this.answers.get(key);
    return json === undefined ? undefined : tryParse(json);
  }

  /** The state to send with this round's input requests (all answers, and `state`). */
  nextState(): string {
    const e: Envelope = { warden_sdk: 1, answers: Object.fromEntries(this.answers), user: this.userState };
    return JSON.stringify(e);
  }

  /** The verified caller. */
  get caller(): wit.Identity {
    return this.request.caller;
  }

  /** Every claim of the caller's verified token. */
  get claims(): Record<string, unknown> {
    return JSON.parse(this.request.caller.claimsJson);
  }

  /** The query handle; fails with `forbidden` if the manifest grants no database. */
  get db(): Database {
    if (!this.database) throw forbidden("this plugin's manifest grants no database");
    return this.database;
  }

  /** Sends an MCP log message to the client (and the host's log). */
  log(message: string, level: wit.Level = 'info', logger?: string): void {
    this.cx.log(level, logger, message);
  }
  debug(message: string): void {
    this.log(message, 'debug');
  }
  info(message: string): void {
    this.log(message, 'info');
  }
  warning(message: string): void {
    this.log(message, 'warning');
  }
  error(message: string): void {
    this.log(message, 'error');
  }

  /** Reports progress (sent when the client asked for it with a progress token). */
  progress(progress: number, total?: number, message?: string): void {
    this.cx.progress(progress, total, message);
  }

  /** Whether the client cancelled the request. */
  get cancelled(): boolean {
    return this.cx.isCancelled();
  }

  /** What `setState` stored in an earlier round of this request, if anything. */
  get state(): unknown {
    return this.userState;
  }

  /** Keeps `value` (any JSON value) for the rounds that follow an `elicit` or `sample`. */
  setState(value: unknown): void {
    this.userState = value;
  }

  /** Asks the user (MCP elicitation) for an object matching `schema` and returns it. The first
   *  time, the handler stops here; the client is asked and the handler runs again, from the
   *  start, with the answer. A declined or cancelled request fails the call. */
  elicit<const S extends ObjectSchema>(key: string, message: string, schema: S): FromSchema<S> {
    const answer = this.answer(key) as { action?: string; content?: unknown } | undefined;
    if (answer && typeof answer === 'object') {
      const content = answer.content ?? {};
      if (answer.action === 'accept' && conforms(schema, content)) {
        return content as unknown as FromSchema<S>;
      }
      if (answer.action === 'decline') throw failed(`the user declined the request "${key}"`);
      if (answer.action === 'cancel') throw failed(`the user cancelled the request "${key}"`);
    }
    if (!this.request.clientCapabilities.elicitation) {
      throw new PluginError({ tag: 'missing-client-capabilities', val: { elicitation: true } });
    }
    throw new InputNeeded(key, { tag: 'elicitation', val: { message, requestedSchema: JSON.stringify(schema) } });
  }

  /** Asks the client's model (MCP sampling) and returns the text of its answer; like `elicit`,
   *  the handler runs again with the answer. */
  sample(key: string, prompt: string, maxTokens = 256): string {
    const answer = this.answer(key) as { content?: unknown } | undefined;
    if (answer && typeof answer === 'object' && answer.content !== undefined) {
      const texts = [answer.content]
        .flat()
        .filter((b: any) => b && b.type === 'text' && typeof b.text === 'string')
        .map((b: any) => b.text as string);
      if (texts.length === 0) throw failed(`the answer to "${key}" holds no text`);
      return texts.join('\n');
    }
    if (!this.request.clientCapabilities.sampling) {
      throw new PluginError({ tag: 'missing-client-capabilities', val: { sampling: true } });
    }
    throw new InputNeeded(key, {
      tag: 'sampling',
      val: { messages: [{ role: 'user', content: { tag: 'text', val: prompt } }], maxTokens },
    });
  }
}

// --- results -----------------------------------------------------------------------------------

/** A text content block. */
export const text = (value: string): wit.Content => ({ tag: 'text', val: value });
/** An image content block. */
export const image = (data: Uint8Array, mimeType: string): wit.Content => ({ tag: 'image', val: { data, mimeType } });
/** An audio content block. */
export const audio = (data: Uint8Array, mimeType: string): wit.Content => ({ tag: 'audio', val: { data, mimeType } });
/** A link to a resource. */
export const resourceLink = (link: wit.ResourceLink): wit.Content => ({ tag: 'resource-link', val: link });
/** An embedded resource (text, or bytes as a blob). */
export const embedded = (uri: string, body: string | Uint8Array, mimeType?: string): wit.Content => ({
  tag: 'embedded',
  val: { uri, mimeType, body: typeof body === 'string' ? { tag: 'text', val: body } : { tag: 'blob', val: body } },
});

/** A tool result built by hand: content blocks, structured content, or an error result. */
export class Result {
  constructor(
    readonly content: wit.Content[],
    readonly options: { structured?: unknown; isError?: boolean } = {},
  ) {}
}
/** Builds a `Result`. */
export const result = (content: wit.Content[], options?: { structured?: unknown; isError?: boolean }) =>
  new Result(content, options);

/** What a tool handler may return: text, a JSON value (sent as text and as structured content),
 *  or a `Result`. */
export type ToolReturn = string | number | boolean | null | undefined | object | Result;

/** JSON text of `value`; bigints as numbers (or strings beyond 2^53). */
function toJson(value: unknown): string {
  const json = JSON.stringify(value, (_k, v) =>
    typeof v === 'bigint' ? (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v,
  );
  if (json === undefined) throw new TypeError(`a ${typeof value} is not a JSON value`);
  return json;
}

const isObject = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);

function toolResult(value: ToolReturn): wit.ToolResult {
  if (value instanceof Result) {
    const s = value.options.structured;
    if (s !== undefined && !isObject(s)) throw new TypeError('structured content must be a JSON object');
    return {
      content: value.content,
      structuredJson: s === undefined ? undefined : toJson(s),
      isError: value.options.isError ?? false,
    };
  }
  if (value === undefined || value === null) return { content: [], isError: false };
  if (typeof value === 'string') return { content: [text(value)], isError: false };
  const json = toJson(value);
  // MCP structured content is an object; other JSON values are text only.
  return { content: [text(json)], structuredJson: isObject(value) ? json : undefined, isError: false };
}

function inputRequired(n: InputNeeded, cx: Context): { tag: 'input-required'; val: wit.InputRequired } {
  return { tag: 'input-required', val: { requests: [[n.key, n.request]], state: cx.nextState() } };
}

// --- tools, resources, prompts -----------------------------------------------------------------

type Awaitable<T> = T | Promise<T>;

/** A tool: its name, description, input schema and handler (arguments typed from `input`). */
export interface ToolDef<S extends ObjectSchema = ObjectSchema> {
  name: string;
  title?: string;
  description: string;
  /** JSON Schema of the arguments (the host validates them before the handler runs). */
  input?: S;
  /** JSON Schema of the structured result, if it has one (the host validates it). */
  output?: ObjectSchema;
  handler(args: FromSchema<S>, cx: Context): Awaitable<ToolReturn>;
}

/** Declares a tool. */
export function tool<const S extends ObjectSchema = { type: 'object'; properties: {} }>(def: ToolDef<S>): ToolDef<S> {
  return def;
}

/** A resource (a fixed `uri`), or a resource template (a `uri` with `{name}` parts). */
export interface ResourceDef {
  uri: string;
  name: string;
  title?: string;
  description?: string;
  mimeType?: string;
  /** The contents: text, bytes, or whole `ResourceContents`. `params` holds the template's parts. */
  read(uri: string, params: Record<string, string>, cx: Context): Awaitable<string | Uint8Array | wit.ResourceContents[]>;
  /** Completions for a template's parts, by part name. */
  complete?: Record<string, (value: string, context: Record<string, string>) => string[]>;
}

/** Declares a resource or a resource template. */
export const resource = (def: ResourceDef): ResourceDef => def;

/** A prompt argument: `required` unless it says otherwise. */
export interface PromptArg {
  name: string;
  description?: string;
  required?: boolean;
  /** Completions for this argument. */
  complete?(value: string, context: Record<string, string>): string[];
}

/** A prompt: text (one user message), messages, or a whole prompt result. */
export interface PromptDef {
  name: string;
  title?: string;
  description: string;
  arguments?: PromptArg[];
  render(args: Record<string, string>, cx: Context): Awaitable<string | wit.PromptMessage[] | wit.PromptResult>;
}

/** Declares a prompt. */
export const prompt = (def: PromptDef): PromptDef => def;

/** A message of a prompt. */
export const message = (role: wit.Role, content: string | wit.Content): wit.PromptMessage => ({
  role,
  content: typeof content === 'string' ? text(content) : content,
});

/** The template's parts if `uri` matches, exactly as the host matches (host/src/plugins/
 *  uri_template.rs): literals match themselves; a `{name}` is a non-empty run without `/`, `?`
 *  or `#`, ending where the next literal first appears. Values are not percent-decoded. */
function templateParams(template: string, uri: string): Record<string, string> | undefined {
  const parts = template.split(/(\{[^}]+\})/).filter((p) => p !== '');
  const params: Record<string, string> = Object.create(null);
  let rest = uri;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (!(part.startsWith('{') && part.endsWith('}'))) {
      if (!rest.startsWith(part)) return undefined;
      rest = rest.slice(part.length);
      continue;
    }
    const stop = rest.search(/[/?#]/) === -1 ? rest.length : rest.search(/[/?#]/);
    const next = parts[i + 1];
    const found = next !== undefined ? rest.slice(0, stop).indexOf(next) : -1;
    const end = found === -1 ? stop : found;
    if (end === 0) return undefined;
    params[part.slice(1, -1)] = rest.slice(0, end);
    rest = rest.slice(end);
  }
  return rest === '' ? params : undefined;
}

/** Length of the literal text before a template's first `{`: the host routes a URI to the
 *  matching template with the longest one (then the smallest template text), and so does this. */
const literalPrefix = (template: string) => (template.indexOf('{') === -1 ? template.length : template.indexOf('{'));

/** What `plugin()` takes. */
export interface PluginDef {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  tools?: ToolDef<any>[];
  resources?: ResourceDef[];
  prompts?: PromptDef[];
}

const MAX_COMPLETIONS = 100;

/** Builds the `server` export: `export const server = plugin({ tools, resources, prompts })`. */
export function plugin(def: PluginDef) {
  const tools = new Map((def.tools ?? []).map((t) => [t.name, t]));
  const prompts = new Map((def.prompts ?? []).map((p) => [p.name, p]));
  const resources = def.resources ?? [];
  const isTemplate = (r: ResourceDef) => r.uri.includes('{');
  const templates = resources
    .filter(isTemplate)
    .sort((a, b) => literalPrefix(b.uri) - literalPrefix(a.uri) || (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
  if (tools.size !== (def.tools ?? []).length) throw new Error('warden-sdk: two tools with one name');
  if (prompts.size !== (def.prompts ?? []).length) throw new Error('warden-sdk: two prompts with one name');

  return {
    describe(): wit.Offer {
      return {
        tools: [...tools.values()].map((t) => ({
          name: t.name,
          title: t.title,
          description: t.description,
          inputSchema: JSON.stringify(t.input ?? { type: 'object', properties: {} }),
          outputSchema: t.output && JSON.stringify(t.output),
        })),
        resources: resources
          .filter((r) => !isTemplate(r))
          .map(({ uri, name, title, description, mimeType }) => ({ uri, name, title, description, mimeType })),
        resourceTemplates: resources
          .filter(isTemplate)
          .map(({ uri, name, title, description, mimeType }) => ({ uriTemplate: uri, name, title, description, mimeType })),
        prompts: [...prompts.values()].map((p) => ({
          name: p.name,
          title: p.title,
          description: p.description,
          arguments: (p.arguments ?? []).map((a) => ({ name: a.name, description: a.description, required: a.required ?? true })),
        })),
      };
    },

    callTool(name: string, argumentsJson: string, req: wit.Request, cx: wit.CallContext, db?: wit.QueryHandle) {
      return guard(cx, async (): Promise<wit.ToolOutcome> => {
        const t = tools.get(name);
        if (!t) throw notFound(`no tool named "${name}"`);
        const args = argumentsJson ? JSON.parse(argumentsJson) : {};
        const context = new Context(req, cx, db);
        try {
          return { tag: 'complete', val: toolResult(await t.handler(args, context)) };
        } catch (e) {
          if (e instanceof InputNeeded) return inputRequired(e, context);
          if (e instanceof ToolError) return { tag: 'complete', val: { content: [text(e.message)], isError: true } };
          throw e;
        }
      });
    },

    readResource(uri: string, req: wit.Request, cx: wit.CallContext, db?: wit.QueryHandle) {
      return guard(cx, async (): Promise<wit.ReadOutcome> => {
        let found: [ResourceDef, Record<string, string>] | undefined;
        const fixed = resources.find((r) => !isTemplate(r) && r.uri === uri);
        if (fixed) found = [fixed, {}];
        for (const r of templates) {
          if (found) break;
          const params = templateParams(r.uri, uri);
          if (params) found = [r, params];
        }
        if (!found) throw notFound(`no resource ${uri}`);
        const [r, params] = found;
        const context = new Context(req, cx, db);
        try {
          const out = await r.read(uri, params, context);
          if (typeof out === 'string') return { tag: 'complete', val: [{ uri, mimeType: r.mimeType, body: { tag: 'text', val: out } }] };
          if (out instanceof Uint8Array) return { tag: 'complete', val: [{ uri, mimeType: r.mimeType, body: { tag: 'blob', val: out } }] };
          if (!Array.isArray(out) || out.some((c) => !c || typeof c.uri !== 'string' || !c.body)) {
            throw new TypeError(`resource ${r.uri}: read() must return a string, a Uint8Array or ResourceContents[]`);
          }
          return { tag: 'complete', val: out };
        } catch (e) {
          if (e instanceof InputNeeded) return inputRequired(e, context);
          throw e;
        }
      });
    },

    getPrompt(name: string, args: Array<[string, string]>, req: wit.Request, cx: wit.CallContext, db?: wit.QueryHandle) {
      return guard(cx, async (): Promise<wit.PromptOutcome> => {
        const p = prompts.get(name);
        if (!p) throw notFound(`no prompt named "${name}"`);
        const given: Record<string, string> = Object.create(null);
        for (const [k, v] of args) given[k] = v;
        const declared = new Set((p.arguments ?? []).map((a) => a.name));
        const unknown = Object.keys(given).filter((k) => !declared.has(k));
        if (unknown.length) throw invalidArguments(`unknown argument(s): ${unknown.join(', ')}`);
        for (const a of p.arguments ?? []) {
          if ((a.required ?? true) && !Object.hasOwn(given, a.name)) throw invalidArguments(`missing argument "${a.name}"`);
        }
        const context = new Context(req, cx, db);
        try {
          const out = await p.render(given, context);
          const result: wit.PromptResult =
            typeof out === 'string' ? { messages: [message('user', out)] } : Array.isArray(out) ? { messages: out } : out;
          if (!result || !Array.isArray(result.messages) || result.messages.some((m) => !m || !m.content)) {
            throw new TypeError(`prompt ${p.name}: render() must return a string, messages or a PromptResult`);
          }
          return { tag: 'complete', val: result };
        } catch (e) {
          if (e instanceof InputNeeded) return inputRequired(e, context);
          throw e;
        }
      });
    },

    complete(of: wit.CompletionRef, argument: string, value: string, contextArguments: Array<[string, string]>, _caller: wit.Identity) {
      return guard(undefined, (): wit.Completion => {
        const context: Record<string, string> = Object.create(null);
        for (const [k, v] of contextArguments) context[k] = v;
        let complete: ((value: string, context: Record<string, string>) => string[]) | undefined;
        if (of.tag === 'prompt') {
          complete = prompts.get(of.val)?.arguments?.find((a) => a.name === argument)?.complete;
        } else {
          const table = resources.find((r) => r.uri === of.val)?.complete;
          complete = table && Object.hasOwn(table, argument) ? table[argument] : undefined;
        }
        const values = (complete ? complete(value, context) : []).filter((v) => typeof v === 'string');
        return { values: values.slice(0, MAX_COMPLETIONS), total: values.length, hasMore: values.length > MAX_COMPLETIONS };
      });
    },
  };
}
