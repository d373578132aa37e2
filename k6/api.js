// The server API. Anonymous (no valid key): 50 per hour per IP, 52
// requests: 50 × 401, 2 × 429. Per key (API_KEY, made by scripts/load.sh):
// 1000 per hour, 1003 requests: 1000 × 200, 3 × 429.
import { BASE, count, documented429 } from './lib.js';
import http from 'k6/http';
import { Counter } from 'k6/metrics';

const anonOK = new Counter('anon_unauthorized');
const anonLimited = new Counter('anon_limited');

export const options = {
  vus: 1, iterations: 1,
  thresholds: {
    ok: ['count==1000'], limited: ['count==3'], server_errors: ['count==0'], other: ['count==0'],
    anon_unauthorized: ['count==50'], anon_limited: ['count==2'],
  },
};

export default function () {
  for (let i = 0; i < 52; i++) {
    const res = http.get(`${BASE}/api/v1/rooms`);
    if (res.status === 401) anonOK.add(1);
    else if (documented429(res, '50 per hour')) anonLimited.add(1);
    else count(res, []); // a 5xx is a server error, anything else other
  }
  const auth = { headers: { Authorization: `Bearer ${__ENV.API_KEY}` } };
  for (let i = 0; i < 1003; i++) {
    count(http.get(`${BASE}/api/v1/rooms`, auth), [200], '1000 per hour');
  }
}

export function handleSummary(data) {
  const v = (m) => (data.metrics[m] ? data.metrics[m].values.count : 0);
  return { stdout: JSON.stringify({ script: 'api', limit: '1000 per hour per key, 50 per hour anonymous',
    ok: v('ok'), limited: v('limited'), anon_unauthorized: v('anon_unauthorized'), anon_limited: v('anon_limited'),
    server_errors: v('server_errors'), other: v('other') }) + '\n' };
}
