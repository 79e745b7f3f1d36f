#!/usr/bin/env node
// node tests/browser/serve.mjs
//
// run.mjs for many tests in a row: one headless Chromium (Debian's),
// launched once, and each test run in browser contexts of its own, as
// run.mjs would run it (the same ctx, output and bound), without a node
// start and a Chromium launch per test (about 1.5 s each). Its parent is
// tests/integration/browser_run.py (BrowserServer: one per test module).
//
// stdout: one JSON line each, nothing else: first {"id": 0, "ok": true,
// "value": {"pid": P}} once Chromium runs (P its process id), then one
// answer per command. stdin: one JSON command a line:
//   {"id": N, "file": FILE, "name": NAME, "env": {...}, "timeout": S}
//     runs export NAME of FILE with ctx.env = this process's environment
//     and env; answers {"id": N, "status": 0 passed | 1 threw | 2 no such
//     test | 3 past S seconds, "output": the lines run.mjs would print,
//     "PASS FILE:NAME (x s)" among them when it passed}
//   {"id": N, "op": "close"}  closes Chromium, answers, exits 0
// Between two tests every context of the browser is closed (the test's
// own through ctx.close, and any other it made), so that no cookie, storage
// or page of one test is seen by the next. A test past its bound, or a
// browser that went away, ends the server after its answer (exit 3 or 1):
// the parent starts another for the next test. The server also exits when
// stdin ends (its parent is gone), and when no command came for SERVE_IDLE
// seconds (default 300) since its last answer: with each test bounded by
// its own timeout, it never runs unbounded.

import path from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { format } from 'node:util';
import { launchBrowser, makeCtx } from './harness.mjs';

const idleSec = Number(process.env.SERVE_IDLE || 300);
let browser = null;
let current = null; // {lines, failure} of the test that runs

function answer(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

// Whatever a test or playwright prints goes into the test's output (stdout
// is the protocol's), or to stderr between tests.
function out(line) {
  if (current) current.lines.push(line);
  else process.stderr.write(line + '\n');
}
for (const k of ['log', 'info', 'warn', 'error', 'debug']) {
  console[k] = (...a) => out(format(...a));
}

// run.mjs dies of an error no one catches, and its test fails: here it
// fails the test that runs (or, between tests, ends the server).
function stray(e) {
  const text = `uncaught: ${e && e.stack ? e.stack : e}`;
  if (current) {
    current.failure ??= text;
  } else {
    process.stderr.write(`serve: ${text}\n`);
    shutdown(1);
  }
}
process.on('unhandledRejection', stray);
process.on('uncaughtException', stray);

async function shutdown(code) {
  const closing = browser ? browser.close().catch(() => {}) : null;
  await Promise.race([closing, new Promise((r) => setTimeout(r, 5000))]);
  process.exit(code);
}

let watchdog = null;
function idleWatch() {
  clearTimeout(watchdog);
  watchdog = setTimeout(() => {
    process.stderr.write(`serve: no command for ${idleSec} s, closing\n`);
    shutdown(3);
  }, idleSec * 1000);
}
idleWatch();

/** Process ids of our children that run Chromium (found under /proc). */
function chromiumChildren() {
  const pids = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && /chrom/.test(stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')))) {
        pids.push(Number(d));
      }
    } catch { /* gone meanwhile */ }
  }
  return pids;
}

async function runOne({ file, name, env = {}, timeout = 90 }) {
  const label = `${path.basename(file)}:${name}`;
  const mod = await import(pathToFileURL(path.resolve(file)).href);
  const test = mod[name];
  if (typeof test !== 'function') {
    const names = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
    return { status: 2, output: `${label}: no such test; ${file} exports: ${names.join(', ')}`, fatal: false };
  }
  current = { lines: [], failure: null };
  const t0 = Date.now();
  let ctx = null;
  let status = 0;
  let timer = null;
  const report = (lines) => {
    if (ctx && ctx.browserLog.length) {
      out('browser console (errors and warnings):');
      for (const l of ctx.browserLog.slice(-50)) out('  ' + l);
    }
    for (const l of lines) out(l);
  };
  try {
    ctx = makeCtx(browser, { ...process.env, ...env }, out);
    const bound = new Promise((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { timedOut: true })), timeout * 1000);
    });
    await Promise.race([test(ctx), bound]);
  } catch (e) {
    if (e && e.timedOut) {
      status = 3;
      report([`FAIL ${label}: timed out after ${timeout} s`]);
    } else {
      status = 1;
      report([`FAIL ${label}: ${e && e.stack ? e.stack : e}`]);
    }
  } finally {
    clearTimeout(timer);
  }
  if (status !== 3) {
    if (ctx) await ctx.close();
    // Any context the test made past ctx (ctx.browser.newContext) too.
    for (const c of browser.contexts()) await c.close().catch(() => {});
    await new Promise((r) => setTimeout(r, 0)); // rejections of the closing surface now
  }
  if (status === 0 && current.failure) {
    status = 1;
    report([`FAIL ${label}: ${current.failure}`]);
  } else if (status === 0) {
    out(`PASS ${label} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  const lines = current.lines;
  current = null;
  const gone = !browser.isConnected() || browser.contexts().length !== 0;
  if (gone && status === 0) {
    status = 1;
    lines.push(`FAIL ${label}: the browser went away or kept a context`);
  }
  return { status, output: lines.join('\n'), fatal: status === 3 || gone };
}

// Chromium first: the commands wait for it (the parent sends none before
// the first line anyway).
let busy = (async () => {
  try {
    browser = await launchBrowser();
    const pids = chromiumChildren();
    if (pids.length !== 1) throw new Error(`expected one Chromium child, found ${pids}`);
    answer({ id: 0, ok: true, value: { pid: pids[0] } });
  } catch (e) {
    answer({ id: 0, ok: false, error: String(e && e.stack ? e.stack : e) });
    await shutdown(1);
  }
})();

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  clearTimeout(watchdog); // a test is bounded by its own timeout
  busy = busy.then(async () => {
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch {
      answer({ id: null, status: 2, output: 'not JSON' });
      idleWatch();
      return;
    }
    if (cmd.op === 'close') {
      clearTimeout(watchdog);
      if (browser) await browser.close().catch(() => {});
      browser = null;
      answer({ id: cmd.id, ok: true, value: true });
      process.exit(0);
    }
    let res;
    try {
      res = await runOne(cmd);
    } catch (e) {
      current = null;
      res = { status: 1, output: `serve: ${e && e.stack ? e.stack : e}`, fatal: true };
    }
    answer({ id: cmd.id, status: res.status, output: res.output });
    if (res.fatal) await shutdown(res.status === 3 ? 3 : 1);
    idleWatch();
  });
});
rl.on('close', () => { busy.then(() => shutdown(0)); });
