// The contract `warden:plugin@0.2.0` (wit/0.2/plugin.wit) as componentize-js represents it:
// records with camelCase fields, variants as `{ tag: 'kebab-name', val }`, enums as strings,
// flags as objects of booleans, `option<T>` as `T | undefined`, `s64`/`u64` as `bigint`,
// `list<u8>` as `Uint8Array`. Plugin code rarely needs these: the SDK (index.ts) builds them.

/** The verified caller (`types.identity`). */
export interface Identity {
  subject: string;
  issuer: string;
  username?: string;
  email?: string;
  clientId?: string;
  scopes: string[];
  permissions: string[];
  /** Every claim of the verified token, as JSON (never the token itself). */
  claimsJson: string;
}

/** What the MCP client declared it can do (`types.client-capabilities`). */
export interface ClientCapabilities {
  elicitation?: boolean;
  sampling?: boolean;
  roots?: boolean;
}

/** How a request fails (`types.plugin-error`). */
export type PluginError =
  | { tag: 'invalid-arguments'; val: string }
  | { tag: 'forbidden'; val: string }
  | { tag: 'not-found'; val: string }
  | { tag: 'missing-client-capabilities'; val: ClientCapabilities }
  | { tag: 'failed'; val: string };

export type Role = 'user' | 'assistant';
export interface Media { data: Uint8Array; mimeType: string }
export type ResourceBody = { tag: 'text'; val: string } | { tag: 'blob'; val: Uint8Array };
export interface ResourceContents { uri: string; mimeType?: string; body: ResourceBody }
export interface ResourceLink { uri: string; name: string; title?: string; description?: string; mimeType?: string }

/** One content block of a result or a message (`types.content`). */
export type Content =
  | { tag: 'text'; val: string }
  | { tag: 'image'; val: Media }
  | { tag: 'audio'; val: Media }
  | { tag: 'resource-link'; val: ResourceLink }
  | { tag: 'embedded'; val: ResourceContents };

export interface ToolResult { content: Content[]; structuredJson?: string; isError: boolean }
export interface Elicitation { message: string; requestedSchema: string }
export interface SamplingMessage { role: Role; content: Content }
export interface Sampling { messages: SamplingMessage[]; systemPrompt?: string; maxTokens: number }
export type InputRequest =
  | { tag: 'elicitation'; val: Elicitation }
  | { tag: 'sampling'; val: Sampling }
  | { tag: 'roots' };
export interface InputRequired { requests: Array<[string, InputRequest]>; state?: string }
export interface InputResponse { key: string; resultJson: string }

/** What every request carries (`types.request`). */
export interface Request {
  caller: Identity;
  clientCapabilities: ClientCapabilities;
  inputResponses: InputResponse[];
  state?: string;
}

export type ToolOutcome = { tag: 'complete'; val: ToolResult } | { tag: 'input-required'; val: InputRequired };
export type ReadOutcome = { tag: 'complete'; val: ResourceContents[] } | { tag: 'input-required'; val: InputRequired };
export interface PromptMessage { role: Role; content: Content }
export interface PromptResult { description?: string; messages: PromptMessage[] }
export type PromptOutcome = { tag: 'complete'; val: PromptResult } | { tag: 'input-required'; val: InputRequired };

export interface ToolSpec { name: string; title?: string; description: string; inputSchema: string; outputSchema?: string }
export interface ResourceSpec { uri: string; name: string; title?: string; description?: string; mimeType?: string }
export interface ResourceTemplateSpec { uriTemplate: string; name: string; title?: string; description?: string; mimeType?: string }
export interface PromptArgument { name: string; description?: string; required: boolean }
export interface PromptSpec { name: string; title?: string; description: string; arguments: PromptArgument[] }
export interface Offer {
  tools: ToolSpec[];
  resources: ResourceSpec[];
  resourceTemplates: ResourceTemplateSpec[];
  prompts: PromptSpec[];
}
export type CompletionRef = { tag: 'prompt'; val: string } | { tag: 'resource-template'; val: string };
export interface Completion { values: string[]; total?: number; hasMore: boolean }

/** `context.level`: the MCP logging levels. */
export type Level = 'debug' | 'info' | 'notice' | 'warning' | 'error' | 'critical' | 'alert' | 'emergency';

/** `context.call-context`: a borrowed handle, valid until the export returns. */
export interface CallContext {
  progress(progress: number, total: number | undefined, message: string | undefined): void;
  log(level: Level, logger: string | undefined, message: string): void;
  isCancelled(): boolean;
}

/** `database.value`. */
export type Value =
  | { tag: 'null' }
  | { tag: 'boolean'; val: boolean }
  | { tag: 'int'; val: bigint }
  | { tag: 'float'; val: number }
  | { tag: 'text'; val: string }
  | { tag: 'bytes'; val: Uint8Array };
export interface Rows { columns: string[]; rows: Value[][]; truncated: boolean }

/** `database.db-error`, thrown by the bindings as an error whose `payload` is this value. */
export type DbError =
  | { tag: 'not-permitted'; val: string }
  | { tag: 'denied'; val: string }
  | { tag: 'invalid'; val: string }
  | { tag: 'timeout' }
  | { tag: 'unavailable'; val: string };

/** `database.query-handle`: a borrowed handle, valid until the export returns. */
export interface QueryHandle {
  query(sql: string, params: Value[]): Rows;
  execute(sql: string, params: Value[]): bigint;
}
