// Test-only OpenID provider that behaves like an Auth0 tenant, for Warden's Rust
// integration tests. Built on oidc-provider (panva). NOT for production use.
// Configured only through environment variables; see README.md next to this file.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import { Provider, errors } from 'oidc-provider';

// stdout carries exactly one line ("listening on ..."); everything else goes to stderr.
// (oidc-provider prints its notices with console.info.)
console.log = console.info = console.debug = (...args) => console.error(...args);

const log = (...args) => console.error('[idp]', ...args);

function fail(message) {
  log(`fatal: ${message}`);
  process.exit(2);
}

function jsonEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  try {
    const value = JSON.parse(raw);
    if (!Array.isArray(value)) throw new Error('expected a JSON array');
    return value;
  } catch (err) {
    return fail(`${name}: ${err.message}`);
  }
}

const PORT = Number(process.env.IDP_PORT ?? 0);
const TTL = Number(process.env.IDP_ACCESS_TOKEN_TTL ?? 300);
const RESOURCES = (process.env.IDP_RESOURCES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const CLIENTS = jsonEnv('IDP_CLIENTS', []);
const USERS = jsonEnv('IDP_USERS', []);
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) fail('IDP_PORT must be a port number');
if (!Number.isInteger(TTL) || TTL <= 0) fail('IDP_ACCESS_TOKEN_TTL must be a positive integer');

const clientsById = new Map(CLIENTS.map((c) => [c.client_id, c]));
const usersBySub = new Map(USERS.map((u) => [u.sub, u]));

const splitScope = (scope) => (typeof scope === 'string' ? scope.split(' ').filter(Boolean) : []);

// Auth0 takes `audience`; RFC 8707 takes `resource`. `audience` is an alias, `resource` wins.
function audienceParam(ctx) {
  const value = ctx.oidc.params?.audience ?? ctx.oidc.body?.audience ?? ctx.query?.audience;
  return typeof value === 'string' && value ? value : undefined;
}

// ---------------------------------------------------------------------------------------------
// Signing keys. keys[0] signs; older keys stay published in the JWKS (see /__admin/rotate).
const keys = [];
function newSigningKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `k${keys.length + 1}-${crypto.randomBytes(6).toString('hex')}`;
  keys.unshift({ ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' });
  return kid;
}

// ---------------------------------------------------------------------------------------------
// Storage shared by every Provider instance. (oidc-provider's built-in memory adapter keeps one
// store per instance, which would lose sessions, grants and refresh tokens on /__admin/rotate.)
const store = new Map(); // "<model>:<id>" -> { payload, expiresAt }
class SharedMemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  static read(key) {
    const entry = store.get(key);
    if (entry && entry.expiresAt <= Date.now()) store.delete(key);
    else return entry?.payload;
    return undefined;
  }

  findBy(prop, value) {
    for (const [key, { payload }] of store) {
      if (key.startsWith(`${this.model}:`) && payload[prop] === value) return SharedMemoryAdapter.read(key);
    }
    return undefined;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
    store.set(this.key(id), { payload, expiresAt });
  }

  async find(id) { return SharedMemoryAdapter.read(this.key(id)); }

  async findByUid(uid) { return this.findBy('uid', uid); }

  async findByUserCode(userCode) { return this.findBy('userCode', userCode); }

  async consume(id) {
    const payload = SharedMemoryAdapter.read(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) { store.delete(this.key(id)); }

  async revokeByGrantId(grantId) {
    for (const [key, { payload }] of store) if (payload.grantId === grantId) store.delete(key);
  }
}

// Cookie signing keys are shared by every Provider instance so interactions survive a rotation.
const cookieKeys = [crypto.randomBytes(32).toString('hex')];

function buildProvider(issuer) {
  const signingKid = keys[0].kid;
  const provider = new Provider(issuer, {
    adapter: SharedMemoryAdapter,
    jwks: { keys: keys.map((k) => ({ ...k })) },
    cookies: { keys: cookieKeys },
    clients: CLIENTS.map((c) => {
      const grantTypes = [...(c.grant_types ?? ['client_credentials'])];
      const code = grantTypes.includes('authorization_code');
      if (code && !grantTypes.includes('refresh_token')) grantTypes.push('refresh_token');
      return {
        client_id: c.client_id,
        client_secret: c.client_secret,
        grant_types: grantTypes,
        response_types: code ? ['code'] : [],
        redirect_uris: c.redirect_uris ?? [],
        token_endpoint_auth_method: 'client_secret_basic', // client_secret_post is accepted too
      };
    }),
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    responseTypes: ['code'], // OAuth 2.1: authorization code only
    pkce: { required: () => true }, // oidc-provider 9 only implements S256
    extraParams: ['audience'],
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'name', 'nickname'],
      email: ['email', 'email_verified'],
    },
    async findAccount(ctx, sub) {
      const user = usersBySub.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: user.email,
            email_verified: true,
            preferred_username: user.username,
            nickname: user.username,
            name: user.username,
          };
        },
      };
    },
    // Auth0-style extra access-token claims.
    async extraTokenClaims(ctx, token) {
      if (token.accountId) {
        const user = usersBySub.get(token.accountId);
        return {
          permissions: [...(user?.permissions ?? [])],
          email: user?.email,
          username: user?.username,
        };
      }
      return { permissions: [...(clientsById.get(token.clientId)?.permissions ?? [])] };
    },
    formats: {
      customizers: {
        async jwt(ctx, token, jwt) {
          jwt.payload.scope ??= ''; // always present, even when nothing was requested
        },
      },
    },
    features: {
      devInteractions: { enabled: false }, // it accepts any password; see the /interaction routes
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: { enabled: true, allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId },
      resourceIndicators: {
        enabled: true,
        async defaultResource(ctx, client, oneOf) {
          const audience = audienceParam(ctx);
          if (oneOf) return audience && oneOf.includes(audience) ? audience : oneOf;
          if (!audience && ctx.oidc.route === 'token' && ctx.oidc.params?.grant_type === 'client_credentials') {
            throw new errors.InvalidTarget('an audience (or resource) parameter is required');
          }
          return audience;
        },
        // The authorization code's resource is used at the token endpoint without repeating it.
        useGrantedResource: async () => true,
        async getResourceServerInfo(ctx, indicator, client) {
          if (!RESOURCES.includes(indicator)) {
            throw new errors.InvalidTarget(`unknown resource (audience): ${indicator}`);
          }
          const { params } = ctx.oidc;
          if (ctx.oidc.route === 'token' && params.grant_type === 'client_credentials' && !params.scope) {
            // Like Auth0: client_credentials without `scope` gets everything the client is granted.
            params.scope = (clientsById.get(client.clientId)?.permissions ?? []).join(' ') || undefined;
          }
          // Any requested scope is allowed for a known resource (plus what the grant already holds).
          const scope = new Set(splitScope(ctx.oidc.params?.scope));
          for (const s of splitScope(ctx.oidc.entities?.Grant?.getResourceScope(indicator))) scope.add(s);
          return {
            scope: [...scope].join(' '),
            audience: indicator,
            accessTokenTTL: TTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256', kid: signingKid } },
          };
        },
      },
    },
    ttl: {
      AccessToken: TTL,
      ClientCredentials: TTL,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 24 * 3600,
      Interaction: 600,
      Session: 3600,
      Grant: 24 * 3600,
    },
    clientBasedCORS: () => false,
    async renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  });
  // RFC 8693 token exchange, through oidc-provider's own grant-type extension point (TEST CODE:
  // oidc-provider ships no token-exchange grant). The subject token must be an access token this
  // IdP issued; the new token is an at+jwt for the requested audience (or resource), with the
  // subject's `sub`, the requested scope and an `act` claim naming the exchanging client.
  provider.registerGrantType(TOKEN_EXCHANGE, (ctx) => tokenExchange(ctx, issuer),
    ['subject_token', 'subject_token_type', 'requested_token_type', 'audience', 'resource', 'scope']);
  for (const event of ['server_error', 'grant.error', 'authorization.error', 'introspection.error']) {
    provider.on(event, (ctx, err) => log(`${event}: ${err?.message}: ${err?.error_description ?? ''} ${err?.error_detail ?? ''}`));
  }
  return { provider, handler: provider.callback(), signingKid };
}

// ---------------------------------------------------------------------------------------------
// Small HTTP helpers.
async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

const html = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// ---------------------------------------------------------------------------------------------
// Login / consent interactions: username+password checked against IDP_USERS, consent auto-granted.
function loginPage(uid, clientId, error) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign-in</title></head>
<body>
<h1>Sign-in to ${html(clientId)}</h1>
${error ? `<p id="error">${html(error)}</p>` : ''}
<form method="post" action="/interaction/${html(uid)}/login">
  <input type="text" name="login" placeholder="username or email" autofocus>
  <input type="password" name="password" placeholder="password">
  <button type="submit">Sign-in</button>
</form>
</body></html>`;
}

async function interaction(provider, req, res, url) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params, session, grantId } = details;

  if (req.method === 'GET' && prompt.name === 'login') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    return res.end(loginPage(uid, params.client_id));
  }

  if (req.method === 'POST' && url.pathname === `/interaction/${uid}/login` && prompt.name === 'login') {
    const form = new URLSearchParams(await readBody(req));
    const login = form.get('login') ?? '';
    const user = USERS.find((u) => (u.username === login || u.email === login)
      && typeof u.password === 'string' && u.password === form.get('password'));
    if (!user) {
      res.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      return res.end(loginPage(uid, params.client_id, 'invalid username or password'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
  }

  if (req.method === 'GET' && prompt.name === 'consent') {
    // Auto-consent: grant exactly what is missing.
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const result = { consent: { grantId: await grant.save() } };
    return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
  }

  return sendJson(res, 400, { error: 'invalid_request', error_description: `unexpected ${req.method} for prompt ${prompt.name}` });
}

// ---------------------------------------------------------------------------------------------
// Introspection of JWT access tokens. oidc-provider refuses to introspect structured (JWT)
// tokens, so they are verified here against the published keys; opaque tokens (refresh tokens,
// userinfo-only access tokens) are passed on to oidc-provider.
function authenticateClient(req, form) {
  let id = form.get('client_id');
  let secret = form.get('client_secret');
  const auth = req.headers.authorization;
  if (auth?.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    const dec = (s) => decodeURIComponent(s.replace(/\+/g, '%20'));
    try {
      id = dec(decoded.slice(0, i));
      secret = dec(decoded.slice(i + 1));
    } catch {
      return undefined;
    }
  }
  const client = clientsById.get(id);
  return client && typeof secret === 'string' && client.client_secret === secret ? client : undefined;
}

function verifyJwtAccessToken(token, issuer) {
  const [h, p, s] = token.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  const jwk = keys.find((k) => k.kid === header.kid);
  if (!jwk || header.alg !== 'RS256' || header.typ !== 'at+jwt') return undefined;
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' }); // derived from the private JWK
  const ok = crypto.verify('RSA-SHA256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'));
  if (!ok || payload.iss !== issuer || !(payload.exp > Date.now() / 1000)) return undefined;
  return payload;
}

async function introspect(current, issuer, req, res) {
  const raw = await readBody(req);
  const form = new URLSearchParams(raw);
  const token = form.get('token') ?? '';
  if (token.split('.').length !== 3) {
    req.body = raw; // oidc-provider reads an already-consumed body from req.body
    return current.handler(req, res);
  }
  if (!authenticateClient(req, form)) {
    return sendJson(res, 401, { error: 'invalid_client', error_description: 'client authentication failed' });
  }
  let payload;
  try {
    payload = verifyJwtAccessToken(token, issuer);
  } catch {
    payload = undefined;
  }
  return sendJson(res, 200, payload ? { active: true, token_type: 'Bearer', ...payload } : { active: false });
}

// ---------------------------------------------------------------------------------------------
// TEST CODE: token exchange (see registerGrantType above) and an Auth0-like /userinfo.
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
let exchanges = 0;

function signJwt(payload) {
  const jwk = keys[0];
  const header = { alg: 'RS256', typ: 'at+jwt', kid: jwk.kid };
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc(header)}.${enc(payload)}`;
  const key = crypto.createPrivateKey({ key: jwk, format: 'jwk' });
  return `${input}.${crypto.sign('RSA-SHA256', Buffer.from(input), key).toString('base64url')}`;
}

async function tokenExchange(ctx, issuer) {
  const { params, client } = ctx.oidc;
  const refuse = (status, error, description) => {
    ctx.status = status;
    ctx.body = { error, error_description: description };
  };
  if (!client.grantTypeAllowed(TOKEN_EXCHANGE)) return refuse(400, 'unauthorized_client', 'token exchange is not allowed for this client');
  if (params.subject_token_type !== ACCESS_TOKEN_TYPE) return refuse(400, 'invalid_request', 'subject_token_type must be an access token');
  let subject;
  try {
    subject = verifyJwtAccessToken(params.subject_token ?? '', issuer);
  } catch {
    subject = undefined;
  }
  if (!subject?.sub) return refuse(400, 'invalid_grant', 'the subject token is not a valid access token of this IdP');
  const audience = params.resource ?? params.audience;
  if (!audience || !RESOURCES.includes(audience)) return refuse(400, 'invalid_target', `unknown audience: ${audience}`);
  const now = Math.floor(Date.now() / 1000);
  exchanges += 1;
  const token = signJwt({
    iss: issuer, sub: subject.sub, aud: audience, client_id: client.clientId, scope: params.scope ?? '',
    iat: now, exp: now + TTL, jti: crypto.randomBytes(12).toString('hex'), act: { sub: client.clientId },
  });
  ctx.body = { access_token: token, issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: TTL };
}

// Like Auth0's /userinfo: the profile of the user an access token (for any audience) was issued to.
function userinfo(req, res) {
  const auth = req.headers.authorization ?? '';
  const token = auth.toLowerCase().startsWith('bearer ') ? auth.slice(7).trim() : '';
  let payload;
  try {
    payload = verifyJwtAccessToken(token, issuer);
  } catch {
    payload = undefined;
  }
  const user = payload && usersBySub.get(payload.sub);
  if (!user) return sendJson(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
  return sendJson(res, 200, {
    sub: payload.sub, email: user.email, email_verified: true, name: user.username,
    nickname: user.username, preferred_username: user.username,
  });
}

// ---------------------------------------------------------------------------------------------
// Server. The Provider instance is swapped on key rotation (oidc-provider takes its keys at
// construction); clients are static config and sessions, grants, codes and refresh tokens live
// in the shared store above, so nothing is lost.
let issuer;
let current;

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);

    // ---- TEST HOOKS (not part of any real IdP) ----
    if (url.pathname === '/__admin/rotate' && req.method === 'POST') {
      const kid = newSigningKey();
      current = buildProvider(issuer);
      log(`rotated signing key -> ${kid}`);
      return sendJson(res, 200, { kid });
    }
    if (url.pathname === '/__admin/exchanges' && req.method === 'GET') {
      return sendJson(res, 200, { exchanges });
    }
    if (url.pathname === '/__admin/keys' && req.method === 'GET') {
      return sendJson(res, 200, { signing_kid: current.signingKid, kids: keys.map((k) => k.kid) });
    }
    // ---- end of test hooks ----

    if (url.pathname === '/userinfo' && req.method === 'GET') return userinfo(req, res);
    if (url.pathname.startsWith('/interaction/')) {
      return await interaction(current.provider, req, res, url);
    }
    if (url.pathname === '/token/introspection' && req.method === 'POST') {
      return await introspect(current, issuer, req, res);
    }
    // Like Auth0, `offline_access` alone is enough to get a refresh token; oidc-provider
    // (following OIDC Core) also wants prompt=consent, which is then auto-granted.
    if (url.pathname === '/auth' && req.method === 'GET'
      && splitScope(url.searchParams.get('scope')).includes('offline_access') && !url.searchParams.has('prompt')) {
      url.searchParams.set('prompt', 'consent');
      req.url = `${url.pathname}${url.search}`;
    }
    return current.handler(req, res);
  } catch (err) {
    // e.g. an unknown or expired interaction (oidc-provider errors carry statusCode/error)
    const status = err?.statusCode ?? 500;
    log(`request failed (${status}):`, status === 500 ? err : `${err.message}: ${err.error_description ?? ''}`);
    if (!res.headersSent) {
      sendJson(res, status, { error: err?.error ?? 'server_error', error_description: err?.error_description ?? String(err?.message ?? err) });
    } else res.end();
  }
});

server.on('error', (err) => fail(err.message));
server.listen(PORT, '127.0.0.1', () => {
  const { port } = server.address();
  issuer = `http://127.0.0.1:${port}`;
  newSigningKey();
  current = buildProvider(issuer);
  process.stdout.write(`listening on ${issuer}\n`);
});

function shutdown(signal) {
  log(`${signal}, shutting down`);
  server.close();
  server.closeAllConnections();
  process.exit(0); // all state is in memory; nothing to flush
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
