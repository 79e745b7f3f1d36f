#!/usr/bin/env node
// node tests/browser/driver.mjs
//
// One headless Chromium (Debian's, through playwright-core) driven by its
// parent over a line protocol, for the tests whose assertions need the
// parent between two browser steps (the database, a plain HTTP client, a
// web server's log): tests/integration/browser_driver.py is that parent.
//
// stdin: one JSON command a line, {"id": N, "op": OP, ...}; stdout: one
// JSON answer a line, {"id": N, "ok": true, "value": ...} or {"id": N,
// "ok": false, "error": "..."}. Nothing else is written to stdout.
//   launch  {args: [...]}      Chromium with the harness's arguments and
//                              these; value {pid}: Chromium's process id
//   open    {url, html}        a page at url, its document html served by
//                              the driver (no request for url reaches the
//                              server), then the page's own requests go
//                              to the network as usual
//   call    {name, args}       await window.T[name](...args) in the page
//   cookies {url}              the context's cookies for url (HttpOnly
//                              ones included, as a cookie store holds them)
//   sent    {path}             the Cookie header (null: none) of each
//                              request of the page to that path so far, as
//                              Chromium sent it
//   log     {}                 console errors and page errors so far
//   close   {}                 closes Chromium; the driver then exits 0
// The driver closes Chromium and exits when stdin ends (its parent is
// gone) and after DRIVER_TIMEOUT seconds (default 120) whatever happens.

import { createInterface } from 'node:readline';
import { readdirSync, readFileSync } from 'node:fs';
import { launchBrowser } from './harness.mjs';

const timeoutSec = Number(process.env.DRIVER_TIMEOUT || 120);
let browser = null;
let context = null;
let page = null;
const browserLog = [];
const pageRequests = []; // [{path, request}] of the current page

function answer(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

async function shutdown(code) {
  const closing = browser ? browser.close().catch(() => {}) : null;
  await Promise.race([closing, new Promise((r) => setTimeout(r, 5000))]);
  process.exit(code);
}

const watchdog = setTimeout(() => {
  process.stderr.write(`driver: still running after ${timeoutSec} s, closing\n`);
  shutdown(3);
}, timeoutSec * 1000);

/** Process ids of our children that run Chromium (found under /proc). */
function chromiumChildren() {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && /chrom/.test(stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')))) {
        out.push(Number(d));
      }
    } catch { /* gone meanwhile */ }
  }
  return out;
}

const ops = {
  async launch({ args = [] }) {
    if (browser) throw new Error('launched already');
    browser = await launchBrowser(args);
    context = await browser.newContext();
    context.setDefaultTimeout(15_000);
    context.setDefaultNavigationTimeout(15_000);
    const pids = chromiumChildren();
    if (pids.length !== 1) throw new Error(`expected one Chromium child, found ${pids}`);
    return { pid: pids[0] };
  },
  async open({ url, html }) {
    if (page) await page.close();
    page = await context.newPage();
    page.on('console', (m) => {
      if (/^Failed to load resource: the server responded/.test(m.text())) return;
      if (m.type() === 'error' || m.type() === 'warning') browserLog.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => browserLog.push(`pageerror: ${e.message}`));
    pageRequests.length = 0;
    page.on('request', (request) => {
      pageRequests.push({ path: new URL(request.url()).pathname, request });
    });
    const handler = (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html });
    await page.route(url, handler);
    try {
      await page.goto(url);
    } finally {
      await page.unroute(url, handler); // nothing between the page and the network from here on
    }
    await page.waitForFunction(() => window.T && window.T.ready === true, null, { timeout: 10_000 });
    return true;
  },
  async call({ name, args = [] }) {
    return page.evaluate(([n, a]) => window.T[n](...a), [name, args]);
  },
  async cookies({ url }) { return context.cookies(url); },
  async sent({ path }) {
    const out = [];
    for (const r of pageRequests.filter((e) => e.path === path)) {
      const headers = await r.request.allHeaders();
      out.push(headers.cookie ?? null);
    }
    return out;
  },
  async log() { return browserLog.slice(); },
  async close() {
    clearTimeout(watchdog);
    if (browser) await browser.close();
    browser = null;
    return true;
  },
};

const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch {
    answer({ id: null, ok: false, error: 'not JSON' });
    return;
  }
  const op = ops[cmd.op];
  if (!op) {
    answer({ id: cmd.id, ok: false, error: `no op ${cmd.op}` });
    return;
  }
  try {
    const value = await op(cmd);
    answer({ id: cmd.id, ok: true, value: value === undefined ? null : value });
    if (cmd.op === 'close') process.exit(0);
  } catch (e) {
    answer({ id: cmd.id, ok: false, error: String(e && e.stack ? e.stack : e) });
  }
});
rl.on('close', () => { shutdown(0); });
