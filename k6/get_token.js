// GET /get_token/: 10 per minute per IP. 12 requests: 10 tokens, 2 × 429.
import { BASE, count, limitThresholds, summary } from './lib.js';
import http from 'k6/http';

const LIMIT = 10;
const EXTRA = 2;
export const options = { vus: 1, iterations: 1, thresholds: limitThresholds(LIMIT, EXTRA) };

export default function () {
  for (let i = 0; i < LIMIT + EXTRA; i++) {
    // A real AccessToken2 ("007..."): load.sh sets test Agora credentials.
    count(http.get(`${BASE}/get_token/?channel=load-${i}`), [200], '10 per minute',
      (r) => /^007/.test(r.json().token || '') && r.json().uid > 0);
  }
}

export const handleSummary = summary('get_token', '10 per minute');
