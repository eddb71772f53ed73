// The three tools of Auth0's MCP sample server (seed 001), as a Warden plugin in TypeScript.
// Build: `make plugins` (warden-ts-build, sdk/typescript); the manifest is plugin.toml.
import { invalidArguments, plugin, tool } from '@warden/plugin-sdk';

const whoami = tool({
  name: 'whoami',
  description: 'Returns the caller as the host verified it.',
  handler: (_args, cx) => {
    const c = cx.caller;
    return {
      subject: c.subject,
      issuer: c.issuer,
      email: c.email ?? null,
      client_id: c.clientId ?? null,
      scopes: c.scopes,
      permissions: c.permissions,
    };
  },
});

const greet = tool({
  name: 'greet',
  description: 'Greets someone by name.',
  input: {
    type: 'object',
    properties: { name: { type: 'string', description: 'Who to greet' } },
    required: ['name'],
    additionalProperties: false,
  },
  handler: ({ name }, cx) => {
    const who = name.trim();
    if (!who) throw invalidArguments('name must not be empty');
    return `Hello, ${who}! You are ${cx.caller.subject}.`;
  },
});

const getDatetime = tool({
  name: 'get_datetime',
  description: 'The current time, UTC, ISO-8601 with millisecond precision.',
  handler: () => ({ utc: new Date().toISOString() }),
});

export const server = plugin({ tools: [whoami, greet, getDatetime] });
