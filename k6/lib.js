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

// count files a response under ok (wantOK statuses), limited (429 with
// Retry-After and the documented JSON body), server_errors (5xx) or other.
// A refused WebSocket handshake exposes only its status (handshake true).
export function count(res, wantOK, handshake) {
  if (res.status >= 500) {
    serverErrors.add(1);
  } else if (res.status === 429 && handshake) {
    limited.add(1);
  } else if (res.status === 429) {
    let body = {};
    try { body = res.json(); } catch (e) { /* counted as other below */ }
    if (res.headers['Retry-After'] && body.error && body.limit && body.retry_after_seconds > 0) {
      limited.add(1);
    } else {
      other.add(1);
    }
  } else if (wantOK.includes(res.status)) {
    ok.add(1);
  } else {
    other.add(1);
  }
}

// thresholds for a limit of n: exactly n accepted, the rest refused with
// 429, never a 5xx, nothing unexpected.
export function limitThresholds(n) {
  return {
    ok: [`count==${n}`],
    limited: ['count>=1'],
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
