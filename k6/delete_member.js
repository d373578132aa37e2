// POST /delete_member/: 30 per minute per IP. 33 deletes of the session's
// own member (the first removes it, the rest answer deleted:false): 30
// answered, 3 × 429.
import { count, getToken, limitThresholds, lobby, post, summary } from './lib.js';

const LIMIT = 30;
const EXTRA = 3;
export const options = { vus: 1, iterations: 1, thresholds: limitThresholds(LIMIT, EXTRA) };

export default function () {
  const csrf = lobby();
  const { uid } = getToken('load');
  post('/create_member/', csrf, { name: 'Load', room_name: 'load', UID: uid });
  for (let i = 0; i < LIMIT + EXTRA; i++) {
    count(post('/delete_member/', csrf, { room_name: 'load', UID: uid }), [200], '30 per minute',
      (r) => r.json().deleted === (i === 0));
  }
}

export const handleSummary = summary('delete_member', '30 per minute');
