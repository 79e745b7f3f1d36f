// Browser tests of deploy/www/latch.js, through the real web server: each
// page is a document of the served origin that imports /latch.js as a page
// of the site would (tests/integration/test_browser_client.py runs them
// against a web whose access tokens live 2 s, with USERNAME / PASSWORD of a
// fresh user).

import { spawnSync } from 'node:child_process';
import { assert, networkLog, settle, sleep, waitFor } from './harness.mjs';

// A path of the origin with no file behind it: lighttpd's 404 page, a
// document that runs no script of its own. The demo page at / runs its own
// client (restore, timers), whose refreshes the counts below must not see.
const BLANK = '/latch-client-test-blank';
const ACCESS_LIFETIME_MS = 2000; // JWT_ACCESS_EXPIRES of the wrapper's web

const isRefresh = (e) => e.method === 'POST' && e.path === '/auth/refresh';

/**
 * A tab of context with a client made by createLatch(opts); its
 * onSessionEnd reasons go to window.__ended.
 */
async function openTab(ctx, context, opts = {}) {
  const page = await context.newPage();
  await page.goto(ctx.baseUrl + BLANK);
  await page.evaluate(async (o) => {
    const m = await import('/latch.js');
    window.__ended = [];
    window.LatchError = m.LatchError;
    window.latch = m.createLatch({ ...o, onSessionEnd: (r) => window.__ended.push(r) });
  }, opts);
  return page;
}

/**
 * Calls latch[method](...args) in the page; { ok: true, value } or
 * { ok: false, error: { isLatchError, status, code, retryable, ... } }.
 */
function call(page, method, ...args) {
  return page.evaluate(async ([m, a]) => {
    try {
      let value = await window.latch[m](...a);
      if (value instanceof Response) value = { status: value.status, body: await value.text() };
      return { ok: true, value };
    } catch (e) {
      return { ok: false, error: { isLatchError: e instanceof window.LatchError, name: e.name,
        status: e.status, code: e.code, retryable: e.retryable, retryAfter: e.retryAfter,
        message: String(e.message) } };
    }
  }, [method, args]);
}

/** The value of a call that must succeed. */
async function ok(page, method, ...args) {
  const r = await call(page, method, ...args);
  assert.ok(r.ok, `${method}() failed: ${JSON.stringify(r.error)}`);
  return r.value;
}

/** The error of a call that must fail. */
async function fails(page, method, ...args) {
  const r = await call(page, method, ...args);
  assert.ok(!r.ok, `${method}() succeeded (${JSON.stringify(r.value)}) where it must fail`);
  return r.error;
}

const ended = (page) => page.evaluate(() => window.__ended.slice());

function user(ctx) {
  const { USERNAME, PASSWORD } = ctx.env;
  assert.ok(USERNAME && PASSWORD, 'USERNAME and PASSWORD must be set');
  return { username: USERNAME, password: PASSWORD };
}

/** The refreshes must be one after another: each starts after the last ended.
 * (settle waits for an answer's head only: the end of the last body may
 * still be on its way, so it is waited for, bounded, before it is read.) */
async function assertNoOverlap(refreshes) {
  await waitFor(() => refreshes.every((r) => r.end !== null),
    { timeoutMs: 5000, message: 'every refresh read to its end' }).catch(() => {});
  for (const r of refreshes) assert.ok(r.end !== null, 'each refresh was read to its end');
  const sorted = [...refreshes].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    assert.ok(sorted[i].start >= sorted[i - 1].end,
      `refresh ${i} started ${sorted[i - 1].end - sorted[i].start} ms before refresh ${i - 1} ended`);
  }
}

// --------------------------------------------------------------- tests

/** 10 s of use with 2 s tokens: every call works; refreshes are timed,
 * ahead of expiry, one at a time. */
export async function steady_use(ctx) {
  const context = await ctx.newContext();
  const page = await openTab(ctx, context);
  await ok(page, 'login', user(ctx));
  const log = networkLog(page);
  const mark = log.length;
  const stats = await page.evaluate(async () => {
    const until = Date.now() + 10_000;
    const failures = [];
    let calls = 0;
    let i = 0;
    while (Date.now() < until) {
      // Now one call, now a burst of three at once, never more than ~10/s.
      const burst = i++ % 4 === 3
        ? [latch.profile(), latch.sessions(), latch.fetchWithAuth('/api/profile').then((r) => {
            if (!r.ok) throw new Error(`fetchWithAuth: ${r.status}`);
          })]
        : [latch.profile()];
      const results = await Promise.allSettled(burst);
      calls += results.length;
      for (const r of results) if (r.status === 'rejected') failures.push(String(r.reason));
      await new Promise((r) => setTimeout(r, 100));
    }
    return { calls, failures };
  });
  await settle(log);
  const entries = log.slice(mark);
  const refreshes = entries.filter(isRefresh);
  const unauthorized = entries.filter((e) => !isRefresh(e) && e.status === 401).length;
  ctx.log(`${stats.calls} calls, ${refreshes.length} refreshes, ${unauthorized} answers 401`);
  assert.deepEqual(stats.failures, [], 'every call succeeds');
  assert.ok(stats.calls >= 50, `only ${stats.calls} calls in 10 s`);
  // 10 s of 2 s tokens take at least 5 refreshes even on demand only; the
  // timer refreshes every 0.25 to 0.5 s (half of the token's sure second,
  // less jitter), so well over 10 show it runs ahead of expiry.
  assert.ok(refreshes.length >= 10, `only ${refreshes.length} refreshes: no timed refresh?`);
  for (const r of refreshes) assert.equal(r.status, 200, 'every refresh succeeds');
  await assertNoOverlap(refreshes);
  assert.deepEqual(await ended(page), [], 'the session never ended');
}

/** 20 concurrent calls with an expired token share one refresh. */
export async function concurrent_expired(ctx) {
  const context = await ctx.newContext();
  const page = await openTab(ctx, context, { autoRefresh: false });
  await ok(page, 'login', user(ctx));
  await sleep(ACCESS_LIFETIME_MS + 500); // the token is expired now
  const log = networkLog(page);
  const mark = log.length;
  const statuses = await page.evaluate(async () => {
    const calls = Array.from({ length: 20 }, () =>
      latch.fetchWithAuth('/api/profile').then(async (r) => [r.status, (await r.json()).username]));
    return Promise.all(calls);
  });
  await settle(log);
  const entries = log.slice(mark);
  const profiles = entries.filter((e) => e.path === '/api/profile');
  assert.equal(statuses.length, 20);
  for (const [status, name] of statuses) {
    assert.equal(status, 200);
    assert.equal(name, user(ctx).username);
  }
  assert.equal(entries.filter(isRefresh).length, 1, 'exactly one POST /auth/refresh');
  // Each of the 20 was refused once (the token had expired) and sent again.
  assert.equal(profiles.filter((e) => e.status === 401).length, 20);
  assert.equal(profiles.filter((e) => e.status === 200).length, 20);
}

/** Two tabs whose tokens expire together: one refresh between them. */
export async function two_tabs_one_refresh(ctx) {
  const context = await ctx.newContext();
  const a = await openTab(ctx, context, { autoRefresh: false });
  const b = await openTab(ctx, context, { autoRefresh: false });
  await ok(a, 'login', user(ctx));
  assert.equal(await ok(b, 'restore'), true, 'tab b restores the session from the cookie');
  const log = networkLog(context);
  const bearer = (page, entries) => entries.filter((e) => e.page === page &&
    e.path === '/api/profile').map((e) => e.headers.authorization);
  // Tab a takes the token that tab b's restore handed over (a message
  // away): then both hold one token, which expires for both at once.
  await ok(b, 'profile');
  await waitFor(async () => {
    await ok(a, 'profile');
    const before = log.slice(0);
    return bearer(a, before).at(-1) === bearer(b, before).at(-1);
  }, { timeoutMs: 1500, intervalMs: 100, message: 'both tabs hold the same token' });

  await sleep(ACCESS_LIFETIME_MS + 500);
  const mark = log.length;
  const [pa, pb] = await Promise.all([call(a, 'profile'), call(b, 'profile')]);
  await settle(log);
  assert.ok(pa.ok && pb.ok, `both tabs stay logged in: ${JSON.stringify([pa, pb])}`);
  const refreshes = log.slice(mark).filter(isRefresh);
  assert.equal(refreshes.length, 1, `one refresh between the tabs, not ${refreshes.length}`);
  const after = log.slice(mark);
  assert.equal(bearer(a, after).at(-1), bearer(b, after).at(-1), 'both use the one new token');
  assert.deepEqual(await ended(a), []);
  assert.deepEqual(await ended(b), []);
}

/** Logout in one tab: the other's session ends (onSessionEnd, once). */
export async function logout_other_tab(ctx) {
  const context = await ctx.newContext();
  const a = await openTab(ctx, context);
  const b = await openTab(ctx, context);
  await ok(a, 'login', user(ctx));
  assert.equal(await ok(b, 'restore'), true);
  await ok(b, 'profile');
  await ok(a, 'logout');
  assert.deepEqual(await ended(a), ['logged_out']);
  // Tab b hears it (a message away) and ends at once; its next call finds
  // no session.
  await waitFor(async () => (await ended(b)).length > 0,
    { timeoutMs: 2000, message: "b's onSessionEnd" });
  assert.deepEqual(await ended(b), ['logged_out'], 'onSessionEnd once, logged_out');
  const err = await fails(b, 'profile');
  assert.ok(err.isLatchError && !err.retryable, `b's next call: ${JSON.stringify(err)}`);
  assert.equal(err.code, 'no_session');
  assert.equal(await b.evaluate(() => latch.loggedIn), false);
  // And the cookie is gone for both: nothing to restore.
  assert.equal(await ok(b, 'restore'), false);
  assert.deepEqual(await ended(b), ['logged_out'], 'still once');
}

/** Log out everywhere ends another browser's session at its next call. */
export async function logout_all_other_context(ctx) {
  // No timer: b is to learn it at its next call, not at its next timed
  // refresh (which would end it the same way, only sooner).
  const a = await openTab(ctx, await ctx.newContext(), { autoRefresh: false });
  const b = await openTab(ctx, await ctx.newContext(), { autoRefresh: false });
  await ok(a, 'login', user(ctx));
  await ok(b, 'login', user(ctx));
  await ok(b, 'profile');
  const res = await ok(a, 'logoutAll');
  assert.equal(res.revoked, 2, 'both sessions revoked');
  assert.deepEqual(await ended(a), ['logged_out']);
  const err = await fails(b, 'profile');
  assert.ok(err.isLatchError && !err.retryable, JSON.stringify(err));
  assert.equal(err.code, 'invalid_grant');
  assert.deepEqual(await ended(b), ['revoked']);
  assert.equal(await b.evaluate(() => latch.loggedIn), false);
}

/** sessions() from two browsers lists both, `current` right; revoking one
 * from the other ends it at its next call. */
export async function sessions_and_revoke(ctx) {
  const uaA = 'latch-browser-test A (X11; Linux x86_64) Chrome/156';
  const uaB = 'latch-browser-test B (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1';
  const a = await openTab(ctx, await ctx.newContext({ userAgent: uaA }), { autoRefresh: false });
  const b = await openTab(ctx, await ctx.newContext({ userAgent: uaB }), { autoRefresh: false });
  await ok(a, 'login', user(ctx));
  await ok(b, 'login', user(ctx));
  const la = await ok(a, 'sessions');
  const lb = await ok(b, 'sessions');
  assert.equal(la.length, 2, JSON.stringify(la));
  assert.deepEqual(la.map((s) => s.id).sort(), lb.map((s) => s.id).sort());
  const curA = la.filter((s) => s.current);
  const curB = lb.filter((s) => s.current);
  assert.equal(curA.length, 1);
  assert.equal(curB.length, 1);
  assert.notEqual(curA[0].id, curB[0].id);
  assert.equal(curA[0].user_agent, uaA);
  assert.equal(curB[0].user_agent, uaB);
  for (const s of la) {
    for (const k of ['id', 'created_at', 'last_used_at', 'expires_at', 'user_agent', 'ip', 'current']) {
      assert.ok(k in s, `session field ${k}`);
    }
  }

  await ok(a, 'revokeSession', curB[0].id);
  assert.deepEqual(await ended(b), [], 'b learns at its next call, not before');
  const err = await fails(b, 'profile');
  assert.ok(err.isLatchError && !err.retryable, JSON.stringify(err));
  assert.deepEqual(await ended(b), ['revoked']);
  const left = await ok(a, 'sessions');
  assert.deepEqual(left.map((s) => s.id), [curA[0].id], 'a keeps its own session');
  assert.deepEqual(await ended(a), []);
}

/** The database stopped: calls fail with a retryable LatchError after a
 * bounded number of tries, nobody is logged out, and all works again. */
export async function database_outage(ctx) {
  const stopCmd = JSON.parse(ctx.env.DB_STOP_CMD || 'null');
  const startCmd = JSON.parse(ctx.env.DB_START_CMD || 'null');
  assert.ok(Array.isArray(stopCmd) && Array.isArray(startCmd), 'DB_STOP_CMD and DB_START_CMD (JSON argv)');
  const run = (argv) => {
    const p = spawnSync(argv[0], argv.slice(1), { timeout: 60_000, encoding: 'utf8' });
    assert.equal(p.status, 0, `${argv.join(' ')}: ${p.error ?? ''} ${p.stderr}`);
  };
  const context = await ctx.newContext();
  // retries 2 and Retry-After waits capped at 1 s keep this test short.
  const opts = { autoRefresh: false, retries: 2, maxRetryDelay: 1 };
  const a = await openTab(ctx, context, opts);
  await ok(a, 'login', user(ctx));
  await ok(a, 'profile');
  const log = networkLog(context);
  let stopped = false;
  try {
    run(stopCmd);
    stopped = true;
    const err = await fails(a, 'profile');
    assert.ok(err.isLatchError, JSON.stringify(err));
    assert.equal(err.retryable, true, `retryable: ${JSON.stringify(err)}`);
    assert.ok(['temporarily_unavailable', 'network_error'].includes(err.code), err.code);
    assert.equal(await a.evaluate(() => latch.loggedIn), true, 'still logged in');

    // Once the token has surely expired, a call's refresh meets the outage:
    // one 401, then the refresh tried 1 + 2 times, then the error.
    await sleep(ACCESS_LIFETIME_MS + 500);
    const mark = log.length;
    const err2 = await fails(a, 'sessions');
    await settle(log);
    assert.equal(err2.retryable, true, JSON.stringify(err2));
    assert.equal(err2.code, 'temporarily_unavailable');
    const tries = log.slice(mark).filter(isRefresh);
    assert.equal(tries.length, 3, `1 try + 2 retries: ${tries.length} refreshes`);
    assert.ok(tries.every((e) => e.status === 503),
      `each answered 503: ${JSON.stringify(tries.map((e) => [e.status, e.failed]))}`);
    // A new tab restoring now hears "unavailable", not "no session".
    const b = await openTab(ctx, context, opts);
    const err3 = await fails(b, 'restore');
    assert.equal(err3.retryable, true, `restore during the outage: ${JSON.stringify(err3)}`);
    assert.deepEqual(await ended(a), [], 'onSessionEnd is not called');
    assert.equal(await a.evaluate(() => latch.loggedIn), true, 'still logged in');
  } finally {
    if (stopped) run(startCmd);
  }
  // Back: the first requests may still meet a stale connection (503), which
  // the retries absorb.
  await waitFor(async () => {
    const r = await fetch(ctx.baseUrl + '/api/health').catch(() => null);
    return r && r.status === 200;
  }, { timeoutMs: 30_000, intervalMs: 200, message: 'health ok after the restart' });
  const p = await ok(a, 'profile');
  assert.equal(p.username, user(ctx).username);
  await ok(a, 'sessions');
  assert.deepEqual(await ended(a), [], 'onSessionEnd was never called');
}

/** The access token is in no storage a script (or another page) can read,
 * and not on the client object either. */
export async function token_in_no_storage(ctx) {
  const context = await ctx.newContext();
  const page = await openTab(ctx, context, { autoRefresh: false });
  const tokens = new Set();
  page.on('response', async (res) => {
    const p = new URL(res.url()).pathname;
    if ((p === '/auth/login' || p === '/auth/refresh') && res.status() === 200) {
      const body = await res.json().catch(() => null);
      if (body && body.access_token) tokens.add(body.access_token);
    }
  });
  await ok(page, 'login', user(ctx));
  await ok(page, 'profile');
  await sleep(ACCESS_LIFETIME_MS + 500);
  await ok(page, 'sessions'); // refreshed: a second token
  const log = networkLog(page);
  await settle(log);
  await waitFor(() => tokens.size >= 2, { timeoutMs: 2000, message: 'two token answers read' });
  const sent = new Set(log.slice(0).map((e) => e.headers.authorization)
    .filter(Boolean).map((h) => h.replace(/^Bearer /, '')));
  assert.equal(tokens.size, 2, 'a login token and a refreshed one');
  for (const t of tokens) assert.ok(sent.has(t), 'the client sent the tokens it got');

  const seen = await page.evaluate(async () => {
    const dump = (s) => Array.from({ length: s.length }, (_, i) => [s.key(i), s.getItem(s.key(i))]);
    const dbs = indexedDB.databases ? await indexedDB.databases() : null;
    const cacheKeys = 'caches' in window ? await caches.keys() : [];
    return {
      local: dump(localStorage), session: dump(sessionStorage), cookie: document.cookie,
      dbs, cacheKeys, client: JSON.stringify(window.latch), keys: Object.keys(window.latch),
    };
  });
  assert.deepEqual(seen.local, [], 'localStorage is empty');
  assert.deepEqual(seen.session, [], 'sessionStorage is empty');
  assert.equal(seen.cookie, '', 'no cookie a script can read');
  assert.deepEqual(seen.dbs, [], 'no IndexedDB database');
  assert.deepEqual(seen.cacheKeys, [], 'no Cache Storage');
  const state = await context.storageState();
  for (const t of tokens) {
    assert.ok(!seen.client.includes(t), 'not on the client object');
    for (const c of state.cookies) assert.ok(!c.value.includes(t), `not in cookie ${c.name}`);
  }
  for (const c of state.cookies) assert.ok(c.httpOnly, `cookie ${c.name} is HttpOnly`);
  assert.deepEqual(seen.keys.filter((k) => /token/i.test(k)), [], 'no token property');
}

/** Hidden: no timed refresh; shown again: the due refresh runs at once.
 * (Headless tabs are never hidden, so the page's visibility is set the way
 * the browser would report it, with the event it would fire.) */
export async function hidden_pauses_refresh(ctx) {
  const context = await ctx.newContext();
  const page = await openTab(ctx, context);
  const setVisibility = (state) => page.evaluate((s) => {
    Object.defineProperty(document, 'visibilityState', { value: s, configurable: true });
    Object.defineProperty(document, 'hidden', { value: s === 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  }, state);
  await setVisibility('hidden');
  await ok(page, 'login', user(ctx));
  const log = networkLog(page);
  const mark = log.length;
  await sleep(ACCESS_LIFETIME_MS + 1000);
  assert.equal(log.slice(mark).filter(isRefresh).length, 0, 'no refresh while hidden');
  await setVisibility('visible');
  await waitFor(() => log.slice(mark).filter(isRefresh).length >= 1,
    { timeoutMs: 1500, message: 'a refresh as soon as the page is shown' });
  await settle(log);
  assert.equal(log.slice(mark).filter(isRefresh)[0].status, 200);
  await ok(page, 'profile');
  assert.deepEqual(await ended(page), []);
}

/** Offline (the browser's own network switch): a retryable network_error,
 * no logout, and calls work once the network is back. */
export async function offline_is_retryable(ctx) {
  const context = await ctx.newContext();
  const page = await openTab(ctx, context, { autoRefresh: false, retries: 2, maxRetryDelay: 0.2 });
  await ok(page, 'login', user(ctx));
  await context.setOffline(true);
  try {
    const t0 = Date.now();
    const err = await fails(page, 'profile');
    assert.ok(err.isLatchError, JSON.stringify(err));
    assert.equal(err.code, 'network_error');
    assert.equal(err.status, 0);
    assert.equal(err.retryable, true);
    assert.ok(Date.now() - t0 < 10_000, 'the retries are bounded');
    const err2 = await fails(page, 'sessions');
    assert.equal(err2.code, 'network_error');
    assert.equal(await page.evaluate(() => latch.loggedIn), true, 'still logged in');
  } finally {
    await context.setOffline(false);
  }
  await sleep(ACCESS_LIFETIME_MS + 500); // and the refresh works after it too
  const p = await ok(page, 'profile');
  assert.equal(p.username, user(ctx).username);
  assert.deepEqual(await ended(page), [], 'onSessionEnd was never called');
}

/** An AbortSignal ends a call at once, with the signal's reason; the
 * other calls go on. */
export async function abort_signal(ctx) {
  const context = await ctx.newContext();
  const page = await openTab(ctx, context, { autoRefresh: false });
  await ok(page, 'login', user(ctx));
  await sleep(ACCESS_LIFETIME_MS + 500); // expired: the calls below refresh
  const log = networkLog(page);
  const mark = log.length;
  const r = await page.evaluate(async () => {
    const name = (p) => p.then(() => 'resolved', (e) => e.name);
    const pre = new AbortController();
    pre.abort();
    const before = await name(latch.profile({ signal: pre.signal }));
    // One call is aborted in flight; the other, started with it, refreshes
    // and gets its answer.
    const ctl = new AbortController();
    const aborted = name(latch.profile({ signal: ctl.signal }));
    const kept = latch.profile();
    setTimeout(() => ctl.abort(), 0);
    return { before, aborted: await aborted, kept: (await kept).username };
  });
  await settle(log);
  assert.equal(r.before, 'AbortError', 'an aborted signal rejects at once');
  assert.equal(r.aborted, 'AbortError');
  assert.equal(r.kept, user(ctx).username);
  assert.equal(log.slice(mark).filter(isRefresh).length, 1, 'one refresh, not aborted');
  assert.equal(await page.evaluate(() => latch.loggedIn), true);
}
