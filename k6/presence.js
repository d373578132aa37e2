// WebSocket presence: VUS members in ROOMS rooms join, see each other, send
// a signal, and leave. Every VU comes from its own address (X-Forwarded-For,
// which the server trusts from loopback in scripts/load.sh), as real people
// would, so per-IP limits apply per person. join_visible_ms is the time
// from a member's join (its joined_at, server clock) to another member's
// socket receiving it: same machine, same clock.
import { BASE, getToken } from './lib.js';
import http from 'k6/http';
import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import { WebSocket } from 'k6/websockets';

const VUS = Number(__ENV.VUS || 50);
const ROOMS = Number(__ENV.ROOMS || 5);
const joinVisible = new Trend('join_visible_ms', true);
const signals = new Counter('signals_received');
const wsErrors = new Counter('ws_errors');

export const options = {
  scenarios: { presence: { executor: 'per-vu-iterations', vus: VUS, iterations: 1, maxDuration: '60s' } },
  thresholds: {
    join_visible_ms: ['p(95)<250'],
    ws_errors: ['count==0'],
    signals_received: ['count>0'],
    checks: ['rate==1'],
    http_req_failed: ['rate==0'],
  },
};

export default function () {
  const ip = `10.${Math.floor(__VU / 250)}.${__VU % 250}.7`;
  const params = { headers: { 'X-Forwarded-For': ip, 'Content-Type': 'application/json' } };
  const page = http.get(`${BASE}/`, { headers: { Accept: 'text/html', 'X-Forwarded-For': ip } });
  const csrf = /<meta name="csrf-token" content="([^"]+)"/.exec(page.body)[1];
  params.headers['X-CSRF-Token'] = csrf;
  const room = `presence-${__VU % ROOMS}`;
  const tok = http.get(`${BASE}/get_token/?channel=${room}`, params);
  check(tok, { 'token issued': (r) => r.status === 200 });
  const uid = tok.json().uid;
  const created = http.post(`${BASE}/create_member/`, JSON.stringify({ name: `Member ${__VU}`, room_name: room, UID: uid }), params);
  check(created, { 'member created': (r) => r.status === 200 });
  const cookies = http.cookieJar().cookiesForURL(BASE);
  const cookie = Object.keys(cookies).map((k) => `${k}=${cookies[k][0]}`).join('; ');

  const ws = new WebSocket(`${BASE.replace('http', 'ws')}/ws/${room}`, null, {
    headers: { Cookie: cookie, 'X-Forwarded-For': ip },
  });
  let sawSnapshot = false;
  let leaving = false;
  ws.onmessage = (e) => {
    const f = JSON.parse(e.data);
    if (f.type === 'snapshot') sawSnapshot = true;
    if (f.type === 'join' && f.member.uid !== uid) joinVisible.add(Date.now() - f.member.joined_at);
    if (f.type === 'signal' && f.from !== uid) signals.add(1);
  };
  // After delete_member the server ends the socket (4003, "you left the
  // room"), which k6 reports as an error; only earlier errors count.
  ws.onerror = () => { if (!leaving) wsErrors.add(1); };
  ws.onopen = () => {
    // Stay a while so later joiners are seen, signal once, then leave.
    setTimeout(() => ws.send(JSON.stringify({ type: 'signal', data: { kind: 'hand', raised: true } })), 2000);
    setTimeout(() => {
      check(null, { 'snapshot received': () => sawSnapshot });
      leaving = true;
      const left = http.post(`${BASE}/delete_member/`, JSON.stringify({ room_name: room, UID: uid }), params);
      check(left, { 'member left': (r) => r.status === 200 });
      ws.close();
    }, 5000);
  };
}
