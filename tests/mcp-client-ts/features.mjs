// Drives Warden with the official MCP TypeScript SDK client (Streamable HTTP, the SDK's default
// revision, 2025-11-25: initialize + session) through what plugin contract 0.2 adds: resources,
// prompts, progress and elicitation. The server is expected to serve the `conformance` plugin
// (bare names: test_simple_text, test://static-text, test_prompt_with_arguments, ...).
// Env: MCP_URL (the /mcp endpoint), MCP_TOKEN (optional bearer token), ELICIT_NAME (the answer
// given to string fields of an elicitation form; default "Ada").
// Prints one JSON line with what each step saw: { protocolVersion, serverCapabilities, steps:
// { <step>: { value } | { error, code } }, elicitations: [params], progress: [{progress,total,message}] }.
// Exits 1 if a step failed (the report says which).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const answer = process.env.ELICIT_NAME ?? "Ada";
const headers = process.env.MCP_TOKEN ? { Authorization: `Bearer ${process.env.MCP_TOKEN}` } : {};
const transport = new StreamableHTTPClientTransport(new URL(process.env.MCP_URL), { requestInit: { headers } });
const client = new Client({ name: "warden-ts-features", version: "1.0.0" }, { capabilities: { elicitation: {} } });

// Elicitation: accept, filling every field the form asks for (strings get `answer`).
const elicitations = [];
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  elicitations.push(request.params);
  const content = {};
  for (const [key, schema] of Object.entries(request.params.requestedSchema?.properties ?? {})) {
    switch (schema.type) {
      case "boolean":
        content[key] = true;
        break;
      case "number":
      case "integer":
        content[key] = 1;
        break;
      default:
        content[key] = Array.isArray(schema.enum) && schema.enum.length > 0 ? schema.enum[0] : answer;
    }
  }
  return { action: "accept", content };
});

const steps = {};
let failed = false;
async function step(name, run) {
  try {
    steps[name] = { value: await run() };
  } catch (e) {
    failed = true;
    steps[name] = { error: String(e?.message ?? e), code: e?.code ?? null };
  }
}

async function all(list, key) {
  const items = [];
  let cursor;
  do {
    const page = await list(cursor ? { cursor } : undefined);
    items.push(...page[key]);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

const progress = [];
try {
  await client.connect(transport);
} catch (e) {
  console.log(JSON.stringify({ error: String(e?.message ?? e), code: e?.code ?? null }));
  process.exit(1);
}
await step("tools", async () => (await all((p) => client.listTools(p), "tools")).map((t) => t.name));
await step("resources", async () => (await all((p) => client.listResources(p), "resources")).map((r) => r.uri));
await step("resourceTemplates", async () =>
  (await all((p) => client.listResourceTemplates(p), "resourceTemplates")).map((t) => t.uriTemplate),
);
await step("prompts", async () => (await all((p) => client.listPrompts(p), "prompts")).map((p) => p.name));
await step("readResource", () => client.readResource({ uri: "test://static-text" }));
await step("getPrompt", () =>
  client.getPrompt({ name: "test_prompt_with_arguments", arguments: { arg1: "testValue1", arg2: "testValue2" } }),
);
await step("progressCall", () =>
  client.callTool({ name: "test_tool_with_progress", arguments: {} }, undefined, {
    onprogress: (p) => progress.push(p),
  }),
);
await step("elicitationCall", () => client.callTool({ name: "test_input_required_result_elicitation", arguments: {} }));

console.log(
  JSON.stringify({
    protocolVersion: transport.protocolVersion ?? null,
    serverCapabilities: client.getServerCapabilities() ?? null,
    steps,
    elicitations,
    progress,
  }),
);
await client.close().catch(() => {});
if (failed) process.exitCode = 1;
