// Helpers of the browser tests (tests/browser/*.test.mjs), run one test at a
// time by run.mjs in Debian's Chromium through playwright-core: no browser
// download, no framework. README "Testing notes" says how pytest runs them.
//
// A test is an exported async function taking the ctx that makeCtx builds:
//   { browser, baseUrl, env, artifactsDir, newContext(opts), newPage(opts),
//     artifact(name), log(...) }
// and it fails by throwing (node:assert is re-exported here).

import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { format } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

export { default as assert } from 'node:assert/strict';
export { sleep };

const require = createRequire(import.meta.url);

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// Chromium as root (CI) needs --no-sandbox; the rest keeps it off a network
// this machine does not have (update checks, sync, QUIC probes) and off any
// proxy of the environment: the tests talk to 127.0.0.1 only.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
  '--no-proxy-server',
];

/** One headless Chromium; extraArgs go after the harness's own. */
export function launchBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    timeout: 30_000,
  });
}

// ---- network logs

const logs = new WeakMap(); // BrowserContext -> entries

/**
 * Every request of a context, as seen by the browser:
 * { method, url, path, page, start, end, status, failed, headers }, with
 * start and end in epoch ms from the request's own timing (end: the last
 * byte of the answer, or the failure; null while neither came). Attached
 * by makeCtx to every context it makes.
 * @param {import('playwright-core').BrowserContext} context
 */
function attachLog(context) {
  const entries = [];
  const byRequest = new Map();
  const pageIds = new Map();
  const pageId = (p) => {
    if (!p) return null;
    if (!pageIds.has(p)) pageIds.set(p, pageIds.size + 1);
    return pageIds.get(p);
  };
  context.on('request', (req) => {
    const u = new URL(req.url());
    let page = null;
    try { page = req.frame().page(); } catch { page = null; } // service workers have no frame
    const e = {
      method: req.method(), url: req.url(), path: u.pathname, page,
      pageId: pageId(page), start: Date.now(), end: null, status: null,
      failed: null, headers: req.headers(),
    };
    entries.push(e);
    byRequest.set(req, e);
  });
  // The status as soon as the answer's head is in (a client that drops
  // the body of a 401 ends that request without a "finished" event).
  context.on('response', (res) => {
    const e = byRequest.get(res.request());
    if (e) e.status = res.status();
  });
  const done = (req, failure) => {
    const e = byRequest.get(req);
    if (!e) return;
    const t = req.timing();
    if (t && t.startTime > 0) e.start = t.startTime;
    if (failure) e.failed = failure;
    e.end = t && t.startTime > 0 && t.responseEnd >= 0 ? t.startTime + t.responseEnd : Date.now();
  };
  context.on('requestfinished', (req) => { done(req, null); });
  context.on('requestfailed', (req) => { done(req, req.failure()?.errorText ?? 'failed'); });
  logs.set(context, entries);
  return entries;
}

/**
 * The network log of a context, or of one page of it (then only that page's
 * requests). Entries are appended as requests happen: slice(n) takes what
 * came after a mark n = log.length.
 * @param {import('playwright-core').BrowserContext | import('playwright-core').Page} target
 */
export function networkLog(target) {
  const context = typeof target.context === 'function' ? target.context() : target;
  const entries = logs.get(context);
  if (!entries) throw new Error('networkLog: not a context made by ctx.newContext');
  if (target === context) return entries;
  return {
    get length() { return entries.length; },
    slice: (n = 0) => entries.slice(n).filter((e) => e.page === target),
    filter: (f) => entries.filter((e) => e.page === target).filter(f),
  };
}

/**
 * Waits until every request in the log has its answer, or has failed
 * (bounded), so that counts read after it are final; `end` is there for
 * every request whose body was read to its end.
 * @param {{slice: (n?: number) => any[]}} log
 */
export async function settle(log, timeoutMs = 5000) {
  await waitFor(() => log.slice(0).every((e) => e.status !== null || e.end !== null),
    { timeoutMs, message: 'requests still unanswered' });
}

/**
 * Calls fn until it returns a truthy value (which it then returns), every
 * intervalMs, for at most timeoutMs; throws with message after that.
 */
export async function waitFor(fn, { timeoutMs = 5000, intervalMs = 50, message = 'condition' } = {}) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`waitFor: ${message} not met within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

/**
 * Injects axe-core (from node_modules) into the page and runs it; the
 * violations (empty when clean), as axe reports them.
 * @param {import('playwright-core').Page} page
 * @param {object} [options] axe.run options
 */
export async function axeViolations(page, options = {}) {
  await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
  const result = await page.evaluate((opts) => globalThis.axe.run(document, opts), options);
  return result.violations;
}

/** A readable summary of axe violations for a failure message. */
export function describeViolations(violations) {
  return violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n` +
    v.nodes.slice(0, 5).map((n) => `    ${n.target.join(' ')}: ${n.failureSummary?.split('\n').join(' ')}`).join('\n'))
    .join('\n');
}

// ---- the ctx

/**
 * The ctx handed to a test.
 * @param {import('playwright-core').Browser} browser
 * @param {object} [env] what the test reads (BASE_URL, ARTIFACTS_DIR, its
 *   own variables): run.mjs passes process.env, serve.mjs each test's own
 * @param {(line: string) => void} [out] where ctx.log's lines go
 */
export function makeCtx(browser, env = process.env, out = (line) => console.log(line)) {
  const baseUrl = (env.BASE_URL || '').replace(/\/+$/, '');
  if (!baseUrl) throw new Error('BASE_URL is not set');
  const u = new URL(baseUrl);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) {
    throw new Error(`BASE_URL ${baseUrl}: the browser tests talk to loopback only`);
  }
  const artifactsDir = path.resolve(env.ARTIFACTS_DIR || 'var/browser');
  const contexts = [];
  const browserLog = []; // console errors and page errors, printed on failure

  const ctx = {
    browser,
    baseUrl,
    env,
    artifactsDir,
    /** Lines the run prints if the test fails. */
    browserLog,
    /** Prints a line of the test's own (shown by pytest on failure). */
    log: (...a) => out(format('[test]', ...a)),
    /** A file name under artifactsDir (made on first use). */
    artifact(name) {
      mkdirSync(artifactsDir, { recursive: true });
      return path.join(artifactsDir, name);
    },
    /**
     * A new browser context (its own cookie jar and storage: another
     * "browser" or device), with a network log (networkLog) and its pages'
     * console errors collected.
     * @param {import('playwright-core').BrowserContextOptions} [opts]
     */
    async newContext(opts = {}) {
      const context = await browser.newContext(opts);
      context.setDefaultTimeout(15_000);
      context.setDefaultNavigationTimeout(15_000);
      attachLog(context);
      const n = contexts.push(context);
      context.on('page', (page) => {
        page.on('console', (m) => {
          // (Chromium logs every 4xx/5xx answer as an error: not news.)
          if (/^Failed to load resource: the server responded/.test(m.text())) return;
          if (m.type() === 'error' || m.type() === 'warning') {
            browserLog.push(`context ${n} console.${m.type()}: ${m.text()}`);
          }
        });
        page.on('pageerror', (e) => browserLog.push(`context ${n} pageerror: ${e.message}`));
      });
      return context;
    },
    /** A page in a new context of its own. */
    async newPage(opts = {}) {
      const context = await ctx.newContext(opts);
      return context.newPage();
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
    },
  };
  return ctx;
}
