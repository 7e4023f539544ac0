// The chat backend for sss's backend proxy, in plain Node (20+): node:http and
// fetch, no dependencies. sss-server keeps the sockets, channels, history and
// fan-out; this process decides who may connect and join, and answers the
// chat's asks and tells (README.md beside this file; the calls are described
// in the top README, "Writing the application in any language").
//
//   PORT=8000 SSS_API_URL=http://127.0.0.1:9090 SSS_API_KEY=secret node server.mjs
//   sss-server --proxy-url http://127.0.0.1:8000 --api-listen 127.0.0.1:9090 --api-key secret
//
// The chat is the one of examples/chat/chat.c, so its page works unchanged:
// rooms are channels room-<name>; TELL "say" {room, name, text} publishes
// "said" {room, name, text, at} on the room; ASK "history" {room} and ASK
// "presence" {room} answer; "presence" {room, count} is published on the room
// whenever its count changes. And TELL "remind" {text, ms} TELLs the socket
// "reminder" {text} ms milliseconds later, through the HTTP API.
//
// State lives in this process (one backend for the whole cluster): the last 50
// messages of each room, and which sockets are in which rooms.
import http from 'node:http';

const LISTEN_HOST = process.env.LISTEN_HOST || '127.0.0.1';
const PORT = Number(process.env.PORT ?? 8000); // 0: the kernel picks one (printed)
const SSS_API_URL = (process.env.SSS_API_URL || 'http://127.0.0.1:9090').replace(/\/+$/, '');
const SSS_API_KEY = process.env.SSS_API_KEY || '';

const HISTORY_LIMIT = 50;
const MAX_TEXT = 2000;
const MAX_REMIND_MS = 3600_000;
const MAX_BODY = 2 * 1024 * 1024; // above sss's default --max-message-size (1m)
const ROOM_RE = /^room-[A-Za-z0-9_-]{1,59}$/;
const USER_RE = /^[A-Za-z0-9_-]{1,120}$/; // what sss accepts as a user name

// ---- state ----
const history = new Map(); // room -> [{uid, msg}], oldest first, at most HISTORY_LIMIT
const members = new Map(); // room -> Set of socket names
const roomsOf = new Map(); // socket name -> Set of rooms

// ---- the sss HTTP API ----

// POST a JSON body to the sss HTTP API; its JSON answer, or throws with the reason.
async function api(path, body) {
  const headers = { 'content-type': 'application/json' };
  if (SSS_API_KEY) headers.authorization = `Bearer ${SSS_API_KEY}`;
  const res = await fetch(SSS_API_URL + path, {
    method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  let answer = null;
  try { answer = JSON.parse(text); } catch { /* not JSON: the text is the reason */ }
  if (!res.ok) throw new Error(`${path} answered ${res.status}: ${answer?.error ?? text}`);
  return answer;
}

const publish = (channel, topic, msg) => api('/api/publish', { channel, topic, msg });
const tellSocket = (socket, topic, msg) => api('/api/tell', { socket, topic, msg });

// "ms-seq" uids compare as number pairs.
function uidLess(a, b) {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am !== bm ? am < bm : as < bs;
}

function remember(room, uid, msg) {
  const list = history.get(room) ?? [];
  let i = list.length; // publishes may complete out of order: keep uid order
  while (i > 0 && uidLess(uid, list[i - 1].uid)) i--;
  list.splice(i, 0, { uid, msg });
  if (list.length > HISTORY_LIMIT) list.splice(0, list.length - HISTORY_LIMIT);
  history.set(room, list);
}

// Presence publications go out one at a time, each with the count of the moment
// it is sent, so the last one a room gets is its current count.
const presenceDirty = new Set();
let presencePumping = false;

function presenceChanged(room) {
  presenceDirty.add(room);
  if (!presencePumping) pumpPresence();
}

async function pumpPresence() {
  presencePumping = true;
  while (presenceDirty.size) {
    const [room] = presenceDirty;
    presenceDirty.delete(room);
    const count = members.get(room)?.size ?? 0;
    try {
      await publish(room, 'presence', { room, count });
    } catch (e) {
      console.error(`presence of ${room} not published: ${e.message}`);
    }
  }
  presencePumping = false;
}

// ---- the five calls ----

function parseCookies(header = '') {
  const out = {};
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

// {target, headers, remote} -> {user} upgrades (none: anonymous); {status, reason} refuses.
function onConnect({ headers }) {
  const user = parseCookies(headers?.cookie).user;
  if (user === undefined) return {};
  if (!USER_RE.test(user)) return { status: 401, reason: 'bad user cookie' };
  if (user === 'mallory') return { status: 403, reason: 'mallory is banned' };
  return { user };
}

// {socket, user, session, channel, query} -> {result, reason}
function onSubscribe({ socket, channel }) {
  if (channel === 'room-secret') return { result: false, reason: 'room-secret is invite-only' };
  if (typeof channel !== 'string' || !ROOM_RE.test(channel)) {
    return { result: false, reason: 'only rooms (room-<name>) can be joined' };
  }
  // Counted from the moment it is allowed; an UNSUBSCRIBE is not reported to
  // the backend, so the count drops when the socket closes.
  const inRoom = members.get(channel) ?? new Set();
  members.set(channel, inRoom);
  if (!inRoom.has(socket)) {
    inRoom.add(socket);
    if (!roomsOf.has(socket)) roomsOf.set(socket, new Set());
    roomsOf.get(socket).add(channel);
    presenceChanged(channel);
  }
  return { result: true };
}

// {socket, user, session, topic, msg} -> {msg} or {err: {name, message}}
function onAsk({ topic, msg }) {
  const room = msg?.room;
  if (topic !== 'history' && topic !== 'presence') {
    return { err: { name: 'Unknown topic', message: `no ask "${topic}"` } };
  }
  if (typeof room !== 'string' || !ROOM_RE.test(room)) {
    return { err: { name: 'Bad request', message: `${topic} needs a room (room-<name>)` } };
  }
  if (topic === 'presence') return { msg: { room, count: members.get(room)?.size ?? 0 } };
  // The same array of FEEDs as sss_reply_history gives a C module, oldest first.
  const feeds = (history.get(room) ?? []).map(({ uid, msg: said }) =>
    ({ sys: 8, channel: room, topic: 'said', msg: said, uid }));
  return { msg: feeds };
}

// {socket, user, session, topic, msg} -> {} (sss ignores a tell's answer). The
// answer is sent once the work is done, so one socket's says stay in order.
async function onTell({ socket, user, topic, msg }) {
  if (topic === 'say') {
    const { room, name, text } = msg ?? {};
    if (typeof room !== 'string' || !ROOM_RE.test(room) || typeof text !== 'string' ||
        !text || text.length > MAX_TEXT) {
      await tellBack(socket, 'error', 'say needs a room (room-<name>) and a text');
      return {};
    }
    // The user the cookie named speaks under that name; the anonymous give theirs.
    const said = { room, name: user || (typeof name === 'string' && name) || 'anonymous', text, at: Date.now() };
    try {
      const { uid } = await publish(room, 'said', said);
      remember(room, uid, said);
    } catch (e) {
      console.error(`say in ${room} not published: ${e.message}`);
      await tellBack(socket, 'error', 'not sent: try again');
    }
  } else if (topic === 'remind') {
    const { text, ms } = msg ?? {};
    if (typeof text !== 'string' || !Number.isFinite(ms) || ms < 0 || ms > MAX_REMIND_MS) {
      await tellBack(socket, 'error', `remind needs a text and ms (0 to ${MAX_REMIND_MS})`);
      return {};
    }
    setTimeout(() => tellBack(socket, 'reminder', { text }), ms);
  }
  return {};
}

// A TELL to one socket; a socket that is gone meanwhile is only logged.
async function tellBack(socket, topic, msg) {
  try {
    await tellSocket(socket, topic, msg);
  } catch (e) {
    console.error(`tell ${topic} to ${socket} not delivered: ${e.message}`);
  }
}

// {socket, user, session, code} -> {}
function onClose({ socket }) {
  for (const room of roomsOf.get(socket) ?? []) {
    const inRoom = members.get(room);
    inRoom.delete(socket);
    if (!inRoom.size) members.delete(room);
    presenceChanged(room);
  }
  roomsOf.delete(socket);
  return {};
}

const handlers = { connect: onConnect, subscribe: onSubscribe, ask: onAsk, tell: onTell, close: onClose };

// ---- HTTP ----

function send(res, status, body, extraHeaders = {}) {
  const out = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(out),
    ...extraHeaders,
  });
  res.end(out);
}

const server = http.createServer((req, res) => {
  // sss calls POST {prefix}/{event}: the last path segment names the event.
  const event = new URL(req.url, 'http://x').pathname.split('/').pop();
  const handler = Object.hasOwn(handlers, event) ? handlers[event] : null;
  if (req.method !== 'POST') {
    req.resume();
    return send(res, 405, { error: 'POST only' }, { allow: 'POST' });
  }
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size <= MAX_BODY) chunks.push(chunk);
  });
  req.on('end', async () => {
    if (size > MAX_BODY) return send(res, 413, { error: 'body too large' }, { connection: 'close' });
    if (!handler) return send(res, 404, { error: `no event ${event}` });
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      return send(res, 400, { error: `bad JSON: ${e.message}` });
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return send(res, 400, { error: 'the body must be a JSON object' });
    }
    try {
      send(res, 200, await handler(body));
    } catch (e) {
      console.error(`${event}: ${e.stack}`);
      send(res, 500, { error: e.message });
    }
  });
});

// sss keeps its connections to the backend open and reuses them: let them idle
// longer than Node's default 5 s (sss retries a call that met a closed one, once).
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

server.listen(PORT, LISTEN_HOST, () => {
  const { address, port } = server.address();
  console.log(`chat backend listening on http://${address}:${port}, sss API ${SSS_API_URL}`);
});

// Exit on a signal even as PID 1 (in a container), where Node's defaults do not apply.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
