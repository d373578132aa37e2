// GET /get_member/: 60 per minute per IP. 63 lookups: 60 answered, 3 × 429.
import { BASE, count, getToken, limitThresholds, lobby, post, summary } from './lib.js';
import http from 'k6/http';

const LIMIT = 60;
export const options = { vus: 1, iterations: 1, thresholds: limitThresholds(LIMIT) };

export default function () {
  const csrf = lobby();
  const { uid } = getToken('load');
  post('/create_member/', csrf, { name: 'Load', room_name: 'load', UID: uid });
  for (let i = 0; i < LIMIT + 3; i++) {
    count(http.get(`${BASE}/get_member/?room_name=load&UID=${uid}`), [200]);
  }
}

export const handleSummary = summary('get_member', '60 per minute');
