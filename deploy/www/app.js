// app.js: the demo page. Everything it knows about tokens goes through
// latch.js; this file only turns the answers into words and elements. It
// keeps nothing in any storage.

import { createLatch } from './latch.js';
import {
  deviceWords, errorWords, localTime, sessionEndWords,
} from './words.js';

const $ = (id) => document.getElementById(id);
const VIEWS = ['checking', 'restore-failed', 'signed-out', 'signed-in'];

let view = 'checking';

const latch = createLatch({
  onSessionEnd(reason) {
    showSignedOut(sessionEndWords(reason), { focus: true });
  },
});

// ------------------------------------------------------------ views

function show(name) {
  view = name;
  for (const v of VIEWS)
    $(v).hidden = v !== name;
  document.body.dataset.view = name;
}

function setNotice(text) {
  $('notice').textContent = text || '';
}

function clearErrors() {
  for (const id of ['login-error', 'signup-error', 'account-error',
    'restore-error'])
    $(id).textContent = '';
  for (const el of document.querySelectorAll('[aria-invalid="true"]'))
    el.removeAttribute('aria-invalid');
}

/** Back to the login form, with a sentence saying why. Personal data is
 * removed from the page, not only hidden. Safe to call more than once:
 * focus moves only when the view changes. */
function showSignedOut(message, { focus = false } = {}) {
  const changed = view !== 'signed-out';
  $('greeting').textContent = '';
  $('profile-username').textContent = '';
  $('profile-email').textContent = '';
  $('profile-created').textContent = '';
  $('session-list').replaceChildren();
  $('sessions-status').textContent = '';
  if (changed)
    clearErrors();
  show('signed-out');
  setNotice(message);
  if (focus && changed)
    $('login-heading').focus();
}

async function showSignedIn({ focus = false, message = '' } = {}) {
  clearErrors();
  let profileError = null;
  try {
    renderProfile(await latch.profile());
  } catch (err) {
    if (sessionIsOver(err))
      return;
    profileError = err;
  }
  show('signed-in');
  setNotice(message);
  if (profileError)
    $('account-error').textContent = errorWords(profileError, 'account');
  if (focus)
    $('profile-heading').focus();
  await loadSessions();
}

/** True when err means the session has ended: latch.js then calls
 * onSessionEnd (which shows the login form); this makes sure of it. */
function sessionIsOver(err) {
  if (latch.loggedIn && !(err && (err.code === 'invalid_grant' ||
      err.code === 'invalid_token')))
    return false;
  if (view !== 'signed-out')
    showSignedOut(sessionEndWords(err && err.code === 'invalid_grant'
      ? 'revoked' : 'expired'), { focus: true });
  return true;
}

// ------------------------------------------------------------ profile

function renderProfile(p) {
  $('greeting').textContent = p.message || `Hello ${p.username}`;
  $('profile-username').textContent = p.username;
  $('profile-email').textContent = p.email || 'none given';
  $('profile-created').replaceChildren(timeElement(p.created_at));
}

function timeElement(iso) {
  const t = document.createElement('time');
  if (iso)
    t.dateTime = iso;
  t.textContent = localTime(iso);
  return t;
}

// ------------------------------------------------------------ sessions

async function loadSessions() {
  const status = $('sessions-status');
  status.textContent = 'Loading your sessions…';
  let list;
  try {
    list = await latch.sessions();
  } catch (err) {
    if (sessionIsOver(err))
      return;
    status.textContent = '';
    $('account-error').textContent = errorWords(err, 'account');
    return;
  }
  renderSessions(list);
}

function renderSessions(list) {
  const ul = $('session-list');
  ul.replaceChildren();
  list.forEach((s, i) => {
    const li = document.createElement('li');
    li.className = 'session';
    li.dataset.sessionId = String(s.id);
    if (s.current)
      li.classList.add('current');

    const device = deviceWords(s.user_agent);
    const h = document.createElement('h3');
    h.id = `session-${i}-name`;
    h.textContent = device;
    if (s.current) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = 'this device';
      h.append(' ', badge);
    }
    li.append(h);

    const dl = document.createElement('dl');
    dl.className = 'facts';
    const fact = (term, value) => {
      const div = document.createElement('div');
      const dt = document.createElement('dt');
      const dd = document.createElement('dd');
      dt.textContent = term;
      if (typeof value === 'string')
        dd.textContent = value;
      else
        dd.append(value);
      div.append(dt, dd);
      dl.append(div);
    };
    fact('Address', s.ip || 'unknown');
    fact('Logged in', timeElement(s.created_at));
    fact('Last used', timeElement(s.last_used_at));
    if (device === 'Unknown device' && s.user_agent)
      fact('Browser says', s.user_agent.slice(0, 200));
    // A session bound to a key the device holds (README "Sender-constrained
    // sessions"): a copy of its refresh cookie is worth minutes at most.
    if (s.binding === 'dbsc')
      fact('Bound to', 'a key this browser keeps (DBSC)');
    else if (s.binding === 'dpop')
      fact('Bound to', 'a key the app keeps (DPoP)');
    li.append(dl);

    if (s.current) {
      const p = document.createElement('p');
      p.className = 'muted';
      p.textContent = 'You are using this one: "Log out" below ends it.';
      li.append(p);
    } else {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'revoke';
      b.textContent = 'End this session';
      b.setAttribute('aria-describedby', h.id);
      b.addEventListener('click', () => revoke(b, s, device));
      li.append(b);
    }
    ul.append(li);
  });
  const n = list.length;
  $('sessions-status').textContent = n === 1 ? 'You have 1 session: this one.'
    : `You have ${n} sessions.`;
}

async function revoke(button, s, device) {
  await busy(button, 'Ending…', async () => {
    $('account-error').textContent = '';
    try {
      await latch.revokeSession(s.id);
      setNotice(`The session of ${device} is ended.`);
    } catch (err) {
      if (sessionIsOver(err))
        return;
      if (err && err.status !== 404) {
        $('account-error').textContent = errorWords(err, 'revoke');
        return;
      }
      setNotice(errorWords(err, 'revoke'));
    }
    // The button is gone with the list: keep focus in the section.
    $('sessions-heading').focus();
    await loadSessions();
  });
}

// ------------------------------------------------------------ busy buttons

/** Runs fn with button marked busy; a second press meanwhile does nothing.
 * (aria-disabled, not disabled: a disabled button drops keyboard focus.) */
async function busy(button, label, fn) {
  if (button.dataset.busy)
    return;
  const text = button.textContent;
  button.dataset.busy = '1';
  button.setAttribute('aria-disabled', 'true');
  button.textContent = label;
  try {
    await fn();
  } finally {
    delete button.dataset.busy;
    button.removeAttribute('aria-disabled');
    button.textContent = text;
  }
}

function invalid(input, errorId, message) {
  input.setAttribute('aria-invalid', 'true');
  $(errorId).textContent = message;
  input.focus();
}

// ------------------------------------------------------------ log in

$('login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = $('login-name');
  const password = $('login-password');
  clearErrors();
  if (!name.value.trim())
    return invalid(name, 'login-error', 'Enter your username or email.');
  if (!password.value)
    return invalid(password, 'login-error', 'Enter your password.');
  busy($('login-submit'), 'Logging in…', async () => {
    const who = name.value.trim();
    const credentials = who.includes('@')
      ? { email: who, password: password.value }
      : { username: who, password: password.value };
    try {
      await latch.login(credentials);
    } catch (err) {
      $('login-error').textContent = errorWords(err, 'login');
      if (err && err.code === 'invalid_credentials') {
        password.value = '';
        password.setAttribute('aria-invalid', 'true');
        password.focus();
      }
      return;
    }
    password.value = '';
    await showSignedIn({ focus: true });
  });
});

// ------------------------------------------------------------ sign up

function byteLength(s) {
  return new TextEncoder().encode(s).length;
}

$('signup-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = $('signup-name');
  const email = $('signup-email');
  const password = $('signup-password');
  clearErrors();
  if (!name.value.trim())
    return invalid(name, 'signup-error', 'Choose a username.');
  const len = byteLength(password.value);
  if (len < 8 || len > 72)
    return invalid(password, 'signup-error',
      'The password must be 8 to 72 bytes long.');
  busy($('signup-submit'), 'Creating…', async () => {
    const body = { username: name.value.trim(), password: password.value };
    if (email.value.trim())
      body.email = email.value.trim();
    try {
      await latch.register(body);
    } catch (err) {
      $('signup-error').textContent = errorWords(err, 'signup');
      if (err && err.code === 'weak_password')
        password.setAttribute('aria-invalid', 'true');
      return;
    }
    try {
      await latch.login({ username: body.username, password: body.password });
    } catch (err) {
      $('signup-error').textContent =
        `Your account is created, but logging in failed: ${errorWords(err, 'login')}`;
      return;
    }
    name.value = email.value = password.value = '';
    await showSignedIn({ focus: true,
      message: `Welcome, ${body.username}: your account is created.` });
  });
});

// ------------------------------------------------------------ log out

$('logout').addEventListener('click', () => busy($('logout'), 'Logging out…',
  async () => {
    $('account-error').textContent = '';
    try {
      await latch.logout();
    } catch (err) {
      if (latch.loggedIn) {
        $('account-error').textContent = errorWords(err, 'account');
        return;
      }
    }
    showSignedOut(sessionEndWords('logged_out'), { focus: true });
  }));

$('logout-all').addEventListener('click', () => busy($('logout-all'),
  'Logging out everywhere…', async () => {
    $('account-error').textContent = '';
    let result;
    try {
      result = await latch.logoutAll();
    } catch (err) {
      if (!sessionIsOver(err))
        $('account-error').textContent = errorWords(err, 'account');
      return;
    }
    const n = result && typeof result.revoked === 'number' ? result.revoked : null;
    showSignedOut(n === null ? 'You are logged out everywhere.'
      : `You are logged out everywhere: ${n} ${n === 1 ? 'session' : 'sessions'} ended.`,
    { focus: true });
  }));

$('sessions-reload').addEventListener('click', () => busy($('sessions-reload'),
  'Updating…', () => {
    $('account-error').textContent = '';
    return loadSessions();
  }));

// ------------------------------------------------------------ page load

async function start({ focus = false } = {}) {
  show('checking');
  setNotice('');
  let loggedIn;
  try {
    loggedIn = await latch.restore();
  } catch (err) {
    show('restore-failed');
    $('restore-error').textContent =
      `Could not find out whether you are logged in. ${errorWords(err, 'restore')}`;
    if (focus)
      $('restore-retry').focus();
    return;
  }
  if (loggedIn)
    await showSignedIn({ focus });
  else if (view !== 'signed-out')
    showSignedOut('', { focus });
}

// Trying again hides the button while it checks: focus then goes where
// the answer is (the profile, the login form, or this button again).
$('restore-retry').addEventListener('click', () => busy($('restore-retry'),
  'Trying…', () => start({ focus: true })));

start();
