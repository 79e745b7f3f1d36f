// latch.js: the browser client of latch (refresh-token authentication).
//
// A dependency-free ES module for pages of the same site as latch:
//
//   import { createLatch, LatchError } from '/latch.js';
//   const latch = createLatch({ onSessionEnd(reason) { showLogin(reason); } });
//   if (await latch.restore()) showProfile(await latch.profile());
//
// What it keeps: the access token, in a variable of this module's closure,
// and nothing else. Never localStorage, sessionStorage, IndexedDB or a
// cookie that scripts can read; the refresh token is the server's HttpOnly
// cookie (Path=/auth), which this code never sees.
//
// How it refreshes (the contract is API.md; README "The browser client"):
// - on a 401 from a call that carried the token: one refresh, then the call
//   again, once. Calls of one page that fail together share that refresh
//   (single flight);
// - tabs of one site take turns through the Web Lock 'latch-refresh'; a tab
//   that refreshed hands the new access token to the others over the
//   BroadcastChannel 'latch', and a tab that gets the lock after another
//   uses the token it was handed instead of refreshing again. The server's
//   grace window for concurrent duplicates is the safety net, not the plan;
// - a little before the token expires while the page is visible, at a
//   random point of a window (jitter) so that tabs and devices do not
//   refresh in step; never while the page is hidden (a due refresh runs
//   when it is shown again);
// - network errors and 503 are retried a bounded number of times (503 after
//   its Retry-After, up to a cap), then reported as a retryable LatchError:
//   they never end the session. Only the server's refusal of the refresh
//   token (403 invalid_grant, 401) does, and then the page's onSessionEnd
//   is called, once; this module never navigates by itself.

const LOCK_NAME = 'latch-refresh';
const CHANNEL_NAME = 'latch';
// How long a tab that refreshed keeps the lock after handing the token to
// the others: the hand-over and the lock travel different ways, and the
// next holder should find the token already there (its callers need not
// wait: they have the token at once).
const HANDOFF_MS = 50;
// The longest wait for the lock; past it a tab refreshes without it (the
// holder is stuck on a request bounded by its own timeout).
const LOCK_WAIT_MS = 60_000;
// A timed refresh that failed on a retryable error is tried again after
// this, while the token is still valid.
const TIMER_RETRY_MS = 5_000;

/**
 * An error of latch or of the way to it.
 *
 * `code` is the API.md error code of the answer (`invalid_credentials`,
 * `too_many_requests`, `temporarily_unavailable`, ...), or one of the
 * client's own: `network_error` (no answer: offline, refused, timed out),
 * `no_session` (a call that needs a session when there is none),
 * `bad_response` (an answer that is not the JSON API.md promises),
 * `untrusted_origin` (fetchWithAuth to an origin the token must not go to).
 */
export class LatchError extends Error {
  /**
   * @param {object} f
   * @param {number} f.status HTTP status, 0 when there was no answer
   * @param {string} f.code
   * @param {string} [f.description]
   * @param {number|null} [f.retryAfter] seconds, from Retry-After
   * @param {boolean} [f.retryable]
   */
  constructor({ status, code, description = '', retryAfter = null, retryable = false }) {
    super(description ? `${code}: ${description}` : code);
    this.name = 'LatchError';
    /** @type {number} HTTP status; 0 when there was no answer */
    this.status = status;
    /** @type {string} API.md error code, or a client code (see the class) */
    this.code = code;
    /** @type {string} the server's error_description, for developers */
    this.description = description;
    /** @type {number|null} seconds to wait, from Retry-After; else null */
    this.retryAfter = retryAfter;
    /** @type {boolean} true when the same call may work later unchanged */
    this.retryable = retryable;
  }
}

/**
 * @typedef {'logged_out' | 'revoked' | 'expired'} SessionEndReason
 *
 * @typedef {object} LatchOptions
 * @property {string} [baseUrl] where latch is; '' (default) is this origin
 * @property {(reason: SessionEndReason) => void} [onSessionEnd] called once
 *   when the session is over: 'logged_out' (here or in another tab),
 *   'revoked' (refresh refused with 403 invalid_grant: revoked, expired,
 *   reused) or 'expired' (refresh answered 401: no refresh cookie left)
 * @property {number} [refreshAhead] seconds before expiry to refresh while
 *   the page is visible (30; at most half the token's life)
 * @property {boolean} [autoRefresh] timed refresh ahead of expiry (true)
 * @property {number} [retries] extra tries after a network error or 503 (2)
 * @property {number} [maxRetryDelay] cap in seconds on the wait before a
 *   retry, Retry-After included (5)
 * @property {number} [timeout] seconds one request may take (20)
 * @property {string[]} [trustedOrigins] origins besides latch's own to
 *   which fetchWithAuth may send the access token (resource servers)
 *
 * @typedef {object} CallOptions
 * @property {AbortSignal} [signal] aborts the call: it then rejects with the
 *   signal's reason (an AbortError DOMException unless told otherwise)
 *
 * @typedef {object} Session as GET /auth/sessions lists it (API.md)
 * @property {string} id
 * @property {string} created_at
 * @property {string} last_used_at
 * @property {string} expires_at
 * @property {string|null} user_agent
 * @property {string|null} ip
 * @property {boolean} current
 *
 * @typedef {object} Profile as GET /api/profile answers it (API.md)
 * @property {string} id
 * @property {string} username
 * @property {string|null} email
 * @property {string} created_at
 * @property {string} message
 *
 * @typedef {object} Latch
 * @property {(opts?: CallOptions) => Promise<boolean>} restore
 * @property {(creds: {username?: string, email?: string, password: string},
 *   opts?: CallOptions) => Promise<void>} login
 * @property {(user: {username: string, password: string, email?: string},
 *   opts?: CallOptions) => Promise<{id: string, username: string}>} register
 * @property {(opts?: CallOptions) => Promise<void>} logout
 * @property {(opts?: CallOptions) => Promise<{revoked: number}>} logoutAll
 * @property {(opts?: CallOptions) => Promise<Session[]>} sessions
 * @property {(id: string, opts?: CallOptions) => Promise<void>} revokeSession
 * @property {(opts?: CallOptions) => Promise<Profile>} profile
 * @property {(input: RequestInfo | URL, init?: RequestInit,
 *   opts?: CallOptions) => Promise<Response>} fetchWithAuth
 * @property {boolean} loggedIn
 * @property {() => void} close
 */

/** @param {number} ms @param {AbortSignal} [signal] @returns {Promise<void>} */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(signal.reason); return; }
    const onAbort = () => { clearTimeout(t); reject(signal?.reason); };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The promise, or the signal's reason as soon as it aborts (the promise
 * itself goes on: it may be shared).
 * @template T @param {Promise<T>} promise @param {AbortSignal} [signal]
 * @returns {Promise<T>}
 */
function abortable(promise, signal) {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); });
  });
}

/**
 * A signal that aborts when the caller's does or after ms; `timedOut()`
 * says which. `done()` releases the timer.
 * @param {AbortSignal|undefined} outer @param {number} ms
 */
function deadline(outer, ms) {
  const ctl = new AbortController();
  let timedOut = false;
  const t = setTimeout(() => { timedOut = true; ctl.abort(); }, ms);
  const onAbort = () => ctl.abort(outer?.reason);
  if (outer) {
    if (outer.aborted) ctl.abort(outer.reason);
    else outer.addEventListener('abort', onAbort, { once: true });
  }
  return {
    signal: ctl.signal,
    timedOut: () => timedOut,
    done() { clearTimeout(t); outer?.removeEventListener('abort', onAbort); },
  };
}

/**
 * The claims of a JWT, decoded without any check: only ever used to
 * schedule the next refresh, never to decide anything (the server decides).
 * @param {string} jwt @returns {Record<string, unknown>|null}
 */
function peekClaims(jwt) {
  try {
    const part = jwt.split('.')[1];
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}

/** Retry-After in seconds (delta-seconds or an HTTP date), else null.
 * @param {Response} res @returns {number|null} */
function retryAfterOf(res) {
  const v = res.headers.get('Retry-After');
  if (v == null) return null;
  if (/^\s*\d+\s*$/.test(v)) return Number(v);
  const when = Date.parse(v);
  return Number.isNaN(when) ? null : Math.max(0, Math.ceil((when - Date.now()) / 1000));
}

/** The LatchError for a non-2xx answer (its JSON error body if any).
 * @param {Response} res @returns {Promise<LatchError>} */
async function errorOf(res) {
  let code = `http_${res.status}`;
  let description = res.statusText || '';
  try {
    const body = await res.json();
    if (body && typeof body.error === 'string') code = body.error;
    if (body && typeof body.error_description === 'string') description = body.error_description;
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  const retryable = res.status === 429 || res.status === 502 ||
    res.status === 503 || res.status === 504;
  return new LatchError({ status: res.status, code, description,
    retryAfter: retryAfterOf(res), retryable });
}

/** @param {Response} res @returns {Promise<any>} */
async function jsonOf(res) {
  try {
    return await res.json();
  } catch {
    throw new LatchError({ status: res.status, code: 'bad_response',
      description: 'the answer is not JSON' });
  }
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * Makes a client. Each page (or SPA root) makes one; tabs coordinate by
 * themselves.
 * @param {LatchOptions} [options]
 * @returns {Latch}
 */
export function createLatch(options = {}) {
  const baseUrl = String(options.baseUrl ?? '').replace(/\/+$/, '');
  const onSessionEnd = options.onSessionEnd ?? (() => {});
  const refreshAhead = Math.max(0, Number(options.refreshAhead ?? 30));
  const autoRefresh = options.autoRefresh ?? true;
  const retries = Math.max(0, Math.floor(Number(options.retries ?? 2)));
  const maxRetryDelayMs = Math.max(0, Number(options.maxRetryDelay ?? 5)) * 1000;
  const timeoutMs = Math.max(1, Number(options.timeout ?? 20)) * 1000;
  const here = typeof location !== 'undefined' ? location.href : undefined;
  const latchOrigin = new URL(baseUrl || '/', here).origin;
  const tokenOrigins = new Set([latchOrigin,
    ...(options.trustedOrigins ?? []).map((o) => new URL(o).origin)]);

  // ---- state: all of it here, in memory.
  /** @type {string|null} the access token; null: no session */
  let token = null;
  /** when (Date.now() ms) the timed refresh of the current token is due */
  let dueAt = 0;
  /** when (ms) the current token is surely expired */
  let expiresAt = 0;
  /** @type {Promise<string>|null} the refresh in flight in this page */
  let inflight = null;
  /** @type {{token: string, lifetime: number, at: number}|null} the last
   * token another tab handed over (it may have come while no session was
   * open here: a restore waiting for the lock can use it) */
  let heard = null;
  /** @type {ReturnType<typeof setTimeout>|null} */
  let timer = null;
  let closed = false;

  const channel = typeof BroadcastChannel === 'function'
    ? new BroadcastChannel(CHANNEL_NAME) : null;
  const locks = typeof navigator !== 'undefined' && navigator.locks
    ? navigator.locks : null;
  const doc = typeof document !== 'undefined' ? document : null;

  // ---- the token and the session

  /**
   * Takes a token (from an answer or another tab).
   * @param {string} t
   * @param {number|null} lifetime seconds, as the issuer meant it
   * @param {number} receivedAt ms
   */
  function setToken(t, lifetime, receivedAt) {
    token = t;
    const claims = peekClaims(t);
    // exp - iat is the issuer's lifetime on its own clock, so no clock skew
    // enters; less one second since both are whole seconds.
    let life = lifetime;
    if (claims && typeof claims.exp === 'number' && typeof claims.iat === 'number') {
      life = claims.exp - claims.iat;
    }
    life = Math.max(1, (life ?? 60) - 1);
    expiresAt = receivedAt + life * 1000;
    const ahead = Math.min(refreshAhead, life / 2);
    const jitter = Math.random() * ahead / 2;
    dueAt = expiresAt - (ahead + jitter) * 1000;
    schedule();
  }

  /**
   * @param {SessionEndReason} reason
   * @param {boolean} tell other tabs (when there was a session here)
   */
  function endSession(reason, tell) {
    const had = token;
    token = null;
    heard = null;
    expiresAt = 0;
    dueAt = 0;
    unschedule();
    if (had !== null) {
      // A refused refresh names the token it was for: a tab that has moved
      // on to another (a new login) is not told its session is over.
      if (tell) post({ type: 'ended', reason, token: reason === 'logged_out' ? null : had });
      try { onSessionEnd(reason); } catch (e) { setTimeout(() => { throw e; }); }
    }
  }

  /** @param {object} msg */
  function post(msg) {
    if (channel && !closed) channel.postMessage(msg);
  }

  if (channel) {
    channel.onmessage = (ev) => {
      const m = ev.data;
      if (!m || typeof m !== 'object') return;
      if (m.type === 'token' && typeof m.token === 'string') {
        heard = { token: m.token, lifetime: m.lifetime, at: Date.now() };
        // A tab with a session takes it at once (same cookie, same session),
        // so that its own timer moves on too.
        if (token !== null && m.token !== token) setToken(m.token, m.lifetime, Date.now());
      } else if (m.type === 'ended' &&
                 ['logged_out', 'revoked', 'expired'].includes(m.reason) &&
                 (m.token === null || m.token === token)) {
        endSession(m.reason, false);
      }
    };
  }

  // ---- timed refresh

  function unschedule() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  }

  function schedule() {
    unschedule();
    if (!autoRefresh || closed || token === null) return;
    if (doc && doc.visibilityState === 'hidden') return; // onVisibility resumes
    timer = setTimeout(onTimer, Math.max(0, dueAt - Date.now()));
  }

  function onTimer() {
    timer = null;
    const stale = token;
    if (stale === null) return;
    refresh(stale).catch((e) => {
      if (token !== stale || !(e instanceof LatchError) || !e.retryable) return;
      // Still this token and a passing failure: again later, while it
      // lasts; after that the next call's 401 refreshes on demand.
      if (Date.now() + TIMER_RETRY_MS < expiresAt && !closed) {
        dueAt = Date.now() + TIMER_RETRY_MS;
        schedule();
      }
    });
  }

  function onVisibility() {
    if (doc?.visibilityState === 'hidden') unschedule();
    else schedule(); // due already: fires at once
  }
  if (doc && autoRefresh) doc.addEventListener('visibilitychange', onVisibility);

  // ---- HTTP

  /**
   * One request with bounded retries: network errors (when netRetry) and
   * 503 (then after its Retry-After, capped). Resolves with the last
   * Response, whatever its status; rejects with LatchError network_error
   * when no answer came, or with the caller's abort reason.
   * @param {RequestInfo | URL} input
   * @param {RequestInit} init
   * @param {{signal?: AbortSignal, netRetry: boolean}} o
   * @returns {Promise<Response>}
   */
  async function send(input, init, o) {
    for (let attempt = 0; ; attempt++) {
      const dl = deadline(o.signal, timeoutMs);
      /** @type {Response} */
      let res;
      try {
        const req = input instanceof Request ? input.clone() : input;
        res = await fetch(req, { ...init, signal: dl.signal });
      } catch (e) {
        dl.done();
        if (o.signal?.aborted) throw o.signal.reason;
        if (attempt < retries && o.netRetry) {
          await sleep(Math.min(maxRetryDelayMs, 250 * 2 ** attempt * (1 + Math.random())), o.signal);
          continue;
        }
        throw new LatchError({ status: 0, code: 'network_error', retryable: true,
          description: dl.timedOut() ? 'no answer in time'
            : String(e && /** @type {Error} */ (e).message || e) });
      } finally {
        dl.done();
      }
      if (res.status === 503 && attempt < retries) {
        const ra = retryAfterOf(res);
        const wait = Math.min(maxRetryDelayMs, ra === null ? 1000 : ra * 1000);
        await res.body?.cancel().catch(() => {});
        await sleep(wait, o.signal);
        continue;
      }
      return res;
    }
  }

  /**
   * A JSON POST to latch without the access token (login, refresh, ...).
   * @param {string} path @param {object|null} body
   * @param {{signal?: AbortSignal, netRetry: boolean}} o
   */
  function postAuth(path, body, o) {
    /** @type {RequestInit} */
    const init = { method: 'POST', credentials: 'same-origin', cache: 'no-store' };
    if (body !== null) {
      init.headers = { 'Content-Type': 'application/json' };
      init.body = JSON.stringify(body);
    }
    return send(baseUrl + path, init, o);
  }

  // ---- refresh

  /**
   * POST /auth/refresh under the cross-tab lock, unless another tab's
   * token arrived meanwhile. Resolves with the token; rejects with
   * LatchError (and has ended the session when the server refused).
   * @param {string|null} stale the token the caller had (null: none)
   * @param {number} since ms: a token handed over after this is fresh
   */
  async function refreshOnce(stale, since) {
    /** @type {(v: string) => void} */
    let handOut = () => {};
    const handed = new Promise((resolve) => { handOut = resolve; });
    const run = async () => {
      if (token !== null && token !== stale) return token; // taken already
      if (heard && heard.at >= since && heard.token !== stale) {
        setToken(heard.token, heard.lifetime, heard.at);
        return token;
      }
      const res = await postAuth('/auth/refresh', null, { netRetry: true });
      if (res.ok) {
        const at = Date.now();
        const body = await jsonOf(res);
        if (typeof body.access_token !== 'string') {
          throw new LatchError({ status: res.status, code: 'bad_response',
            description: 'no access_token' });
        }
        setToken(body.access_token, body.expires_in ?? null, at);
        post({ type: 'token', token: body.access_token, lifetime: body.expires_in ?? null });
        // Callers go on now; the lock is held a little longer (HANDOFF_MS).
        handOut(body.access_token);
        await sleep(HANDOFF_MS);
        return body.access_token;
      }
      const err = await errorOf(res);
      if (res.status === 401 || (res.status === 403 && err.code === 'invalid_grant')) {
        // The server is sure: this session is over (the cookie is gone,
        // or its token was refused). Tabs of this cookie jar learn it too.
        endSession(res.status === 401 ? 'expired' : 'revoked', true);
      }
      throw err;
    };
    const locked = locks ? withLock(run) : run();
    return Promise.race([handed, locked]);
  }

  /** run() under the lock; without it after LOCK_WAIT_MS.
   * @param {() => Promise<string>} run @returns {Promise<string>} */
  async function withLock(run) {
    if (!locks) return run();
    let entered = false;
    const held = () => { entered = true; return run(); };
    try {
      return await locks.request(LOCK_NAME, { signal: AbortSignal.timeout(LOCK_WAIT_MS) }, held);
    } catch (e) {
      if (!entered) return run(); // the wait timed out (or locks refused)
      throw e;
    }
  }

  /**
   * The single flight: every caller of one page whose token `stale` was
   * refused waits on the same refresh.
   * @param {string|null} stale @param {AbortSignal} [signal]
   * @returns {Promise<string>}
   */
  function refresh(stale, signal) {
    if (token !== null && token !== stale) return Promise.resolve(token);
    if (!inflight) {
      inflight = refreshOnce(stale, Date.now());
      const clear = () => { inflight = null; };
      inflight.then(clear, clear);
    }
    return abortable(inflight, signal);
  }

  // ---- the API

  /**
   * fetch with the Bearer token; on a 401, one refresh and one retry.
   * Network errors (for idempotent methods) and 503 are retried with a
   * bound; the last answer is returned whatever its status.
   * @param {RequestInfo | URL} input @param {RequestInit} [init]
   * @param {CallOptions} [opts] @returns {Promise<Response>}
   */
  async function fetchWithAuth(input, init = {}, opts = {}) {
    const signal = opts.signal ?? init.signal ?? undefined;
    if (signal?.aborted) throw signal.reason;
    const url = new URL(input instanceof Request ? input.url : String(input), here);
    if (!tokenOrigins.has(url.origin)) {
      throw new LatchError({ status: 0, code: 'untrusted_origin',
        description: `the access token is not sent to ${url.origin}` });
    }
    if (token === null) {
      throw new LatchError({ status: 0, code: 'no_session', description: 'not logged in' });
    }
    const method = (init.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const o = { signal, netRetry: IDEMPOTENT.has(method) };
    /** @param {string} t */
    const attempt = (t) => {
      const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
      headers.set('Authorization', `Bearer ${t}`);
      return send(input, { credentials: 'same-origin', ...init, headers }, o);
    };
    const used = token;
    const res = await attempt(used);
    if (res.status !== 401) return res;
    await res.body?.cancel().catch(() => {});
    const fresh = await refresh(used, signal);
    return attempt(fresh);
  }

  /**
   * A latch route that needs the token; its JSON (null for 204).
   * @param {string} path @param {string} method @param {CallOptions} [opts]
   */
  async function callApi(path, method, opts = {}) {
    const res = await fetchWithAuth(baseUrl + path, { method, cache: 'no-store' }, opts);
    if (!res.ok) throw await errorOf(res);
    return res.status === 204 ? null : jsonOf(res);
  }

  /** @param {CallOptions} [opts] @returns {Promise<boolean>} */
  async function restore(opts = {}) {
    if (token !== null) return true;
    try {
      await refresh(null, opts.signal);
      return true;
    } catch (e) {
      if (e instanceof LatchError && (e.status === 401 || e.status === 403)) return false;
      throw e;
    }
  }

  /**
   * @param {{username?: string, email?: string, password: string}} creds
   * @param {CallOptions} [opts]
   */
  async function login(creds, opts = {}) {
    /** @type {Record<string, string|undefined>} */
    const body = { password: creds.password };
    if (creds.email !== undefined && creds.username === undefined) body.email = creds.email;
    else body.username = creds.username;
    // A login may have reached the server before the network failed: not
    // retried on network errors (a second session), only on 503.
    const res = await postAuth('/auth/login', body, { signal: opts.signal, netRetry: false });
    if (!res.ok) throw await errorOf(res);
    const at = Date.now();
    const data = await jsonOf(res);
    if (typeof data.access_token !== 'string') {
      throw new LatchError({ status: res.status, code: 'bad_response', description: 'no access_token' });
    }
    setToken(data.access_token, data.expires_in ?? null, at);
    post({ type: 'token', token: data.access_token, lifetime: data.expires_in ?? null });
  }

  /**
   * @param {{username: string, password: string, email?: string}} user
   * @param {CallOptions} [opts]
   */
  async function register(user, opts = {}) {
    /** @type {Record<string, string>} */
    const body = { username: user.username, password: user.password };
    if (user.email) body.email = user.email;
    const res = await postAuth('/auth/register', body, { signal: opts.signal, netRetry: false });
    if (!res.ok) throw await errorOf(res);
    const data = await jsonOf(res);
    return { id: data.id, username: data.username };
  }

  /** @param {CallOptions} [opts] */
  async function logout(opts = {}) {
    const res = await postAuth('/auth/logout', null, { signal: opts.signal, netRetry: true });
    if (!res.ok) {
      const err = await errorOf(res);
      if (err.retryable) throw err; // the session is still there: try again
    }
    endSession('logged_out', true);
  }

  /** @param {CallOptions} [opts] @returns {Promise<{revoked: number}>} */
  async function logoutAll(opts = {}) {
    const data = await callApi('/auth/logout-all', 'POST', opts);
    endSession('logged_out', true);
    return { revoked: data.revoked };
  }

  /** @param {CallOptions} [opts] @returns {Promise<Session[]>} */
  async function sessions(opts = {}) {
    const data = await callApi('/auth/sessions', 'GET', opts);
    if (!Array.isArray(data.sessions)) {
      throw new LatchError({ status: 200, code: 'bad_response', description: 'no sessions' });
    }
    return data.sessions;
  }

  /** @param {string} id @param {CallOptions} [opts] */
  async function revokeSession(id, opts = {}) {
    await callApi(`/auth/sessions/${encodeURIComponent(id)}`, 'DELETE', opts);
  }

  /** @param {CallOptions} [opts] @returns {Promise<Profile>} */
  function profile(opts = {}) {
    return callApi('/api/profile', 'GET', opts);
  }

  function close() {
    closed = true;
    unschedule();
    if (doc) doc.removeEventListener('visibilitychange', onVisibility);
    if (channel) channel.close();
  }

  return {
    restore, login, register, logout, logoutAll, sessions, revokeSession,
    profile, fetchWithAuth, close,
    get loggedIn() { return token !== null; },
  };
}
