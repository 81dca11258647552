// Test-only OpenID provider that mirrors Keycloak's URL layout, claims and login
// form, built on the real `oidc-provider` package. Used by sekisho's end-to-end
// tests; see README.md in this directory. Never expose it beyond 127.0.0.1.
//
//   node server.js                 all defaults, ephemeral port
//   node server.js config.json     JSON config from a file
//   node server.js '{"port":0}'    JSON config inline (argument starts with "{")
//
// When listening it prints exactly one line on stdout:
//   {"ready":true,"issuer":"http://127.0.0.1:PORT/realms/demo","port":PORT}
// Everything else (warnings, request log) goes to stderr.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

// oidc-provider prints notices with console.info/console.log: keep stdout for
// the single ready line.
console.log = console.error;
console.info = console.error;

if (typeof URL.parse !== 'function') {
  console.error(`oidc-provider 9 needs Node.js >= 20.18 (this is ${process.version})`);
  process.exit(1);
}

const { default: Provider } = await import('oidc-provider');
// Deep imports (the package has no "exports" map and is pinned to an exact
// version): used for runtime key rotation and an unbounded in-memory store.
const { default: initializeKeystore } = await import('oidc-provider/lib/helpers/initialize_keystore.js');
const { default: MemoryAdapter } = await import('oidc-provider/lib/adapters/memory_adapter.js');
const { default: LRU } = await import('oidc-provider/lib/helpers/lru.js');

// ---------------------------------------------------------------------------
// configuration

function loadConfig() {
  const arg = process.argv[2];
  if (!arg) return {};
  const text = arg.trimStart().startsWith('{') ? arg : fs.readFileSync(arg, 'utf8');
  return JSON.parse(text);
}

const raw = loadConfig();
const REALM = raw.realm ?? 'demo';
const PORT = raw.port ?? 0;
const HOST = '127.0.0.1';
const MOUNT = `/realms/${REALM}`;
const ACCESS_TOKEN_TTL = raw.access_token_ttl ?? 300;
const ID_TOKEN_TTL = raw.id_token_ttl ?? ACCESS_TOKEN_TTL;
const REFRESH_TOKEN_TTL = raw.refresh_token_ttl ?? 1800;
const SESSION_TTL = raw.session_ttl ?? 36000;
const ROTATE_REFRESH_TOKENS = raw.rotate_refresh_tokens ?? true;
const ROLES_IN_ID_TOKEN = raw.roles_in_id_token ?? true;
const EXPAND_DEFAULT_ROLES = raw.expand_default_roles ?? true;
const LOG_REQUESTS = raw.log_requests ?? true;

const CLIENTS = (raw.clients ?? [{}]).map((c) => ({
  client_id: c.client_id ?? 'sekisho',
  client_secret: c.client_secret ?? 'sekisho-secret',
  redirect_uris: c.redirect_uris ?? ['http://127.0.0.1/*'],
  post_logout_redirect_uris: c.post_logout_redirect_uris ?? ['http://127.0.0.1/*'],
  backchannel_logout_uri: c.backchannel_logout_uri ?? undefined,
}));

const DEFAULT_USERS = [
  {
    id: 'a11ce000-0000-4000-8000-000000000001',
    username: 'alice',
    password: 'alice-password',
    email: 'alice@example.com',
    email_verified: true,
    given_name: 'Alice',
    family_name: 'Liddell',
    groups: ['/admins'],
    realm_roles: ['admin', `default-roles-${REALM}`],
    client_roles: { sekisho: ['editor'] },
  },
  {
    id: 'b0b00000-0000-4000-8000-000000000002',
    username: 'bob',
    password: 'bob-password',
    email: 'bob@example.com',
    email_verified: true,
    given_name: 'Bob',
    family_name: 'Builder',
    groups: ['/dev'],
    realm_roles: [`default-roles-${REALM}`],
    client_roles: {},
  },
];
const USERS = (raw.users ?? DEFAULT_USERS).map((u) => ({
  id: u.id ?? crypto.randomUUID(),
  email_verified: true,
  groups: [],
  realm_roles: [`default-roles-${REALM}`],
  client_roles: {},
  ...u,
}));
const usersById = new Map(USERS.map((u) => [u.id, u]));

function findUserForLogin(login) {
  const l = String(login ?? '').trim().toLowerCase();
  return USERS.find((u) => u.username.toLowerCase() === l || u.email?.toLowerCase() === l);
}

// Keycloak puts the *effective* roles in tokens: the composite role
// default-roles-<realm> expands to offline_access, uma_authorization and the
// "account" client's manage-account, manage-account-links, view-profile.
function effectiveRoles(user) {
  const realm = [...user.realm_roles];
  const clients = Object.fromEntries(
    Object.entries(user.client_roles).map(([k, v]) => [k, [...v]]),
  );
  if (EXPAND_DEFAULT_ROLES && realm.includes(`default-roles-${REALM}`)) {
    for (const r of ['offline_access', 'uma_authorization']) if (!realm.includes(r)) realm.push(r);
    clients.account ??= [];
    for (const r of ['manage-account', 'manage-account-links', 'view-profile']) {
      if (!clients.account.includes(r)) clients.account.push(r);
    }
  }
  const resourceAccess = {};
  for (const [clientId, roles] of Object.entries(clients)) {
    if (roles.length) resourceAccess[clientId] = { roles };
  }
  return { realm_access: { roles: realm }, resource_access: resourceAccess };
}

function userClaims(user, { roles = true } = {}) {
  const name = [user.given_name, user.family_name].filter(Boolean).join(' ');
  return {
    sub: user.id,
    email_verified: user.email_verified,
    ...(name ? { name } : {}),
    preferred_username: user.username,
    ...(user.given_name ? { given_name: user.given_name } : {}),
    ...(user.family_name ? { family_name: user.family_name } : {}),
    ...(user.email ? { email: user.email } : {}),
    // Keycloak's Group Membership mapper leaves the claim out for a user in no group.
    ...(user.groups?.length ? { groups: user.groups } : {}),
    ...(roles ? effectiveRoles(user) : {}),
  };
}

// Keycloak's default client scopes "profile" and "email" are always applied and
// show up in the access token's scope claim even when only "openid" was asked.
function keycloakScope(scope) {
  const out = [];
  for (const s of [...String(scope ?? '').split(' '), 'profile', 'email']) {
    if (s && !out.includes(s)) out.push(s);
  }
  return out.join(' ');
}

// ---------------------------------------------------------------------------
// signing keys (RS256, like Keycloak's default "rsa-generated" provider)

const keys = []; // newest first; the first one signs

function newSigningKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  // RFC 7638 thumbprint as kid, as Keycloak does.
  const kid = crypto.createHash('sha256')
    .update(JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n }))
    .digest('base64url');
  return {
    kid,
    jwk: { ...jwk, kid, alg: 'RS256', use: 'sig' },
    publicKey: crypto.createPublicKey(privateKey),
  };
}

keys.push(newSigningKey());
const jwksConfig = () => ({ keys: keys.map((k) => k.jwk) });

// ---------------------------------------------------------------------------
// redirect URI matching like Keycloak: exact; a trailing "*" is a prefix
// wildcard; a loopback http URI registered without a port matches any port.

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

function withoutLoopbackPort(uri) {
  const u = URL.parse(uri);
  if (!u || u.protocol !== 'http:' || !LOOPBACK.has(u.hostname)) return undefined;
  u.port = '';
  return u.href;
}

function uriMatches(value, allowed) {
  if (typeof value !== 'string') return false;
  if (value === allowed) return true;
  const registered = URL.parse(allowed);
  const anyPort = registered && registered.protocol === 'http:'
    && LOOPBACK.has(registered.hostname) && registered.port === '';
  const candidate = anyPort ? withoutLoopbackPort(value) : value;
  if (candidate === undefined) return false;
  if (allowed.endsWith('*')) return candidate.startsWith(allowed.slice(0, -1));
  return candidate === allowed;
}

// ---------------------------------------------------------------------------
// counters for the test admin endpoint

function freshCounters() {
  return {
    token: {}, // every request that reached the token endpoint, by grant_type
    token_errors: {}, // those of them that failed, by grant_type
    refresh_tokens: {}, // how often each refresh token was presented, by a fingerprint of it
    authorization: 0,
    login_success: 0,
    login_failure: 0,
    userinfo: 0,
    introspection: 0,
    revocation: 0,
    jwks: 0,
    discovery: 0,
    logout: 0, // provider sessions ended via RP-initiated logout
    backchannel_logout: { success: 0, error: 0 },
  };
}
let counters = freshCounters();
const bump = (obj, key) => { obj[key] = (obj[key] ?? 0) + 1; };

// ---------------------------------------------------------------------------
// provider

let ISSUER; // set once the port is known
let provider;
let resourceIndicator;
// jti -> { grantId } for JWT access tokens we issued (userinfo, introspection)
const issuedAccessTokens = new Map();
const revokedAccessTokens = new Set();
const store = new LRU({ maxSize: 1_000_000 });

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body id="keycloak-bg">
<div id="kc-header"><div id="kc-header-wrapper">${esc(REALM.toUpperCase())}</div></div>
<div id="kc-content">
${body}
</div>
</body>
</html>
`;
}

function loginPage({ action, username = '', error }) {
  return page(`Sign in to ${REALM}`, `<h1 id="kc-page-title">Sign in to your account</h1>
${error ? `<div class="alert-error"><span id="input-error" class="kc-feedback-text" aria-live="polite">${esc(error)}</span></div>` : ''}
<form id="kc-form-login" action="${esc(action)}" method="post">
  <label for="username">Username or email</label>
  <input tabindex="1" id="username" name="username" value="${esc(username)}" type="text" autofocus autocomplete="off">
  <label for="password">Password</label>
  <input tabindex="2" id="password" name="password" type="password" autocomplete="off">
  <input type="hidden" id="id-hidden-input" name="credentialId">
  <input tabindex="4" name="login" id="kc-login" type="submit" value="Sign In">
</form>`);
}

function buildProvider() {
  const clients = CLIENTS.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris,
    post_logout_redirect_uris: c.post_logout_redirect_uris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic', // client_secret_post works too
    ...(c.backchannel_logout_uri ? {
      backchannel_logout_uri: c.backchannel_logout_uri,
      backchannel_logout_session_required: true,
    } : {}),
  }));

  const profileClaims = ['name', 'given_name', 'family_name', 'preferred_username'];
  const emailClaims = ['email', 'email_verified'];
  const roleClaims = ['realm_access', 'resource_access'];

  const configuration = {
    adapter: (model) => new MemoryAdapter(model, store),
    clients,
    jwks: jwksConfig(),
    cookies: {
      keys: [crypto.randomBytes(32).toString('base64url')],
      names: {
        session: 'KEYCLOAK_SESSION',
        interaction: 'AUTH_SESSION_ID',
        resume: 'AUTH_SESSION_ID_RESUME',
      },
      long: { httpOnly: true, sameSite: 'lax', path: `${MOUNT}/` },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    // Keycloak's default client scopes apply without being asked for, so every
    // claim hangs off "openid".
    claims: {
      openid: ['sub', 'auth_time', 'acr', ...profileClaims, ...emailClaims, 'groups', ...roleClaims],
      profile: profileClaims,
      email: emailClaims,
      roles: roleClaims,
      acr: ['acr'],
      basic: ['sub', 'auth_time'],
      'web-origins': [],
      sid: null,
      auth_time: null,
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'roles', 'web-origins', 'acr', 'basic'],
    acrValues: ['0', '1'],
    conformIdTokenClaims: false,
    allowOmittingSingleRegisteredRedirectUri: false,
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    routes: {
      authorization: '/protocol/openid-connect/auth',
      token: '/protocol/openid-connect/token',
      jwks: '/protocol/openid-connect/certs',
      userinfo: '/protocol/openid-connect/userinfo',
      end_session: '/protocol/openid-connect/logout',
      revocation: '/protocol/openid-connect/revoke',
      introspection: '/protocol/openid-connect/token/introspect',
      pushed_authorization_request: '/protocol/openid-connect/ext/par/request',
    },
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL,
      IdToken: ID_TOKEN_TTL,
      RefreshToken: REFRESH_TOKEN_TTL,
      AuthorizationCode: 60,
      Interaction: 1800,
      Session: SESSION_TTL,
      Grant: SESSION_TTL,
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: ROTATE_REFRESH_TOKENS,
    interactions: {
      url: async (_ctx, interaction) => `${ISSUER}/login-actions/authenticate/${interaction.uid}`,
    },
    // Consent is off for Keycloak clients: grant whatever was asked for.
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      const accountId = oidc.account?.accountId ?? oidc.session.accountId;
      const clientId = oidc.client.clientId;
      const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(clientId);
      let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (!grant || grant.accountId !== accountId) {
        grant = new oidc.provider.Grant({ accountId, clientId });
      }
      const scopes = [...oidc.requestParamOIDCScopes];
      if (scopes.length) grant.addOIDCScope(scopes.join(' '));
      const claims = [...oidc.requestParamClaims];
      if (claims.length) grant.addOIDCClaims(claims);
      for (const [indicator, rs] of Object.entries(oidc.resourceServers ?? {})) {
        const wanted = [...oidc.requestParamScopes].filter((s) => rs.scopes.has(s));
        if (wanted.length) grant.addResourceScope(indicator, wanted.join(' '));
      }
      await grant.save();
      return grant;
    },
    async findAccount(_ctx, sub) {
      const user = usersById.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims(use) {
          if (use === 'userinfo') {
            return userClaims(user, { roles: false });
          }
          return userClaims(user, { roles: use !== 'id_token' || ROLES_IN_ID_TOKEN });
        },
      };
    },
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = page('Logging out', `<h1 id="kc-page-title">Logging out</h1>
<p class="instruction">Do you want to log out?</p>
${form}
<button form="op.logoutForm" type="submit" name="logout" value="yes" id="kc-logout">Logout</button>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = page('Signing out', '<h1 id="kc-page-title">You are logged out</h1>');
        },
      },
      resourceIndicators: {
        enabled: true,
        // Every access token is a JWT for Keycloak's "account" audience.
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? resourceIndicator,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => ({
          scope: 'openid offline_access profile email roles web-origins acr basic',
          audience: 'account',
          accessTokenTTL: ACCESS_TOKEN_TTL,
          accessTokenFormat: 'jwt',
        }),
      },
    },
    formats: {
      customizers: {
        // Shape JWT access tokens like Keycloak's.
        async jwt(ctx, token, jwt) {
          const user = usersById.get(token.accountId);
          const source = ctx?.oidc?.entities?.AuthorizationCode
            ?? ctx?.oidc?.entities?.RotatedRefreshToken
            ?? ctx?.oidc?.entities?.RefreshToken;
          const p = jwt.payload;
          const claims = user ? userClaims(user) : {};
          const azp = token.clientId;
          const audience = Object.keys(claims.resource_access ?? {}).filter((c) => c !== azp);
          jwt.header = { typ: 'JWT' };
          jwt.payload = {
            exp: p.exp,
            iat: p.iat,
            ...(source?.authTime ? { auth_time: source.authTime } : {}),
            jti: p.jti,
            iss: p.iss,
            aud: audience.length === 0 ? p.aud : (audience.length === 1 ? audience[0] : audience),
            sub: p.sub,
            typ: 'Bearer',
            azp,
            ...(token.sid ? { sid: token.sid } : {}),
            acr: source?.acr ?? '1',
            ...(claims.realm_access ? { realm_access: claims.realm_access } : {}),
            ...(claims.resource_access ? { resource_access: claims.resource_access } : {}),
            scope: keycloakScope(source?.scope ?? p.scope),
            ...Object.fromEntries(Object.entries(claims).filter(([k]) => !['sub', 'realm_access', 'resource_access'].includes(k))),
          };
          issuedAccessTokens.set(p.jti, { grantId: token.grantId });
        },
      },
    },
    // Back-channel logout goes to loopback in tests: drop the SSRF guard's
    // dispatcher, which refuses special-use addresses such as 127.0.0.1.
    fetch: (url, options) => {
      const { dispatcher, ...rest } = options;
      return globalThis.fetch(url, rest);
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Error', `<div id="kc-error-message">
<h1 id="kc-page-title">We are sorry...</h1>
<p class="instruction" id="error">${esc(out.error)}</p>
<p class="instruction" id="error_description">${esc(out.error_description)}</p>
</div>`);
    },
  };

  const p = new Provider(ISSUER, configuration);
  p.proxy = false;

  // Keycloak puts sid in every ID token (oidc-provider only does for clients
  // registered for back-channel logout with session_required).
  p.Client.prototype.includeSid = function includeSid() { return true; };
  p.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
    return this.redirectUris.some((a) => uriMatches(value, a));
  };
  p.Client.prototype.postLogoutRedirectUriAllowed = function plrAllowed(value) {
    return (this.postLogoutRedirectUris ?? []).some((a) => uriMatches(value, a));
  };
  // Keycloak-style extras in ID tokens (typ, azp, jti) and logout tokens (typ).
  const originalIssue = p.IdToken.prototype.issue;
  p.IdToken.prototype.issue = function issue(options = {}) {
    if (options.use === 'idtoken') {
      this.set('jti', crypto.randomUUID());
      this.set('typ', 'ID');
      this.set('azp', this.client.clientId);
    } else if (options.use === 'logout') {
      this.set('typ', 'Logout');
    }
    return originalIssue.call(this, options);
  };

  p.on('end_session.success', () => { counters.logout += 1; });
  p.on('backchannel.success', (_ctx, client, accountId, sid) => {
    counters.backchannel_logout.success += 1;
    console.error(`back-channel logout ok: client=${client.clientId} sub=${accountId} sid=${sid}`);
  });
  p.on('backchannel.error', (_ctx, err, client) => {
    counters.backchannel_logout.error += 1;
    console.error(`back-channel logout FAILED: client=${client.clientId}: ${err.message}`);
  });
  p.on('server_error', (_ctx, err) => { console.error('server_error', err); });

  p.use(routesBeforeProvider);
  return p;
}

// ---------------------------------------------------------------------------
// helpers for the routes handled before oidc-provider

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function looksLikeJwt(token) {
  if (typeof token !== 'string' || token.split('.').length !== 3) return false;
  try {
    return typeof JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()).alg === 'string';
  } catch {
    return false;
  }
}

// Verifies one of our JWT access tokens: signature (any published key),
// iss, exp, typ, and that its grant (the login session) still exists.
async function verifyAccessToken(token, { checkExpiry = true } = {}) {
  try {
    const [h, pl, sig] = token.split('.');
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    const payload = JSON.parse(Buffer.from(pl, 'base64url').toString());
    const key = keys.find((k) => k.kid === header.kid);
    if (!key || header.alg !== 'RS256') return undefined;
    const ok = crypto.verify('sha256', Buffer.from(`${h}.${pl}`), key.publicKey, Buffer.from(sig, 'base64url'));
    if (!ok) return undefined;
    if (payload.iss !== ISSUER || payload.typ !== 'Bearer') return undefined;
    if (checkExpiry && !(payload.exp > Math.floor(Date.now() / 1000))) return undefined;
    return payload;
  } catch {
    return undefined;
  }
}

async function accessTokenActive(payload) {
  if (!payload || revokedAccessTokens.has(payload.jti)) return false;
  const issued = issuedAccessTokens.get(payload.jti);
  if (!issued) return false;
  const grant = await provider.Grant.find(issued.grantId);
  return !!grant;
}

function clientFromRequest(ctx, form) {
  let id;
  let secret;
  const auth = ctx.get('authorization');
  if (auth && auth.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i === -1) return undefined;
    const dec = (s) => decodeURIComponent(s.replace(/\+/g, '%20'));
    id = dec(decoded.slice(0, i));
    secret = dec(decoded.slice(i + 1));
  } else {
    id = form.get('client_id');
    secret = form.get('client_secret');
  }
  const client = CLIENTS.find((c) => c.client_id === id);
  if (!client || typeof secret !== 'string') return undefined;
  const a = Buffer.from(client.client_secret);
  const b = Buffer.from(secret);
  return a.length === b.length && crypto.timingSafeEqual(a, b) ? client : undefined;
}

function json(ctx, status, body, headers = {}) {
  ctx.status = status;
  ctx.set('cache-control', 'no-store');
  for (const [k, v] of Object.entries(headers)) ctx.set(k, v);
  ctx.body = body;
}

async function handleInteraction(ctx) {
  const uid = ctx.path.slice('/login-actions/authenticate/'.length);
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = page('Error', `<div id="kc-error-message"><h1 id="kc-page-title">We are sorry...</h1>
<p class="instruction" id="error">Your login attempt timed out. Login will start from the beginning. (${esc(err.message)})</p></div>`);
    return;
  }
  if (details.uid !== uid) {
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = page('Error', '<div id="kc-error-message"><p class="instruction" id="error">Invalid interaction.</p></div>');
    return;
  }

  const finish = async (result) => {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.redirect(returnTo);
  };

  const { prompt } = details;
  if (prompt.name === 'consent') {
    // Never happens with the auto-granting loadExistingGrant, kept as a safety net.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    await finish({ consent: { grantId: await grant.save() } });
    return;
  }
  if (prompt.name !== 'login') {
    ctx.status = 400;
    ctx.body = `unsupported prompt ${prompt.name}`;
    return;
  }

  const action = `${ISSUER}/login-actions/authenticate/${uid}`;
  ctx.set('cache-control', 'no-store');
  ctx.type = 'html';
  if (ctx.method === 'GET') {
    ctx.status = 200;
    ctx.body = loginPage({ action, username: details.params.login_hint ?? '' });
    return;
  }
  if (ctx.method !== 'POST') {
    ctx.status = 405;
    return;
  }
  const form = new URLSearchParams(await readBody(ctx.req));
  const username = form.get('username') ?? '';
  const user = findUserForLogin(username);
  if (!user || form.get('password') !== user.password) {
    counters.login_failure += 1;
    ctx.status = 200; // Keycloak re-renders the form with 200
    ctx.body = loginPage({ action, username, error: 'Invalid username or password.' });
    return;
  }
  counters.login_success += 1;
  await finish({
    login: { accountId: user.id, acr: '1', amr: ['pwd'], remember: false },
  });
}

async function handleUserinfo(ctx) {
  counters.userinfo += 1;
  let token;
  const auth = ctx.get('authorization');
  if (auth && /^bearer /i.test(auth)) token = auth.slice(7).trim();
  if (!token && ctx.method === 'POST' && ctx.is('application/x-www-form-urlencoded')) {
    token = new URLSearchParams(await readBody(ctx.req)).get('access_token') ?? undefined;
  }
  if (!token) {
    json(ctx, 401, { error: 'invalid_request', error_description: 'Token not provided' },
      { 'www-authenticate': `Bearer realm="${REALM}"` });
    return;
  }
  const payload = await verifyAccessToken(token);
  if (!payload || !(await accessTokenActive(payload))) {
    json(ctx, 401, { error: 'invalid_token', error_description: 'Token verification failed' },
      { 'www-authenticate': `Bearer realm="${REALM}", error="invalid_token", error_description="Token verification failed"` });
    return;
  }
  const user = usersById.get(payload.sub);
  if (!user) {
    json(ctx, 401, { error: 'invalid_token', error_description: 'User not found' });
    return;
  }
  json(ctx, 200, userClaims(user, { roles: false }));
}

// ---------------------------------------------------------------------------
// middleware in front of oidc-provider's own routes

async function routesBeforeProvider(ctx, next) {
  const { path, method } = ctx;

  if (path.startsWith('/login-actions/authenticate/')) {
    await handleInteraction(ctx);
    return;
  }

  if (path === '/protocol/openid-connect/userinfo' && (method === 'GET' || method === 'POST')) {
    await handleUserinfo(ctx);
    return;
  }

  if ((path === '/protocol/openid-connect/token/introspect' || path === '/protocol/openid-connect/revoke')
    && method === 'POST') {
    const introspect = path.endsWith('/introspect');
    bump(counters, introspect ? 'introspection' : 'revocation');
    const rawBody = await readBody(ctx.req);
    const form = new URLSearchParams(rawBody);
    const token = form.get('token');
    if (looksLikeJwt(token)) {
      // oidc-provider refuses structured tokens at these endpoints; Keycloak
      // accepts its JWT access tokens, so answer here.
      const client = clientFromRequest(ctx, form);
      if (!client) {
        json(ctx, 401, { error: 'invalid_client', error_description: 'Authentication failed.' });
        return;
      }
      const payload = await verifyAccessToken(token);
      if (introspect) {
        const active = await accessTokenActive(payload);
        json(ctx, 200, active ? {
          ...payload,
          client_id: payload.azp,
          username: payload.preferred_username,
          token_type: 'Bearer',
          active: true,
        } : { active: false });
      } else {
        if (payload) revokedAccessTokens.add(payload.jti);
        ctx.status = 200;
        ctx.body = '';
      }
      return;
    }
    // Opaque tokens (refresh tokens): let oidc-provider read the body we took.
    ctx.req.body = rawBody;
    await next();
    return;
  }

  if (path === '/protocol/openid-connect/auth' && method === 'GET') counters.authorization += 1;
  if (path === '/protocol/openid-connect/certs') counters.jwks += 1;
  if (path === '/.well-known/openid-configuration') counters.discovery += 1;

  const isToken = path === '/protocol/openid-connect/token' && method === 'POST';
  await next();

  if (isToken) {
    const grantType = ctx.oidc?.params?.grant_type ?? 'unknown';
    bump(counters.token, grantType);
    if (ctx.status !== 200) bump(counters.token_errors, grantType);
    const presented = ctx.oidc?.params?.refresh_token;
    if (grantType === 'refresh_token' && presented) {
      bump(counters.refresh_tokens, crypto.createHash('sha256').update(presented).digest('base64url').slice(0, 16));
    }
    if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && ctx.body.access_token) {
      const { RefreshToken: rt, AccessToken: at } = ctx.oidc.entities;
      const body = { ...ctx.body };
      if (body.scope) body.scope = keycloakScope(body.scope);
      body.refresh_expires_in = body.refresh_token ? Math.max(0, rt?.exp ? rt.exp - Math.floor(Date.now() / 1000) : REFRESH_TOKEN_TTL) : 0;
      body['not-before-policy'] = 0;
      if (at?.sid) body.session_state = at.sid;
      ctx.body = body;
    }
  }
}

// ---------------------------------------------------------------------------
// test-only admin endpoints (outside the realm)

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

async function testRoutes(req, res) {
  const url = new URL(req.url, `http://${HOST}`);
  const route = `${req.method} ${url.pathname}`;
  if (route === 'GET /test/counters') {
    sendJson(res, 200, counters);
  } else if (route === 'POST /test/counters/reset') {
    counters = freshCounters();
    sendJson(res, 200, counters);
  } else if (route === 'POST /test/rotate-keys') {
    // New signing key first; older keys stay published (Keycloak keeps
    // passive keys) unless ?retire=true.
    const retire = ['1', 'true', 'yes'].includes(url.searchParams.get('retire') ?? '');
    if (retire) keys.length = 0;
    keys.unshift(newSigningKey());
    initializeKeystore.call(provider, jwksConfig());
    sendJson(res, 200, { kid: keys[0].kid, kids: keys.map((k) => k.kid) });
  } else if (route === 'POST /test/sign') {
    // Any claims, signed with the current signing key as the provider's own tokens are:
    // {"claims": {...}, "typ": "logout+jwt"} -> {"token": "<JWT>"}. For tests of how a
    // relying party checks the claims of a correctly signed token.
    const body = JSON.parse((await readBody(req)) || '{}');
    const key = keys[0];
    const header = { alg: 'RS256', kid: key.kid, typ: body.typ ?? 'logout+jwt' };
    const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${enc(header)}.${enc(body.claims ?? {})}`;
    const { kty, n, e, d, p, q, dp, dq, qi } = key.jwk;
    const privateKey = crypto.createPrivateKey({ key: { kty, n, e, d, p, q, dp, dq, qi }, format: 'jwk' });
    const signature = crypto.sign('sha256', Buffer.from(input), privateKey).toString('base64url');
    sendJson(res, 200, { token: `${input}.${signature}` });
  } else if (req.method === 'POST' && url.pathname.startsWith('/test/clients/')) {
    // Point a client's back-channel logout at a URL known only after the
    // relying party started: {"backchannel_logout_uri": "http://127.0.0.1:P/..."}
    const id = decodeURIComponent(url.pathname.slice('/test/clients/'.length));
    const conf = CLIENTS.find((c) => c.client_id === id);
    if (!conf) { sendJson(res, 404, { error: 'unknown client' }); return; }
    const body = JSON.parse((await readBody(req)) || '{}');
    const client = await provider.Client.find(id);
    if ('backchannel_logout_uri' in body) {
      conf.backchannel_logout_uri = body.backchannel_logout_uri ?? undefined;
      client.backchannelLogoutUri = conf.backchannel_logout_uri;
      client.backchannelLogoutSessionRequired = true;
    }
    sendJson(res, 200, {
      client_id: id,
      backchannel_logout_uri: client.backchannelLogoutUri ?? null,
    });
  } else {
    sendJson(res, 404, { error: 'not found' });
  }
}

// ---------------------------------------------------------------------------
// server

const server = http.createServer();
let providerCallback;

server.on('request', (req, res) => {
  const started = Date.now();
  const originalUrl = req.url;
  if (LOG_REQUESTS) {
    res.on('finish', () => {
      console.error(`${req.method} ${originalUrl.split('?')[0]} -> ${res.statusCode} (${Date.now() - started} ms)`);
    });
  }
  const inRealm = originalUrl === MOUNT || originalUrl.startsWith(`${MOUNT}/`) || originalUrl.startsWith(`${MOUNT}?`);
  if (inRealm) {
    req.originalUrl = originalUrl;
    req.url = originalUrl.slice(MOUNT.length) || '/';
    providerCallback(req, res);
  } else if (originalUrl.startsWith('/test/')) {
    testRoutes(req, res).catch((err) => {
      console.error(err);
      if (!res.headersSent) sendJson(res, 500, { error: String(err?.message ?? err) });
    });
  } else {
    sendJson(res, 404, { error: 'not found' });
  }
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  ISSUER = `http://${HOST}:${port}${MOUNT}`;
  resourceIndicator = `${ISSUER}/account`;
  try {
    provider = buildProvider();
  } catch (err) {
    console.error(err);
    process.exit(1);
  }
  providerCallback = provider.callback();
  process.stdout.write(`${JSON.stringify({ ready: true, issuer: ISSUER, port })}\n`);
});

function shutdown(signal) {
  console.error(`received ${signal}, shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
if (process.env.OIDC_PEER_EXIT_ON_STDIN_EOF === '1') {
  // The harness keeps our stdin open; if it dies without killing us, EOF here
  // ends the process instead of leaving an orphan.
  process.stdin.on('end', () => shutdown('stdin EOF'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}
