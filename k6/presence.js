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
const joinsSeen = new Counter('joins_seen');
const signals = new Counter('signals_received');
const wsErrors = new Counter('ws_errors');
// Members of room r: the VUs v (1..VUS) with v % ROOMS == r.
const roomSize = (r) => Array.from({ length: VUS }, (_, i) => i + 1).filter((v) => v % ROOMS === r).length;
// Every member signals once, after everyone has joined, and every other
// member of its room receives it.
let expectedSignals = 0;
for (let r = 0; r < ROOMS; r++) expectedSignals += roomSize(r) * (roomSize(r) - 1);

export const options = {
  scenarios: { presence: { executor: 'per-vu-iterations', vus: VUS, iterations: 1, maxDuration: '60s' } },
  thresholds: {
    join_visible_ms: ['p(95)<250'],
    ws_errors: ['count==0'],
    joins_seen: ['count>0'], // join_visible_ms has samples (a Trend with none passes p(95))
    signals_received: [`count==${expectedSignals}`],
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
  const roster = new Set();
  const signalled = new Set();
  ws.onmessage = (e) => {
    const f = JSON.parse(e.data);
    if (f.type === 'snapshot') {
      sawSnapshot = true;
      roster.clear();
      f.members.forEach((m) => roster.add(m.uid));
    }
    if (f.type === 'join') {
      roster.add(f.member.uid);
      if (f.member.uid !== uid) {
        joinVisible.add(Date.now() - f.member.joined_at);
        joinsSeen.add(1);
      }
    }
    if (f.type === 'leave') roster.delete(f.uid);
    if (f.type === 'signal' && f.from !== uid) {
      signals.add(1);
      signalled.add(f.from);
    }
  };
  // After delete_member the server ends the socket (4003, "you left the
  // room"), which k6 reports as an error; only earlier errors count.
  ws.onerror = () => { if (!leaving) wsErrors.add(1); };
  ws.onopen = () => {
    // Stay a while so later joiners are seen, signal once, then leave.
    setTimeout(() => {
      check(null, { 'whole room visible': () => roster.size === roomSize(__VU % ROOMS) && roster.has(uid) });
      ws.send(JSON.stringify({ type: 'signal', data: { kind: 'hand', raised: true } }));
    }, 2000);
    setTimeout(() => {
      check(null, { 'snapshot received': () => sawSnapshot });
      check(null, { 'every other member\'s signal received': () => signalled.size === roomSize(__VU % ROOMS) - 1 });
      leaving = true;
      const left = http.post(`${BASE}/delete_member/`, JSON.stringify({ room_name: room, UID: uid }), params);
      check(left, { 'member left': (r) => r.status === 200 });
      ws.close();
    }, 5000);
  };
}

// One JSON line: what k6 measured, for BENCHMARKS.md.
export function handleSummary(data) {
  const m = (k) => (data.metrics[k] ? data.metrics[k].values : {});
  const jv = m('join_visible_ms');
  const r2 = (x) => Math.round((x || 0) * 100) / 100;
  const failed = Object.keys(data.metrics).filter((k) => Object.values(data.metrics[k].thresholds || {}).some((t) => !t.ok));
  return { stdout: JSON.stringify({ script: 'presence', vus: VUS, rooms: ROOMS,
    join_visible_ms: { p50: r2(jv.med), p95: r2(jv['p(95)']), max: r2(jv.max), observations: m('joins_seen').count || 0 },
    signals_received: m('signals_received').count || 0, signals_expected: expectedSignals,
    ws_errors: m('ws_errors').count || 0, checks_failed: m('checks').fails || 0,
    http_req_failed: m('http_req_failed').passes || 0, thresholds_failed: failed }) + '\n' };
}
