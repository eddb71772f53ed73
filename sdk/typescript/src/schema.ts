// JSON Schema literals to TypeScript types, so that a tool's handler gets typed arguments from
// the `input` schema it declares (write the schema inline, or `as const`).

/** The JSON Schema subset the SDK types. Any other keyword is allowed and passed to the host. */
export type Schema =
  | { type: 'string'; enum?: readonly string[]; description?: string; [k: string]: unknown }
  | { type: 'integer' | 'number'; description?: string; [k: string]: unknown }
  | { type: 'boolean'; description?: string; [k: string]: unknown }
  | { type: 'array'; items?: Schema; description?: string; [k: string]: unknown }
  | ObjectSchema
  | { enum: readonly unknown[]; description?: string; [k: string]: unknown }
  | { anyOf: readonly Schema[]; description?: string; [k: string]: unknown };

/** A tool's `input` (and `output`): MCP requires `type: "object"` at the top. */
export interface ObjectSchema {
  type: 'object';
  properties?: { readonly [name: string]: Schema };
  required?: readonly string[];
  description?: string;
  [k: string]: unknown;
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type FromObject<S extends ObjectSchema> = S['properties'] extends { readonly [name: string]: Schema }
  ? Simplify<
      { -readonly [K in keyof S['properties'] & RequiredOf<S>]: FromSchema<S['properties'][K]> } & {
        -readonly [K in Exclude<keyof S['properties'], RequiredOf<S>>]?: FromSchema<S['properties'][K]>;
      }
    >
  : Record<string, unknown>;

type RequiredOf<S extends ObjectSchema> = S['required'] extends readonly (infer R)[] ? R & string : never;

/** The TypeScript type of the values a schema accepts. */
export type FromSchema<S> = S extends { enum: readonly (infer E)[] }
  ? E
  : S extends { anyOf: readonly (infer A)[] }
    ? FromSchema<A>
    : S extends { type: 'string' }
      ? string
      : S extends { type: 'integer' | 'number' }
        ? number
        : S extends { type: 'boolean' }
          ? boolean
          : S extends { type: 'array'; items: infer I }
            ? FromSchema<I>[]
            : S extends { type: 'array' }
              ? unknown[]
              : S extends ObjectSchema
                ? FromObject<S>
                : unknown;
