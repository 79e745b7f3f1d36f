// page.test.mjs: the demo page (deploy/www/index.html) in real headless
// Chromium, through the real lighttpd + FastCGI + PostgreSQL stack.
//
// Each export is one test, run by run.mjs as `node run.mjs page.test.mjs
// NAME` from tests/integration/test_browser_page.py, which creates the user
// (USERNAME, PASSWORD, EMAIL) and sets BASE_URL and ARTIFACTS_DIR; the
// wrong-password test also gets CLIENT_ADDRESS (a fresh address the web at
// BASE_URL believes from X-Forwarded-For) and WEB_DOWN_CMD; the outage test
// DB_STOP_CMD and DB_START_CMD (JSON argv arrays).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import { axeViolations, describeViolations } from './harness.mjs';

const STEP_MS = 10_000;             // any one wait for the page
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 375, height: 740 };

// ------------------------------------------------------------ helpers

function envOf(ctx) {
  return ctx.env || process.env;
}

function need(env, key) {
  assert.ok(env[key], `${key} is not set: run this through its pytest wrapper`);
  return env[key];
}

function baseOf(ctx) {
  return (ctx.baseUrl || need(envOf(ctx), 'BASE_URL')).replace(/\/+$/, '');
}

function artifactsOf(ctx) {
  const dir = ctx.artifactsDir || need(envOf(ctx), 'ARTIFACTS_DIR');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function claims(jwt) {
  const part = jwt.split('.')[1];
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/** A page in a fresh browser context, with a log of the requests it made to
 * /auth/ and /api/ ("POST /auth/refresh 200"). */
async function openPage(ctx, contextOptions = {}, base = baseOf(ctx)) {
  // ctx.newContext (harness.mjs) also collects the page's console errors.
  const context = ctx.newContext ? await ctx.newContext(contextOptions)
    : await ctx.browser.newContext(contextOptions);
  context.setDefaultTimeout(STEP_MS);
  const page = await context.newPage();
  const log = [];
  page.on('response', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/auth/') || u.pathname.startsWith('/api/'))
      log.push(`${r.request().method()} ${u.pathname} ${r.status()}`);
  });
  page.on('pageerror', (err) => log.push(`pageerror ${err.message}`));
  await page.goto(`${base.replace(/\/+$/, '')}/`);
  await waitView(page, 'signed-out');
  return { context, page, log };
}

/** Waits until the page shows view ('signed-out', 'signed-in', ...). */
async function waitView(page, view, timeout = STEP_MS) {
  await page.waitForSelector(`body[data-view="${view}"]`, { timeout })
    .catch(async (err) => {
      const now = await page.evaluate(() => document.body.dataset.view);
      const notice = await page.locator('#notice').textContent();
      throw new Error(`page never showed "${view}" (it shows "${now}", ` +
        `notice "${notice}"): ${err.message}`);
    });
}

async function activeId(page) {
  return page.evaluate(() => document.activeElement && document.activeElement.id);
}

/** Logs in through the form; {accessToken, sid} from the login answer. */
async function login(page, who, password) {
  const form = page.locator('#login-form');
  await form.getByLabel('Username or email').fill(who);
  await form.getByLabel('Password').fill(password);
  const answer = page.waitForResponse((r) =>
    new URL(r.url()).pathname === '/auth/login' &&
    r.request().method() === 'POST');
  await form.getByRole('button', { name: 'Log in' }).click();
  const r = await answer;
  assert.equal(r.status(), 200, `login answered ${r.status()}: ${await r.text()}`);
  const body = await r.json();
  await waitView(page, 'signed-in');
  await sessionsShown(page);
  return { accessToken: body.access_token, sid: String(claims(body.access_token).sid) };
}

/** Waits until the sessions list is loaded; its items. */
async function sessionsShown(page, count) {
  await page.waitForFunction((n) => {
    const s = document.getElementById('sessions-status').textContent;
    const items = document.querySelectorAll('#session-list > li').length;
    return /^You have \d+ session/.test(s) && (n === undefined || items === n);
  }, count, { timeout: STEP_MS });
  return page.locator('#session-list > li');
}

function sessionItem(page, sid) {
  return page.locator(`#session-list > li[data-session-id="${sid}"]`);
}

/** Every string the page's storages hold, for the no-token checks. */
async function storageDump(page) {
  return page.evaluate(async () => {
    const out = { cookie: document.cookie, local: [], session: [], idb: [],
      caches: [], idbNames: [] };
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      out.local.push(k, localStorage.getItem(k));
    }
    for (let i = 0; i < sessionStorage.length; i++) {
      const k = sessionStorage.key(i);
      out.session.push(k, sessionStorage.getItem(k));
    }
    const dbs = indexedDB.databases ? await indexedDB.databases() : [];
    for (const info of dbs) {
      out.idbNames.push(info.name);
      const db = await new Promise((resolve, reject) => {
        const rq = indexedDB.open(info.name);
        rq.onsuccess = () => resolve(rq.result);
        rq.onerror = () => reject(rq.error);
      });
      for (const store of db.objectStoreNames) {
        const all = await new Promise((resolve, reject) => {
          const rq = db.transaction(store).objectStore(store).getAll();
          rq.onsuccess = () => resolve(rq.result);
          rq.onerror = () => reject(rq.error);
        });
        out.idb.push(JSON.stringify(all));
      }
      db.close();
    }
    if (self.caches)
      out.caches = await caches.keys();
    return out;
  });
}

const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\./;

function assertNoToken(dump, tokens) {
  const places = {
    'document.cookie': [dump.cookie],
    localStorage: dump.local,
    sessionStorage: dump.session,
    IndexedDB: dump.idb,
  };
  for (const [place, values] of Object.entries(places)) {
    for (const v of values) {
      for (const t of tokens)
        assert.ok(!String(v).includes(t), `${place} holds a token`);
      assert.ok(!JWT_SHAPE.test(String(v)), `${place} holds a JWT: ${String(v).slice(0, 40)}…`);
    }
  }
}

function argv(env, key) {
  const a = JSON.parse(need(env, key));
  assert.ok(Array.isArray(a) && a.length > 0, `${key} is not a JSON argv array`);
  return a;
}

function run(env, key) {
  const [cmd, ...args] = argv(env, key);
  execFileSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], timeout: 60_000 });
}

/** Width and height of a PNG file (its IHDR chunk). */
function pngSize(file) {
  const b = readFileSync(file);
  assert.equal(b.subarray(1, 4).toString('latin1'), 'PNG', `${file} is not a PNG`);
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20), bytes: b.length };
}

// ------------------------------------------------------------ tests

/** Log in through the form, by keyboard only; the profile shows; focus
 * goes to it; no storage the page's scripts can read holds a token. */
export async function loginShowsProfileAndKeepsNoToken(ctx) {
  const env = envOf(ctx);
  const user = need(env, 'USERNAME');
  const { context, page } = await openPage(ctx);
  try {
    // Tab from the top of the page to the username field (bounded).
    let tabs = 0;
    while ((await activeId(page)) !== 'login-name') {
      assert.ok(++tabs <= 8, 'the username field is not reachable by Tab');
      await page.keyboard.press('Tab');
    }
    // Focus is visible: the stylesheet's 3 px ring on the focused field.
    const ring = await page.evaluate(() => {
      const st = getComputedStyle(document.activeElement);
      return `${st.outlineStyle} ${st.outlineWidth}`;
    });
    assert.equal(ring, 'solid 3px', 'no visible focus on the username field');
    await page.keyboard.type(user);
    await page.keyboard.press('Tab');
    assert.equal(await activeId(page), 'login-password');
    await page.keyboard.type(need(env, 'PASSWORD'));
    const answer = page.waitForResponse((r) =>
      new URL(r.url()).pathname === '/auth/login');
    await page.keyboard.press('Enter');
    const body = await (await answer).json();
    assert.ok(body.access_token, 'the login answer carries no access token');
    await waitView(page, 'signed-in');
    assert.equal(await activeId(page), 'profile-heading',
      'focus did not move to the profile after logging in');

    await sessionsShown(page, 1);
    assert.equal(await page.locator('#profile-username').textContent(), user);
    assert.equal(await page.locator('#greeting').textContent(), `Hello ${user}`);
    assert.equal(await page.locator('#login-password').inputValue(), '',
      'the password stays in the form after logging in');

    // The refresh token is where it belongs: an HttpOnly cookie.
    const cookies = await context.cookies();
    const refresh = cookies.find((c) => c.name === 'refresh_token');
    assert.ok(refresh, `no refresh_token cookie: ${cookies.map((c) => c.name)}`);
    assert.ok(refresh.httpOnly, 'the refresh cookie is readable by scripts');
    assert.equal(refresh.path, '/auth');

    const dump = await storageDump(page);
    assertNoToken(dump, [body.access_token, refresh.value]);
    assert.equal(dump.cookie, '', `document.cookie is not empty: ${dump.cookie}`);
    assert.deepEqual(dump.idbNames, [], 'the page made IndexedDB databases');
    const html = await page.content();
    assert.ok(!html.includes(body.access_token), 'the access token is in the DOM');
  } finally {
    await context.close();
  }
}

/** Reload: the page restores the session from the cookie with one refresh
 * and no login, and shows the profile again. */
export async function reloadKeepsYouLoggedIn(ctx) {
  const env = envOf(ctx);
  const { context, page, log } = await openPage(ctx);
  try {
    const first = await login(page, need(env, 'USERNAME'), need(env, 'PASSWORD'));
    log.length = 0;
    await page.reload();
    await waitView(page, 'signed-in');
    await sessionsShown(page, 1);
    assert.equal(await page.locator('#profile-username').textContent(),
      need(env, 'USERNAME'));
    assert.ok(log.includes('POST /auth/refresh 200'), `no silent refresh: ${log}`);
    assert.ok(!log.some((l) => l.startsWith('POST /auth/login')),
      `the reload logged in again: ${log}`);
    // The same session, shown as this device.
    const item = sessionItem(page, first.sid);
    assert.equal(await item.count(), 1, 'the session changed across the reload');
    assert.match(await item.locator('h3').textContent(), /this device/);
    assert.ok(!log.some((l) => l.startsWith('pageerror')), log.join('\n'));
  } finally {
    await context.close();
  }
}

/** Two browser contexts: each sees both sessions, "this device" on its
 * own; device, address and local times shown; revoking one from the other
 * ends it at its next action. */
export async function sessionsOfTwoContextsAndRevoke(ctx) {
  const env = envOf(ctx);
  const user = need(env, 'USERNAME');
  const password = need(env, 'PASSWORD');
  // A shows times in India (UTC+05:30, no daylight saving), in British
  // English: "1 Dec 2026, 19:05".
  const a = await openPage(ctx, { timezoneId: 'Asia/Kolkata', locale: 'en-GB' });
  const b = await openPage(ctx);
  try {
    const sa = await login(a.page, user, password);
    const sb = await login(b.page, user, password);
    assert.notEqual(sa.sid, sb.sid);

    await a.page.getByRole('button', { name: 'Update the list' }).click();
    const itemsA = await sessionsShown(a.page, 2);
    assert.equal(await itemsA.count(), 2);
    await sessionsShown(b.page, 2);
    for (const [side, own, other] of [[a, sa, sb], [b, sb, sa]]) {
      const mine = sessionItem(side.page, own.sid);
      const theirs = sessionItem(side.page, other.sid);
      assert.match(await mine.locator('h3').textContent(), /Chrome on Linux.*this device/s);
      assert.doesNotMatch(await theirs.locator('h3').textContent(), /this device/);
      assert.equal(await mine.getByRole('button').count(), 0,
        'the current session offers "End this session"');
      assert.equal(await theirs.getByRole('button', { name: 'End this session' }).count(), 1);
      for (const item of [mine, theirs])
        assert.match(await item.textContent(), /Address\s*127\.0\.0\.1/);
    }

    // Local times: the API's UTC instant as A's wall clock (UTC+05:30).
    const created = a.page.locator(`#session-list > li[data-session-id="${sa.sid}"] time`).first();
    const iso = await created.getAttribute('datetime');
    assert.match(iso, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, `datetime ${iso}`);
    const local = new Date(Date.parse(iso) + (5 * 60 + 30) * 60_000);
    const hhmm = `${String(local.getUTCHours()).padStart(2, '0')}:` +
      `${String(local.getUTCMinutes()).padStart(2, '0')}`;
    const shown = await created.textContent();
    assert.ok(shown.includes(hhmm), `created at ${iso} shown as "${shown}", not ${hhmm} in Kolkata`);
    assert.ok(shown.includes(String(local.getUTCFullYear())), shown);

    // A ends B's session, by keyboard.
    const end = sessionItem(a.page, sb.sid).getByRole('button', { name: 'End this session' });
    await end.focus();
    await a.page.keyboard.press('Enter');
    await sessionsShown(a.page, 1);
    assert.equal(await sessionItem(a.page, sa.sid).count(), 1);
    assert.match(await a.page.locator('#notice').textContent(), /Chrome on Linux is ended/);
    assert.equal(await activeId(a.page), 'sessions-heading');

    // B is told at its next action, and its login form is back.
    assert.equal(await b.page.evaluate(() => document.body.dataset.view), 'signed-in');
    await b.page.getByRole('button', { name: 'Update the list' }).click();
    await waitView(b.page, 'signed-out');
    assert.match(await b.page.locator('#notice').textContent(), /session was ended/);
    assert.equal(await activeId(b.page), 'login-heading');
    assert.equal(await b.page.locator('#session-list > li').count(), 0,
      'the ended session\'s list stays in the page');
    await b.page.reload();
    await waitView(b.page, 'signed-out');

    // A goes on.
    await a.page.getByRole('button', { name: 'Update the list' }).click();
    await sessionsShown(a.page, 1);
    assert.equal(await a.page.evaluate(() => document.body.dataset.view), 'signed-in');
  } finally {
    await a.context.close();
    await b.context.close();
  }
}

/** "Log out" ends this session: the form is back with focus on it, the
 * cookie is gone, and a reload stays logged out. Logs in by email. */
export async function logOutButton(ctx) {
  const env = envOf(ctx);
  const { context, page, log } = await openPage(ctx);
  try {
    await login(page, need(env, 'EMAIL'), need(env, 'PASSWORD'));
    assert.equal(await page.locator('#profile-email').textContent(), need(env, 'EMAIL'));
    await page.getByRole('button', { name: 'Log out', exact: true }).click();
    await waitView(page, 'signed-out');
    assert.ok(log.includes('POST /auth/logout 200'), log.join('\n'));
    assert.equal(await page.locator('#notice').textContent(), 'You are logged out.');
    assert.equal(await activeId(page), 'login-heading');
    assert.equal(await page.locator('#profile-username').textContent(), '');
    const cookies = await context.cookies();
    assert.ok(!cookies.some((c) => c.name === 'refresh_token'),
      'the refresh cookie outlived the logout');
    log.length = 0;
    await page.reload();
    await waitView(page, 'signed-out');
  } finally {
    await context.close();
  }
}

/** "Log out everywhere" ends the sessions of both contexts; the other one
 * shows it at its next action. */
export async function logOutEverywhereButton(ctx) {
  const env = envOf(ctx);
  const a = await openPage(ctx);
  const b = await openPage(ctx);
  try {
    await login(a.page, need(env, 'USERNAME'), need(env, 'PASSWORD'));
    await login(b.page, need(env, 'USERNAME'), need(env, 'PASSWORD'));
    await a.page.getByRole('button', { name: 'Log out everywhere' }).click();
    await waitView(a.page, 'signed-out');
    assert.equal(await a.page.locator('#notice').textContent(),
      'You are logged out everywhere: 2 sessions ended.');
    assert.equal(await activeId(a.page), 'login-heading');
    assert.ok(a.log.includes('POST /auth/logout-all 200'), a.log.join('\n'));

    await b.page.getByRole('button', { name: 'Update the list' }).click();
    await waitView(b.page, 'signed-out');
    assert.match(await b.page.locator('#notice').textContent(), /session was ended/);
    for (const side of [a, b]) {
      await side.page.reload();
      await waitView(side.page, 'signed-out');
    }
  } finally {
    await a.context.close();
    await b.context.close();
  }
}

/** Wrong password, then too many attempts, then an unreachable server: each
 * said in words. BASE_URL believes X-Forwarded-For, and CLIENT_ADDRESS is a
 * fresh address, so the attempts count on nobody else's budget. */
export async function loginErrorsInWords(ctx) {
  const env = envOf(ctx);
  const user = need(env, 'USERNAME');
  const { context, page, log } = await openPage(ctx, {
    extraHTTPHeaders: { 'X-Forwarded-For': need(env, 'CLIENT_ADDRESS') },
  });
  try {
    const form = page.locator('#login-form');
    const alert = form.getByRole('alert');
    log.length = 0;             // the restore at page load

    // An empty form is not sent.
    await form.getByRole('button', { name: 'Log in' }).click();
    assert.equal(await alert.textContent(), 'Enter your username or email.');
    assert.equal(await activeId(page), 'login-name');
    assert.deepEqual(log, [], 'an empty form was sent');

    const guess = async (i) => {
      await form.getByLabel('Username or email').fill(user);
      await form.getByLabel('Password').fill(`wrong-${i}`);
      const answer = page.waitForResponse((r) =>
        new URL(r.url()).pathname === '/auth/login');
      await form.getByRole('button', { name: 'Log in' }).click();
      const r = await answer;
      await page.waitForFunction(() =>
        !document.getElementById('login-submit').dataset.busy);
      return r;
    };

    let r = await guess(0);
    assert.equal(r.status(), 401);
    assert.equal(await alert.textContent(), 'Wrong username or password.');
    assert.equal(await activeId(page), 'login-password',
      'focus is not back on the password after a wrong one');
    assert.equal(await form.getByLabel('Password').getAttribute('aria-invalid'), 'true');

    // The account-and-address key blocks from its 5th failure (README,
    // "Brute force and enumeration"): at most 8 guesses.
    let i = 1;
    for (; i <= 8 && r.status() !== 429; i++)
      r = await guess(i);
    assert.equal(r.status(), 429, `no 429 after ${i} guesses: ${log}`);
    const retryAfter = Number(r.headers()['retry-after']);
    assert.ok(Number.isInteger(retryAfter) && retryAfter > 0,
      `Retry-After ${r.headers()['retry-after']}`);
    const wait = retryAfter < 60 ? `${retryAfter} second${retryAfter === 1 ? '' : 's'}`
      : `${Math.ceil(retryAfter / 60)} minutes`;
    assert.equal(await alert.textContent(), `Too many attempts, try again in ${wait}.`);

    // The same words for longer waits and the other failures, as the page
    // says them (words.js, loaded by the page itself).
    const said = await page.evaluate(async () => {
      const w = await import('/words.js');
      return {
        m2: w.errorWords({ status: 429, code: 'too_many_requests', retryAfter: 120 }, 'login'),
        m1: w.errorWords({ status: 429, code: 'too_many_requests', retryAfter: 60 }, 'login'),
        s1: w.errorWords({ status: 429, code: 'too_many_requests', retryAfter: 1 }, 'login'),
        up: w.errorWords({ status: 429, code: 'too_many_requests', retryAfter: 61 }, 'login'),
        none: w.errorWords({ status: 429, code: 'too_many_requests', retryAfter: null }, 'login'),
        busy: w.errorWords({ status: 503, code: 'temporarily_unavailable', retryAfter: 1 }, 'login'),
        net: w.errorWords({ status: 0, code: 'network_error', retryAfter: null }, 'login'),
        off: w.errorWords({ status: 404, code: 'not_found' }, 'signup'),
        dev: [w.deviceWords('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'),
          w.deviceWords('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0'),
          w.deviceWords('Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'),
          w.deviceWords('Mozilla/5.0 (Android 14; Mobile; rv:132.0) Gecko/132.0 Firefox/132.0'),
          w.deviceWords('curl/8.5.0'), w.deviceWords(null)],
      };
    });
    assert.deepEqual(said, {
      m2: 'Too many attempts, try again in 2 minutes.',
      m1: 'Too many attempts, try again in 1 minute.',
      s1: 'Too many attempts, try again in 1 second.',
      up: 'Too many attempts, try again in 2 minutes.',
      none: 'Too many attempts, try again later.',
      busy: 'The service is busy or down; try again shortly.',
      net: 'Cannot reach the server. Check your connection, then try again.',
      off: 'Sign-up is turned off on this server. Ask its operator for an account.',
      dev: ['Chrome on Linux', 'Edge on Windows', 'Safari on iPhone',
        'Firefox on Android', 'curl', 'Unknown device'],
    });

    // The web goes away: latch.js retries a bounded number of times, then
    // the page says it cannot reach the server.
    run(env, 'WEB_DOWN_CMD');
    await form.getByLabel('Password').fill('anything');
    await form.getByRole('button', { name: 'Log in' }).click();
    await page.waitForFunction(() =>
      /Cannot reach the server/.test(document.getElementById('login-error').textContent),
    null, { timeout: 30_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.view), 'signed-out');
  } finally {
    await context.close();
  }
}

/** The database stops while a person logs in: the page says the service is
 * busy or down (not "wrong password"), and once it is back the same form
 * logs in; stopped again across a reload, the page does not log out. */
export async function outageInWords(ctx) {
  const env = envOf(ctx);
  const { context, page } = await openPage(ctx);
  let stopped = false;
  try {
    const form = page.locator('#login-form');
    await form.getByLabel('Username or email').fill(need(env, 'USERNAME'));
    await form.getByLabel('Password').fill(need(env, 'PASSWORD'));
    run(env, 'DB_STOP_CMD');
    stopped = true;
    await form.getByRole('button', { name: 'Log in' }).click();
    await page.waitForFunction(() =>
      document.getElementById('login-error').textContent !== '' &&
      !document.getElementById('login-submit').dataset.busy, null,
    { timeout: 45_000 });
    assert.equal(await form.getByRole('alert').textContent(),
      'The service is busy or down; try again shortly.');
    run(env, 'DB_START_CMD');
    stopped = false;
    await form.getByLabel('Password').fill(need(env, 'PASSWORD'));
    await form.getByRole('button', { name: 'Log in' }).click();
    await waitView(page, 'signed-in');
    assert.equal(await page.locator('#login-error').textContent(), '');

    // Reloaded while the database is down: the page cannot tell whether the
    // session lives, and says so instead of showing the login form; "Try
    // again" once it is back restores the same session.
    run(env, 'DB_STOP_CMD');
    stopped = true;
    await page.reload();
    await waitView(page, 'restore-failed', 45_000);   // the client's retries
    assert.equal(await page.getByRole('alert').first().textContent(),
      'Could not find out whether you are logged in. ' +
      'The service is busy or down; try again shortly.');
    run(env, 'DB_START_CMD');
    stopped = false;
    await page.getByRole('button', { name: 'Try again' }).click();
    await waitView(page, 'signed-in');
    await sessionsShown(page, 1);
    assert.equal(await activeId(page), 'profile-heading');
  } finally {
    if (stopped)
      run(env, 'DB_START_CMD');
    await context.close();
  }
}

/** Sign-up is asked for only when the person asks; where it is off, the
 * page says so; where it is on (ALLOW_SIGNUP=1 at SIGNUP_BASE_URL), the new
 * account is logged in. */
export async function signUp(ctx) {
  const env = envOf(ctx);
  const { context, page, log } = await openPage(ctx);
  try {
    assert.ok(!log.some((l) => l.includes('/auth/register')),
      `the page asked for sign-up by itself: ${log}`);
    const form = page.locator('#signup-form');
    await form.getByLabel('Username').fill(`${need(env, 'USERNAME')}-new`);
    await form.getByLabel('Password').fill('short');
    await form.getByRole('button', { name: 'Create account' }).click();
    assert.equal(await form.getByRole('alert').textContent(),
      'The password must be 8 to 72 bytes long.');
    assert.ok(!log.some((l) => l.includes('/auth/register')), 'a weak password was sent');
    await form.getByLabel('Password').fill('a good long password');
    await form.getByRole('button', { name: 'Create account' }).click();
    await page.waitForFunction(() =>
      document.getElementById('signup-error').textContent !== '');
    assert.equal(await form.getByRole('alert').textContent(),
      'Sign-up is turned off on this server. Ask its operator for an account.');
    assert.ok(log.includes('POST /auth/register 404'), log.join('\n'));
  } finally {
    await context.close();
  }

  // Sign-up allowed: a new account, logged in at once; the same name again
  // is taken. Both from a fresh address, on the web that believes it.
  const signupBase = need(env, 'SIGNUP_BASE_URL');
  const from = { extraHTTPHeaders: { 'X-Forwarded-For': need(env, 'CLIENT_ADDRESS') } };
  const name = `${need(env, 'USERNAME')}-s`;
  const first = await openPage(ctx, from, signupBase);
  try {
    const form = first.page.locator('#signup-form');
    await form.getByLabel('Username').fill(name);
    await form.getByLabel('Email').fill(`${name}@example.test`);
    await form.getByLabel('Password').fill('a good long password');
    await form.getByRole('button', { name: 'Create account' }).click();
    await waitView(first.page, 'signed-in');
    assert.ok(first.log.includes('POST /auth/register 201'), first.log.join('\n'));
    assert.equal(await first.page.locator('#profile-username').textContent(), name);
    assert.equal(await first.page.locator('#notice').textContent(),
      `Welcome, ${name}: your account is created.`);
    assert.equal(await activeId(first.page), 'profile-heading');
  } finally {
    await first.context.close();
  }
  const again = await openPage(ctx, from, signupBase);
  try {
    const form = again.page.locator('#signup-form');
    await form.getByLabel('Username').fill(name);
    await form.getByLabel('Password').fill('another long password');
    await form.getByRole('button', { name: 'Create account' }).click();
    await again.page.waitForFunction(() =>
      document.getElementById('signup-error').textContent !== '');
    assert.equal(await form.getByRole('alert').textContent(),
      'That username or email is already taken; choose another, or log in.');
    assert.equal(await again.page.evaluate(() => document.body.dataset.view), 'signed-out');
  } finally {
    await again.context.close();
  }
}

/** axe-core finds no violation, logged out and logged in, in light and in
 * dark. */
export async function accessibilityAudit(ctx) {
  const env = envOf(ctx);
  const found = [];
  for (const colorScheme of ['light', 'dark']) {
    const { context, page } = await openPage(ctx, { colorScheme });
    try {
      await page.emulateMedia({ colorScheme });
      assert.ok(await page.evaluate((s) =>
        matchMedia(`(prefers-color-scheme: ${s})`).matches, colorScheme));
      const bg = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
      found.push({ colorScheme, state: 'logged out', bg, violations: await axeViolations(page) });
      assert.ok(await page.evaluate(() => typeof globalThis.axe?.run === 'function'),
        'axe-core is not in the page');
      // An error shown, as a person sees it after an empty submit.
      await page.locator('#login-form').getByRole('button', { name: 'Log in' }).click();
      found.push({ colorScheme, state: 'login error', bg, violations: await axeViolations(page) });
      await login(page, need(env, 'USERNAME'), need(env, 'PASSWORD'));
      found.push({ colorScheme, state: 'logged in', bg, violations: await axeViolations(page) });
    } finally {
      await context.close();
    }
  }
  const [light, dark] = [found[0].bg, found[3].bg];
  assert.notEqual(light, dark, `light and dark have one background: ${light}`);
  const bad = found.filter((f) => f.violations.length > 0);
  assert.equal(bad.length, 0, bad.map((f) =>
    `${f.colorScheme}, ${f.state}:\n${describeViolations(f.violations)}`).join('\n'));
}

/** Screenshots of the logged-in page and of the sessions list (two
 * sessions) at desktop and phone widths, under ARTIFACTS_DIR; at 375 px
 * nothing is wider than the screen. */
export async function screenshots(ctx) {
  const env = envOf(ctx);
  const dir = artifactsOf(ctx);
  const other = await openPage(ctx);
  try {
    await login(other.page, need(env, 'USERNAME'), need(env, 'PASSWORD'));
    for (const [name, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
      const { context, page } = await openPage(ctx, { viewport });
      try {
        await login(page, need(env, 'USERNAME'), need(env, 'PASSWORD'));
        const items = await sessionsShown(page);
        assert.ok(await items.count() >= 2);
        const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(scrollWidth <= viewport.width,
          `${name}: the page is ${scrollWidth} px wide in a ${viewport.width} px screen`);
        const whole = path.join(dir, `page-logged-in-${name}.png`);
        const list = path.join(dir, `page-sessions-${name}.png`);
        await page.screenshot({ path: whole, fullPage: true });
        await page.locator('section[aria-labelledby="sessions-heading"]').screenshot({ path: list });
        for (const file of [whole, list]) {
          assert.ok(existsSync(file), `${file} missing`);
          const png = pngSize(file);
          assert.ok(png.bytes > 5_000, `${file} is only ${png.bytes} bytes`);
          assert.ok(png.width >= 300 && png.width <= viewport.width,
            `${file} is ${png.width} px wide`);
          assert.ok(png.height >= 150, `${file} is ${png.height} px high`);
          assert.ok(statSync(file).mtimeMs > Date.now() - 120_000, `${file} is old`);
        }
        const shot = pngSize(whole);
        assert.equal(shot.width, viewport.width, `${whole} is ${shot.width} px wide`);
        assert.ok(shot.height >= viewport.height * 0.9, `${whole} is not the whole page`);
      } finally {
        await context.close();
      }
    }
  } finally {
    await other.context.close();
  }
}
