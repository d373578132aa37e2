// GET /ws/{room}: 60 upgrades per minute per IP. 63 sockets opened one
// after another (each closed at once): 60 upgrades (101), 3 × 429.
import { BASE, count, getToken, limitThresholds, lobby, post, summary } from './lib.js';
import http from 'k6/http';
import ws from 'k6/ws';

const LIMIT = 60;
const EXTRA = 3;
export const options = { vus: 1, iterations: 1, thresholds: limitThresholds(LIMIT, EXTRA) };

export default function () {
  const csrf = lobby();
  const { uid } = getToken('load');
  post('/create_member/', csrf, { name: 'Load', room_name: 'load', UID: uid });
  const cookies = http.cookieJar().cookiesForURL(BASE);
  const cookie = Object.keys(cookies).map((k) => `${k}=${cookies[k][0]}`).join('; ');
  for (let i = 0; i < LIMIT + EXTRA; i++) {
    const res = ws.connect(`${BASE.replace('http', 'ws')}/ws/load`, { headers: { Cookie: cookie } }, (socket) => {
      socket.on('open', () => socket.close());
    });
    count(res, [101], '60 per minute');
  }
}

export const handleSummary = summary('websocket', '60 per minute');
