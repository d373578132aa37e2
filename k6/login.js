// POST /login: 10 per hour per IP. 12 sign-ins with a wrong password, each
// for another email (so the per-account lock after 5 failures stays out of
// the way): 10 answered 401 (counted as ok: the form answered), 2 × 429.
import { BASE, count, csrfFrom, limitThresholds, summary } from './lib.js';
import http from 'k6/http';

const LIMIT = 10;
export const options = { vus: 1, iterations: 1, thresholds: limitThresholds(LIMIT, 2) };

export default function () {
  const csrf = csrfFrom(http.get(`${BASE}/login`, { headers: { Accept: 'text/html' } }));
  for (let i = 0; i < LIMIT + 2; i++) {
    const res = http.post(`${BASE}/login`, { email: `nobody${i}@example.com`, password: `wrong-password-${i}`, csrf_token: csrf },
      { headers: { Accept: 'text/html' }, redirects: 0 });
    count(res, [401], '10 per hour');
  }
}

export const handleSummary = summary('login', '10 per hour');
