// Logs in to Warden through its OAuth authorization server with the official MCP TypeScript SDK
// (Streamable HTTP + OAuthClientProvider), then lists and calls tools. Headless: a small built-in
// "browser" (fetch + cookie jar) approves Warden's consent page and fills the upstream IdP's
// login form. The SDK itself does 401 -> protected resource metadata -> AS metadata -> dynamic
// client registration -> PKCE authorization URL -> code exchange -> refresh; this script only
// provides storage, the `state` check and the browser.
//
// Env:
//   MCP_URL       the /mcp endpoint
//   STATE_FILE    JSON file holding { clientInformation, tokens, codeVerifier }; read at start if
//                 present, rewritten on every save (lets a later run, or another replica, reuse it)
//   MODE          login (default: browser login when the SDK asks for it)
//                 reuse (saved tokens only; fails if the SDK wants a browser login)
//                 refresh (saved access_token replaced by "invalid" first, so the server answers
//                 401 and the SDK must use the saved refresh_token; fails on a browser login)
//   IDP_USER, IDP_PASSWORD  credentials for the IdP login form
//   TOOL, ARGS (JSON)       optional tool call after listing tools
//   CLIENT_NAME   DCR client_name (default warden-ts-oauth-test)
//   REDIRECT_URI  default http://127.0.0.1:53682/callback (nothing listens: the browser stops at it)
// Prints one JSON line on stdout:
//   { tools: [names], result, logins, tokenSaves, refreshToken, clientId, invalidated,
//     blockedRedirect, protocolVersion }
//   or { error, code, logins, tokenSaves, refreshToken, clientId, invalidated, blockedRedirect }
//   with exit status 1. logins = redirectToAuthorization calls, tokenSaves = saveTokens calls,
//   refreshToken = the saved tokens hold a refresh_token, invalidated = invalidateCredentials
//   scopes. Logs go to stderr. browse() is exported for other test helpers.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const log = (...args) => console.error('[oauth-client]', ...args);

const MAX_HOPS = 30;
const BROWSER_TIMEOUT_MS = 15_000;

// ---------------------------------------------------------------------------------------------
// OAuthClientProvider persisted in STATE_FILE.
class FileOAuthProvider {
  constructor({ stateFile, redirectUri, clientName, mode }) {
    this.stateFile = stateFile;
    this.mode = mode;
    this._redirectUrl = redirectUri;
    this._clientMetadata = {
      client_name: clientName,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
    this.data = stateFile && existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : {};
    // Counters and observations for the report.
    this.logins = 0;
    this.tokenSaves = 0;
    this.invalidated = [];
    this.lastState = undefined; // the `state` handed to the SDK for the current authorization
    this.pendingAuthorizationUrl = undefined; // set by redirectToAuthorization, consumed by main
    this.blockedRedirect = false; // the SDK asked for a browser login in reuse/refresh mode
    this.discovery = undefined; // last discovery result (in memory only; see saveDiscoveryState)
  }

  persist() {
    if (!this.stateFile) return;
    const tmp = `${this.stateFile}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(this.data, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.stateFile);
  }

  get redirectUrl() { return this._redirectUrl; }

  get clientMetadata() { return this._clientMetadata; }

  state() {
    this.lastState = randomBytes(16).toString('base64url');
    return this.lastState;
  }

  // The SDK stamps what it saves with `issuer` (the authorization server URL it discovered) and
  // compares that stamp when it reads the value back, so both are stored unchanged.
  clientInformation() { return this.data.clientInformation; }

  saveClientInformation(info) {
    log(`saveClientInformation client_id=${info.client_id} issuer=${info.issuer ?? '-'}`);
    this.data.clientInformation = info;
    this.persist();
  }

  tokens() { return this.data.tokens; }

  saveTokens(tokens) {
    this.tokenSaves += 1;
    log(`saveTokens #${this.tokenSaves}: refresh_token=${tokens.refresh_token ? 'yes' : 'no'} expires_in=${tokens.expires_in ?? '-'} scope=${tokens.scope ?? '-'}`);
    this.data.tokens = tokens;
    this.persist();
  }

  saveCodeVerifier(codeVerifier) {
    this.data.codeVerifier = codeVerifier;
    this.persist();
  }

  codeVerifier() {
    if (!this.data.codeVerifier) throw new Error('no PKCE code verifier saved');
    return this.data.codeVerifier;
  }

  // Called by the SDK when a browser login is needed. Like the SDK's simpleOAuthClient example,
  // it only records the URL; main() drives the browser after connect() fails with
  // UnauthorizedError, then calls transport.finishAuth(code). In reuse/refresh mode a browser
  // login is a test failure: throwing here makes connect() fail with this message.
  redirectToAuthorization(authorizationUrl) {
    this.logins += 1;
    log(`redirectToAuthorization #${this.logins}: ${authorizationUrl}`);
    if (this.mode !== 'login') {
      this.blockedRedirect = true;
      throw new Error(`the SDK asked for a browser login (redirectToAuthorization) in MODE=${this.mode}`);
    }
    this.pendingAuthorizationUrl = new URL(authorizationUrl);
  }

  // Called by the SDK after an invalid_client / unauthorized_client ('all') or invalid_grant
  // ('tokens') answer from the token endpoint, before it retries.
  invalidateCredentials(scope) {
    log(`invalidateCredentials(${scope})`);
    this.invalidated.push(scope);
    if (scope === 'all' || scope === 'client') delete this.data.clientInformation;
    if (scope === 'all' || scope === 'tokens') delete this.data.tokens;
    if (scope === 'all' || scope === 'verifier') delete this.data.codeVerifier;
    this.persist();
  }

  // Only kept in memory, to check the `iss` of the authorization response (RFC 9207). There is
  // deliberately no discoveryState(): the SDK then discovers from scratch on every auth(), as a
  // fresh client against this MCP_URL would.
  saveDiscoveryState(state) {
    this.discovery = state;
  }
}

// ---------------------------------------------------------------------------------------------
// Headless browser: fetch with manual redirects and a cookie jar keyed by host:port.
const ENTITIES = { amp: '&', quot: '"', apos: "'", lt: '<', gt: '>', nbsp: '\u00a0' };
function htmlUnescape(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(cp) ? String.fromCodePoint(cp) : m;
    }
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

// Attributes of one start tag, e.g. `<input type="hidden" name=txn value='x'>` -> {type, name, value}.
function attributes(tag) {
  const attrs = {};
  const inner = tag.replace(/^<\s*[a-z0-9]+/i, '').replace(/\/?>$/, '');
  for (const m of inner.matchAll(/([^\s"'=<>\/]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
    attrs[m[1].toLowerCase()] = htmlUnescape(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attrs;
}

// Every <form> of a page with its attributes, <input>s and <button>s.
function parseForms(html) {
  const forms = [];
  for (const m of html.matchAll(/<form\b[^>]*>([\s\S]*?)<\/form\s*>/gi)) {
    const body = m[1];
    forms.push({
      attrs: attributes(m[0].match(/^<form\b[^>]*>/i)[0]),
      inputs: [...body.matchAll(/<input\b[^>]*>/gi)].map((t) => attributes(t[0])),
      buttons: [...body.matchAll(/<button\b[^>]*>/gi)].map((t) => attributes(t[0])),
    });
  }
  return forms;
}

class CookieJar {
  constructor() { this.byHost = new Map(); } // "host:port" -> Map(name -> value)

  // Name=value only: attributes (Path, Secure, HttpOnly, ...) are ignored on purpose; an empty
  // value or Max-Age=0 / a past Expires deletes the cookie (that is how servers clear them).
  store(url, response) {
    const host = new URL(url).host;
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const i = pair.indexOf('=');
      if (i <= 0) continue;
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const jar = this.byHost.get(host) ?? new Map();
      this.byHost.set(host, jar);
      const expired = attrs.some((a) => {
        const [k, v = ''] = a.split('=').map((x) => x.trim());
        if (k.toLowerCase() === 'max-age') return Number(v) <= 0;
        if (k.toLowerCase() === 'expires') return Date.parse(v) < Date.now();
        return false;
      });
      if (value === '' || expired) jar.delete(name);
      else jar.set(name, value);
    }
  }

  header(url) {
    const jar = this.byHost.get(new URL(url).host);
    return jar?.size ? [...jar].map(([k, v]) => `${k}=${v}`).join('; ') : undefined;
  }
}

// Whether `url` is the redirect URI (same origin and path; the query carries the response).
function isRedirectUri(url, redirectUri) {
  const a = new URL(url);
  const b = new URL(redirectUri);
  return a.origin === b.origin && a.pathname === b.pathname;
}

/**
 * Drives the authorization request like a user with a browser: follows redirects, approves
 * Warden's consent form, fills the IdP's login form, and stops at the redirect URI.
 * Returns { code, state, iss } from the redirect URI's query; throws on `error` or anything
 * unexpected.
 */
export async function browse(authorizationUrl, { redirectUri, user, password, jar = new CookieJar() }) {
  let method = 'GET';
  let url = new URL(authorizationUrl);
  let body;
  let loginsSubmitted = 0;
  let consentsSubmitted = 0;
  for (let hop = 1; hop <= MAX_HOPS; hop += 1) {
    if (isRedirectUri(url, redirectUri)) {
      const q = url.searchParams;
      if (q.has('error')) {
        throw new Error(`authorization failed at the redirect URI: ${q.get('error')}${q.has('error_description') ? `: ${q.get('error_description')}` : ''}`);
      }
      if (!q.get('code')) throw new Error(`redirect URI reached without a code: ${url}`);
      return { code: q.get('code'), state: q.get('state'), iss: q.get('iss') };
    }

    const headers = { accept: 'text/html,application/xhtml+xml,*/*' };
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    log(`browser: ${method} ${url.origin}${url.pathname}`);
    const response = await fetch(url, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(BROWSER_TIMEOUT_MS) });
    jar.store(url, response);

    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      url = new URL(location, url);
      // 307/308 repeat the request as it was; 301/302/303 become a GET.
      if (response.status !== 307 && response.status !== 308) {
        method = 'GET';
        body = undefined;
      }
      continue;
    }

    const text = await response.text();
    const type = response.headers.get('content-type') ?? '';
    if (response.status !== 200 || !type.includes('text/html')) {
      throw new Error(`browser: unexpected ${response.status} (${type || 'no content type'}) from ${method} ${url.origin}${url.pathname}: ${text.slice(0, 300)}`);
    }

    const forms = parseForms(text);
    const loginForm = forms.find((f) => f.inputs.some((i) => (i.type ?? '').toLowerCase() === 'password'));
    const consentForm = forms.find((f) => [...f.buttons, ...f.inputs].some((b) => b.value === 'approve'));
    const form = loginForm ?? consentForm;
    if (!form) throw new Error(`browser: page without a login or consent form at ${url.origin}${url.pathname}: ${text.slice(0, 300)}`);

    // Hidden inputs are submitted as they are, in both forms (txn, csrf, ...).
    const fields = new URLSearchParams();
    for (const i of form.inputs) {
      if ((i.type ?? '').toLowerCase() === 'hidden' && i.name) fields.append(i.name, i.value ?? '');
    }
    if (loginForm) {
      // A login form shown again means the credentials were refused (the test IdP answers 401).
      if (++loginsSubmitted > 1) throw new Error(`browser: login form shown again at ${url.origin}${url.pathname}`);
      const userInput = form.inputs.find((i) => ['text', 'email', ''].includes((i.type ?? '').toLowerCase()) && i.name);
      const passwordInput = form.inputs.find((i) => (i.type ?? '').toLowerCase() === 'password');
      fields.set(userInput?.name ?? 'login', user ?? '');
      fields.set(passwordInput.name ?? 'password', password ?? '');
      log(`browser: submitting the login form as ${user}`);
    } else {
      if (++consentsSubmitted > 1) throw new Error(`browser: consent form shown again at ${url.origin}${url.pathname}`);
      const approve = [...form.buttons, ...form.inputs].find((b) => b.value === 'approve');
      fields.set(approve.name || 'decision', 'approve');
      log('browser: approving the consent form');
    }
    if ((form.attrs.method ?? 'get').toLowerCase() === 'post') {
      method = 'POST';
      body = fields.toString();
      url = new URL(form.attrs.action || url.href, url);
    } else {
      method = 'GET';
      body = undefined;
      url = new URL(form.attrs.action || url.href, url);
      url.search = fields.toString();
    }
  }
  throw new Error(`browser: redirect URI not reached after ${MAX_HOPS} requests (last: ${url.origin}${url.pathname})`);
}

// RFC 8414 issuers, compared as the SDK does: as parsed URLs, tolerating one trailing slash.
function sameIssuer(a, b) {
  const norm = (s) => {
    try { return new URL(s).href.replace(/\/$/, ''); } catch { return String(s).replace(/\/$/, ''); }
  };
  return norm(a) === norm(b);
}

// ---------------------------------------------------------------------------------------------
let provider; // set by main(); read by report() on success and on failure

// What the provider saw, added to both the success and the error line.
function report() {
  return provider ? {
    logins: provider.logins,
    tokenSaves: provider.tokenSaves,
    refreshToken: Boolean(provider.data.tokens?.refresh_token),
    clientId: provider.data.clientInformation?.client_id ?? null,
    invalidated: provider.invalidated,
    blockedRedirect: provider.blockedRedirect,
  } : {};
}

async function main() {
  const mode = process.env.MODE || 'login';
  if (!['login', 'reuse', 'refresh'].includes(mode)) throw new Error(`MODE must be login, reuse or refresh, not ${mode}`);
  if (!process.env.MCP_URL) throw new Error('MCP_URL is required');
  const mcpUrl = new URL(process.env.MCP_URL);
  const redirectUri = process.env.REDIRECT_URI || 'http://127.0.0.1:53682/callback';
  provider = new FileOAuthProvider({
    stateFile: process.env.STATE_FILE,
    redirectUri,
    clientName: process.env.CLIENT_NAME || 'warden-ts-oauth-test',
    mode,
  });

  if (mode === 'refresh') {
    const tokens = provider.data.tokens;
    if (!tokens?.refresh_token) throw new Error('MODE=refresh needs saved tokens with a refresh_token');
    // Not through saveTokens: this is the test's doing, not the SDK's.
    provider.data.tokens = { ...tokens, access_token: 'invalid' };
    provider.persist();
  }

  // connect() as in the SDK's simpleOAuthClient example: on UnauthorizedError (the SDK called
  // redirectToAuthorization and gave up), run the browser, hand the code to finishAuth() and
  // connect again with a fresh Client and transport sharing the provider.
  let client;
  let transport;
  for (let attempt = 1; ; attempt += 1) {
    client = new Client({ name: 'warden-ts-oauth-test', version: '1.0.0' });
    transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    try {
      await client.connect(transport);
      break;
    } catch (error) {
      const authorizationUrl = provider.pendingAuthorizationUrl;
      provider.pendingAuthorizationUrl = undefined;
      if (!(error instanceof UnauthorizedError) || !authorizationUrl || mode !== 'login') throw error;
      if (attempt > 1) throw new Error(`the SDK asked for a second browser login after a completed one: ${error.message}`);
      const expectedState = provider.lastState;
      const { code, state, iss } = await browse(authorizationUrl, {
        redirectUri,
        user: process.env.IDP_USER,
        password: process.env.IDP_PASSWORD,
      });
      if (state !== expectedState) throw new Error(`state mismatch: sent ${expectedState}, got back ${state}`);
      // RFC 9207: when present, `iss` must name the authorization server the SDK discovered.
      const issuer = provider.discovery?.authorizationServerMetadata?.issuer;
      if (iss && issuer && !sameIssuer(iss, issuer)) throw new Error(`iss mismatch: metadata issuer ${issuer}, got back ${iss}`);
      if (!iss && provider.discovery?.authorizationServerMetadata?.authorization_response_iss_parameter_supported) {
        throw new Error('the authorization response has no iss, though the AS metadata says it sends one');
      }
      log(`got an authorization code (iss=${iss ?? '-'}); exchanging it`);
      await transport.finishAuth(code);
    }
  }

  if (mode === 'refresh' && provider.tokenSaves === 0) {
    throw new Error('the server accepted the access token "invalid" (no refresh happened)');
  }

  const tools = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : undefined);
    tools.push(...page.tools.map((t) => t.name));
    cursor = page.nextCursor;
  } while (cursor);
  const result = process.env.TOOL
    ? await client.callTool({ name: process.env.TOOL, arguments: JSON.parse(process.env.ARGS || '{}') })
    : null;
  await client.close();
  return { tools, result, ...report(), protocolVersion: transport.protocolVersion ?? null };
}

// Run only when executed directly (browse() can be imported by other test helpers).
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // stdout carries exactly one JSON line; anything else (ours or the SDK's) goes to stderr.
  console.log = console.info = console.debug = (...args) => console.error(...args);
  let output;
  let status = 0;
  try {
    output = await main();
  } catch (error) {
    log('failed:', error);
    output = { error: String(error?.message ?? error), code: error?.code ?? null, ...report() };
    status = 1;
  }
  // Exit explicitly: an SSE stream or a reconnection timer of the SDK must not keep us alive.
  process.stdout.write(`${JSON.stringify(output)}\n`, () => process.exit(status));
}
