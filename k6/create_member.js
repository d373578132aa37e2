// POST /create_member/: 30 per minute per IP. One uid (one get_token),
// 33 creates (the same member, renamed): 30 accepted, 3 × 429.
import { count, getToken, limitThresholds, lobby, post, summary } from './lib.js';

const LIMIT = 30;
const EXTRA = 3;
export const options = { vus: 1, iterations: 1, thresholds: limitThresholds(LIMIT, EXTRA) };

export default function () {
  const csrf = lobby();
  const { uid } = getToken('load');
  for (let i = 0; i < LIMIT + EXTRA; i++) {
    count(post('/create_member/', csrf, { name: `Load ${i}`, room_name: 'load', UID: uid }), [200], '30 per minute',
      (r) => r.json().name === `Load ${i}`);
  }
}

export const handleSummary = summary('create_member', '30 per minute');
