#!/usr/bin/env node
// node tests/browser/run.mjs FILE TESTNAME
//
// Runs one browser test: launches one headless Chromium (Debian's), calls
// the async function TESTNAME exported by FILE with the ctx of harness.mjs,
// closes the browser, and exits 0 when the test passed, 1 when it threw,
// 2 on a usage error, 3 when it ran past TEST_TIMEOUT seconds (default 90).
// Environment: BASE_URL (required), ARTIFACTS_DIR, and whatever the test
// reads (its pytest wrapper sets USERNAME, PASSWORD, DB_STOP_CMD, ...).

import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { launchBrowser, makeCtx } from './harness.mjs';

const [file, name] = process.argv.slice(2);
if (!file || !name) {
  console.error('usage: node tests/browser/run.mjs FILE TESTNAME');
  process.exit(2);
}
const timeoutSec = Number(process.env.TEST_TIMEOUT || 90);
const label = `${path.basename(file)}:${name}`;

const mod = await import(pathToFileURL(path.resolve(file)).href);
const test = mod[name];
if (typeof test !== 'function') {
  const names = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
  console.error(`${label}: no such test; ${file} exports: ${names.join(', ')}`);
  process.exit(2);
}

const t0 = Date.now();
let browser = null;
let ctx = null;

function report(lines) {
  if (ctx && ctx.browserLog.length) {
    console.error('browser console (errors and warnings):');
    for (const l of ctx.browserLog.slice(-50)) console.error('  ' + l);
  }
  for (const l of lines) console.error(l);
}

// The whole run is bounded: past the timeout the browser is closed (or,
// if that hangs too, left to playwright's exit handler, which kills the
// process it launched) and the run fails.
const watchdog = setTimeout(async () => {
  report([`FAIL ${label}: timed out after ${timeoutSec} s`]);
  const closing = browser ? browser.close().catch(() => {}) : null;
  await Promise.race([closing, new Promise((r) => setTimeout(r, 5000))]);
  process.exit(3);
}, timeoutSec * 1000);

let status = 0;
try {
  browser = await launchBrowser();
  ctx = makeCtx(browser);
  await test(ctx);
  console.log(`PASS ${label} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
} catch (e) {
  status = 1;
  report([`FAIL ${label}: ${e && e.stack ? e.stack : e}`]);
} finally {
  if (ctx) await ctx.close();
  if (browser) await browser.close().catch(() => {});
}
clearTimeout(watchdog);
process.exit(status);
