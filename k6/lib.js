// Shared helpers of Roomhub's k6 scripts. BASE is the server under test
// (loopback only: scripts/load.sh starts it).
import http from 'k6/http';
import { Counter } from 'k6/metrics';

export const BASE = __ENV.BASE || 'http://127.0.0.1:18080';
if (!/^http:\/\/(127\.0\.0\.1|\[::1\]|localhost)(:\d+)?$/.test(BASE)) {
  throw new Error('k6 scripts run against loopback only, not ' + BASE);
}

// Outcomes every limit script counts; thresholds assert on them.
export const ok = new Counter('ok');
export const limited = new Counter('limited');
export const serverErrors = new Counter('server_errors');
export const other = new Counter('other');

// The body of every 429 (docs/api.md, "Rate limits").
const TOO_MANY = 'Too many requests. Please wait before trying again.';

// count files a response under ok (a wantOK status that passes valid, when
// given), limited (429 with a Retry-After header equal to the body's
// retry_after_seconds and the documented body naming limitText), server_errors
// (5xx) or other. It takes k6/http responses and k6/ws ones alike: a refused
// WebSocket handshake carries its status, headers and body too.
export function count(res, wantOK, limitText, valid) {
  if (res.status >= 500) {
    serverErrors.add(1);
  } else if (res.status === 429) {
    (documented429(res, limitText) ? limited : other).add(1);
  } else if (wantOK.includes(res.status) && (!valid || valid(res))) {
    ok.add(1);
  } else {
    other.add(1);
  }
}

// documented429 tells whether a 429 is the documented one: Retry-After equal
// to the body's retry_after_seconds, the documented message, the limit
// named as limitText ("10 per minute") and a request id.
export function documented429(res, limitText) {
  if (res.status !== 429) return false;
  let body = {};
  try { body = JSON.parse(res.body); } catch (e) { return false; }
  const retry = Number(res.headers['Retry-After']);
  return retry > 0 && body.error === TOO_MANY && body.limit === limitText &&
    body.retry_after_seconds === retry && typeof body.request_id === 'string' && body.request_id !== '';
}

// thresholds for a limit of n with extra requests over it: exactly n
// accepted, exactly extra refused with the documented 429, never a 5xx,
// nothing unexpected.
export function limitThresholds(n, extra) {
  return {
    ok: [`count==${n}`],
    limited: [`count==${extra}`],
    server_errors: ['count==0'],
    other: ['count==0'],
  };
}

// csrfFrom reads the CSRF token a page publishes.
export function csrfFrom(res) {
  const m = /<meta name="csrf-token" content="([^"]+)"/.exec(res.body || '');
  if (!m) throw new Error('no csrf-token on ' + res.url + ' (' + res.status + ')');
  return m[1];
}

// lobby opens the lobby (session cookie and CSRF token), as a browser does.
export function lobby() {
  return csrfFrom(http.get(`${BASE}/`, { headers: { Accept: 'text/html' } }));
}

export function getToken(room) {
  const res = http.get(`${BASE}/get_token/?channel=${room}`);
  if (res.status !== 200) throw new Error('get_token: ' + res.status + ' ' + res.body);
  return res.json();
}

export function post(path, csrf, body) {
  return http.post(`${BASE}${path}`, JSON.stringify(body), {
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
  });
}

// summary prints one JSON line: the limit and what the server answered.
export function summary(name, limit) {
  return (data) => {
    const v = (m) => (data.metrics[m] ? data.metrics[m].values.count : 0);
    const line = JSON.stringify({ script: name, limit, ok: v('ok'), limited: v('limited'),
      server_errors: v('server_errors'), other: v('other') });
    return { stdout: line + '\n' };
  };
}
