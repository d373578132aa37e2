// GET /get_member/: 60 per minute per IP. 63 lookups: 60 answered, 3 × 429.
import { BASE, count, getToken, limitThresholds, lobby, post, summary } from './lib.js';
import http from 'k6/http';

const LIMIT = 60;
const EXTRA = 3;
export const options = { vus: 1, iterations: 1, thresholds: limitThresholds(LIMIT, EXTRA) };

export default function () {
  const csrf = lobby();
  const { uid } = getToken('load');
  post('/create_member/', csrf, { name: 'Load', room_name: 'load', UID: uid });
  for (let i = 0; i < LIMIT + EXTRA; i++) {
    count(http.get(`${BASE}/get_member/?room_name=load&UID=${uid}`), [200], '60 per minute',
      (r) => r.json().name === 'Load');
  }
}

export const handleSummary = summary('get_member', '60 per minute');
