// words.js: what the demo page says to a person. Pure functions, no DOM and
// no network, so that the browser tests can check the wording directly.

/**
 * "2 minutes", "1 second": how long a Retry-After of `seconds` is, rounded
 * up so that the person never comes back too early.
 * @param {number|null|undefined} seconds
 * @returns {string|null} null when the server gave no usable number
 */
export function waitWords(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0)
    return null;
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60)
    return plural(s, 'second');
  const m = Math.ceil(s / 60);
  if (m < 120)
    return plural(m, 'minute');
  return plural(Math.ceil(m / 60), 'hour');
}

function plural(n, unit) {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/**
 * A sentence for an error thrown by latch.js (a LatchError, or anything
 * else), in the context of what the person was doing.
 * @param {any} err
 * @param {'login'|'signup'|'revoke'|'account'|'restore'} doing
 * @returns {string}
 */
export function errorWords(err, doing) {
  const status = err && typeof err.status === 'number' ? err.status : 0;
  const code = err && typeof err.code === 'string' ? err.code : '';

  if (code === 'network_error' || (status === 0 && code === ''))
    return 'Cannot reach the server. Check your connection, then try again.';
  if (code === 'aborted' || (err && err.name === 'AbortError'))
    return 'The request was cancelled.';
  if (status === 429 || code === 'too_many_requests') {
    const wait = waitWords(err.retryAfter);
    return wait ? `Too many attempts, try again in ${wait}.`
                : 'Too many attempts, try again later.';
  }
  if (status === 503 || code === 'temporarily_unavailable')
    return 'The service is busy or down; try again shortly.';
  if (status >= 500)
    return 'The server had a problem answering; try again shortly.';

  switch (code) {
  case 'invalid_credentials':
    return 'Wrong username or password.';
  case 'username_taken':
    return 'That username or email is already taken; choose another, or log in.';
  case 'weak_password':
    return 'The password must be 8 to 72 bytes long.';
  case 'invalid_origin':
    return 'The server does not accept requests from this page\'s address ' +
      '(its operator can add it to ALLOWED_ORIGINS).';
  case 'payload_too_large':
    return 'What you typed is too long for the server.';
  case 'invalid_grant':
  case 'invalid_token':
  case 'no_session':
    return 'Your session has ended; please log in again.';
  case 'bad_response':
    return 'The server\'s answer could not be read; try again shortly.';
  }
  if (status === 404) {
    if (doing === 'signup')
      return 'Sign-up is turned off on this server. Ask its operator for an account.';
    if (doing === 'revoke')
      return 'That session had already ended.';
    return 'The server does not know this request (404).';
  }
  if (status === 400 || code === 'invalid_request') {
    if (doing === 'login')
      return 'The server could not use what you typed: a username or email ' +
        'is at most 255 bytes, a password at most 72.';
    if (doing === 'signup')
      return 'The server could not use what you typed: check the username ' +
        'and email (each at most 255 bytes).';
    return 'The server refused the request as malformed.';
  }
  if (status === 401)
    return 'Your session has ended; please log in again.';
  return status ? `Something went wrong (HTTP ${status}${code ? `, ${code}` : ''}).`
                : 'Something went wrong.';
}

const BROWSERS = [
  // Order matters: Edge and Opera also say "Chrome", Chrome says "Safari".
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\bOPR\/|\bOpera\b/, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bFirefox\/|\bFxiOS\//, 'Firefox'],
  [/\bHeadlessChrome\//, 'Headless Chrome'],
  [/\bChrome\/|\bCriOS\/|\bChromium\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
  [/^curl\//, 'curl'],
  [/^python-requests\//, 'Python requests'],
  [/^Wget\//, 'Wget'],
  [/^okhttp\//, 'OkHttp'],
];

const SYSTEMS = [
  [/\bAndroid\b/, 'Android'],
  [/\biPhone\b/, 'iPhone'],
  [/\biPad\b/, 'iPad'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b|\bX11\b/, 'Linux'],
];

/**
 * "Chrome on Linux": a person's name for the device of a User-Agent.
 * @param {string|null|undefined} ua
 * @returns {string}
 */
export function deviceWords(ua) {
  if (typeof ua !== 'string' || ua.trim() === '')
    return 'Unknown device';
  const browser = (BROWSERS.find(([re]) => re.test(ua)) || [])[1];
  const system = (SYSTEMS.find(([re]) => re.test(ua)) || [])[1];
  if (browser && system)
    return `${browser} on ${system}`;
  if (browser)
    return browser;
  if (system)
    return `A browser on ${system}`;
  return 'Unknown device';
}

/**
 * A time of the API (RFC 3339, UTC) as the person's local date and time.
 * @param {string|null|undefined} iso
 * @returns {string}
 */
export function localTime(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime()))
    return 'unknown';
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/**
 * What the page says when latch.js reports that the session is over.
 * @param {string} reason 'logged_out', 'revoked' or 'expired'
 * @returns {string}
 */
export function sessionEndWords(reason) {
  switch (reason) {
  case 'logged_out':
    return 'You are logged out.';
  case 'revoked':
    return 'This session was ended, from another device or by "log out ' +
      'everywhere". Log in again to go on.';
  case 'expired':
    return 'Your session has expired. Log in again to go on.';
  }
  return 'Your session is over. Log in again to go on.';
}
