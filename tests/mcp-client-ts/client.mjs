// Drives Warden with the official MCP TypeScript SDK client (Streamable HTTP).
// Env: MCP_URL (the /mcp endpoint), MCP_TOKEN (optional bearer token), TOOL, ARGS (JSON).
// Prints one JSON line: { protocolVersion, tools: [names], result } or { error }.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const headers = process.env.MCP_TOKEN ? { Authorization: `Bearer ${process.env.MCP_TOKEN}` } : {};
const transport = new StreamableHTTPClientTransport(new URL(process.env.MCP_URL), { requestInit: { headers } });
const client = new Client({ name: "warden-ts-test", version: "1.0.0" });
try {
  await client.connect(transport);
  const tools = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : undefined);
    tools.push(...page.tools.map((t) => t.name));
    cursor = page.nextCursor;
  } while (cursor);
  const result = process.env.TOOL
    ? await client.callTool({ name: process.env.TOOL, arguments: JSON.parse(process.env.ARGS ?? "{}") })
    : null;
  console.log(JSON.stringify({ protocolVersion: transport.protocolVersion ?? null, tools, result }));
  await client.close();
} catch (e) {
  console.log(JSON.stringify({ error: String(e?.message ?? e), code: e?.code ?? null }));
  process.exitCode = 1;
}
