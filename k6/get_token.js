// GET /get_token/: 10 per minute per IP. 12 requests: 10 tokens, 2 × 429.
import { BASE, count, limitThresholds, summary } from './lib.js';
import http from 'k6/http';

const LIMIT = 10;
export const options = { vus: 1, iterations: 1, thresholds: limitThresholds(LIMIT) };

export default function () {
  for (let i = 0; i < LIMIT + 2; i++) {
    count(http.get(`${BASE}/get_token/?channel=load-${i}`), [200]);
  }
}

export const handleSummary = summary('get_token', '10 per minute');
