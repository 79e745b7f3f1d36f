// Types of latch.js, the browser client of latch (README "The browser
// client"). Kept by hand beside the module; its JSDoc says the same.

/** Why the session ended, as given to onSessionEnd. */
export type SessionEndReason = 'logged_out' | 'revoked' | 'expired';

export interface LatchOptions {
  /** Where latch is; '' (the default) is this page's origin. */
  baseUrl?: string;
  /**
   * Called once when the session is over: 'logged_out' (in this tab or
   * another), 'revoked' (the refresh was refused with 403 invalid_grant:
   * revoked, expired or reused) or 'expired' (the refresh answered 401:
   * no refresh cookie left). The client never navigates by itself.
   */
  onSessionEnd?: (reason: SessionEndReason) => void;
  /** Seconds before expiry to refresh while visible (30; at most half the token's life). */
  refreshAhead?: number;
  /** Refresh ahead of expiry on a timer (true). */
  autoRefresh?: boolean;
  /** Extra tries after a network error or a 503 (2). */
  retries?: number;
  /** Cap in seconds on the wait before a retry, Retry-After included (5). */
  maxRetryDelay?: number;
  /** Seconds one request may take before it counts as a network error (20). */
  timeout?: number;
  /** Origins besides latch's own that fetchWithAuth may send the token to. */
  trustedOrigins?: string[];
}

export interface CallOptions {
  /** Aborts the call; it then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A session as GET /auth/sessions lists it (API.md). */
export interface Session {
  id: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  user_agent: string | null;
  ip: string | null;
  current: boolean;
  /** Contract 1.1: null, 'dbsc' or 'dpop'. */
  binding?: string | null;
}

/** GET /api/profile (API.md). */
export interface Profile {
  id: string;
  username: string;
  email: string | null;
  created_at: string;
  message: string;
}

export type Credentials =
  | { username: string; email?: undefined; password: string }
  | { email: string; username?: undefined; password: string };

export interface Latch {
  /** Silent refresh from the cookie: true when logged in; false for "no session". Throws LatchError for anything else (network, 503). */
  restore(opts?: CallOptions): Promise<boolean>;
  /** Throws LatchError (401 invalid_credentials, 429 too_many_requests, ...). */
  login(creds: Credentials, opts?: CallOptions): Promise<void>;
  /** POST /auth/register (404 not_found when sign-up is off). Does not log in. */
  register(user: { username: string; password: string; email?: string }, opts?: CallOptions): Promise<{ id: string; username: string }>;
  /** Ends this session; the other tabs learn it. */
  logout(opts?: CallOptions): Promise<void>;
  /** Ends every session of the user. */
  logoutAll(opts?: CallOptions): Promise<{ revoked: number }>;
  sessions(opts?: CallOptions): Promise<Session[]>;
  revokeSession(id: string, opts?: CallOptions): Promise<void>;
  profile(opts?: CallOptions): Promise<Profile>;
  /**
   * fetch with the Bearer token (same origin, or trustedOrigins); on a 401
   * one refresh (shared by the page and, through Web Locks, the tabs) and
   * one retry. Returns the last Response whatever its status; throws
   * LatchError no_session, untrusted_origin or network_error, or the
   * refresh's error when the retry could not be made (403 invalid_grant:
   * the session ended; 503: retryable). The body must be replayable
   * (a string, Blob, FormData, ...: not a stream).
   */
  fetchWithAuth(input: RequestInfo | URL, init?: RequestInit, opts?: CallOptions): Promise<Response>;
  /** Whether this tab holds an access token (a session is open). */
  readonly loggedIn: boolean;
  /** Stops timers and the channel (tests, SPA unmount). */
  close(): void;
}

export declare class LatchError extends Error {
  constructor(fields: {
    status: number;
    code: string;
    description?: string;
    retryAfter?: number | null;
    retryable?: boolean;
  });
  readonly name: 'LatchError';
  /** HTTP status; 0 when no answer came. */
  status: number;
  /** API.md error code, or network_error, no_session, bad_response, untrusted_origin. */
  code: string;
  /** The server's error_description (for developers, not for people). */
  description: string;
  /** Seconds, from Retry-After; null when absent. */
  retryAfter: number | null;
  /** True when the same call may work later unchanged (network, 429, 502-504). */
  retryable: boolean;
}

export declare function createLatch(options?: LatchOptions): Latch;
