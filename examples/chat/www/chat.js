// The chat demo's page: sss-client against the chat module (examples/chat/chat.c).
// Rooms are channels room-<name>; TELL "say" speaks, ASK "history" fills a room
// when it is joined, FEEDs "said" arrive live and "presence" carries the number
// of connections in the room on this host. Every message is keyed by its uid,
// so history, live FEEDs and the SYNC after a reconnect never show one twice.
import { client, statusText } from './sss-client.mjs';

const FIXED_ROOMS = ['room-lobby', 'room-random', 'room-help'];
const ROOM_RE = /^room-[A-Za-z0-9_-]{1,59}$/;

const $ = (id) => document.getElementById(id);
const els = {
  name: $('name'), status: $('status'), rooms: $('rooms'), join: $('join'), joinName: $('join-name'),
  title: $('room-title'), presence: $('presence'), messages: $('messages'), send: $('send'), text: $('text'),
};

// A tab id in the WebSocket URL: it shows in the server's debug log
// ("upgraded ... target=/?tab=..."), which lets a test find this tab's worker.
const tabId = Math.random().toString(36).slice(2, 10);
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/?tab=${tabId}`;
const sss = client(wsUrl, { retryInterval: 500, maxRetryInterval: 5000 });

// room -> { sub, joined, messages: [{uid, name, text, at}], seen: Set(uid), presence, unread }
const rooms = new Map();
let current = null;

// ---- helpers ----
function uidKey(uid) { // "ms-seq" -> comparable pair
  const [ms, seq] = String(uid).split('-');
  return [Number(ms) || 0, Number(seq) || 0];
}
function uidLess(a, b) {
  const [x, y] = [uidKey(a), uidKey(b)];
  return x[0] !== y[0] ? x[0] < y[0] : x[1] < y[1];
}
function timeOf(at) {
  const d = new Date(Number(at) || Date.now());
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}
function myName() { return els.name.value.trim() || 'anonymous'; }

function room(name) {
  let r = rooms.get(name);
  if (!r) {
    r = { sub: null, joining: false, messages: [], seen: new Set(), presence: null, unread: 0 };
    rooms.set(name, r);
  }
  return r;
}

// ---- rendering ----
function renderRooms() {
  els.rooms.replaceChildren(...[...rooms.keys()].map((name) => {
    const r = rooms.get(name);
    const li = document.createElement('li');
    li.dataset.room = name;
    if (name === current) li.className = 'current';
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = name.slice(5);
    const badge = document.createElement('span');
    badge.className = r.unread ? 'badge unread' : 'badge';
    badge.textContent = r.unread ? String(r.unread) : r.presence != null ? `${r.presence} here` : '';
    b.append(badge);
    b.onclick = () => show(name);
    li.append(b);
    return li;
  }));
}

function messageItem(m) {
  const li = document.createElement('li');
  li.dataset.uid = m.uid;
  if (m.name === myName()) li.className = 'mine';
  const meta = document.createElement('span');
  meta.className = 'meta';
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = m.name;
  const time = document.createElement('time');
  time.className = 'time';
  time.dateTime = new Date(Number(m.at) || Date.now()).toISOString();
  time.textContent = timeOf(m.at);
  meta.append(name, time);
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = m.text;
  li.append(meta, text);
  return li;
}

function note(text) {
  const li = document.createElement('li');
  li.className = 'note';
  li.textContent = text;
  els.messages.append(li);
  els.messages.scrollTop = els.messages.scrollHeight;
}

function renderMessages() {
  const r = rooms.get(current);
  els.messages.replaceChildren(...(r ? r.messages.map(messageItem) : []));
  els.messages.scrollTop = els.messages.scrollHeight;
}

function renderPresence() {
  const r = rooms.get(current);
  const n = r && r.presence != null ? r.presence : 0;
  els.presence.textContent = `${n} here`;
  els.presence.dataset.count = String(n);
}

// ---- messages ----
function addMessage(name, uid, msg) {
  const r = room(name);
  if (uid == null || r.seen.has(uid) || !msg || typeof msg.text !== 'string') return;
  r.seen.add(uid);
  const m = { uid, name: String(msg.name || 'anonymous'), text: msg.text, at: msg.at };
  let i = r.messages.length; // usually the newest: insert in uid order
  while (i > 0 && uidLess(uid, r.messages[i - 1].uid)) i--;
  r.messages.splice(i, 0, m);
  if (name === current) {
    if (i === r.messages.length - 1) {
      els.messages.append(messageItem(m));
      els.messages.scrollTop = els.messages.scrollHeight;
    } else {
      renderMessages();
    }
  } else {
    r.unread++;
    renderRooms();
  }
}

function setPresence(name, msg) {
  if (!msg || typeof msg.count !== 'number') return;
  room(name).presence = msg.count;
  if (name === current) renderPresence();
  renderRooms();
}

// ---- rooms ----
function join(name) {
  const r = room(name);
  if (r.sub || r.joining || sss.getStatus() !== 7 /* READY */) return;
  r.joining = true;
  sss.subscribe(name, null, (err, ok, sub) => {
    r.joining = false;
    if (err || !ok) {
      if (name === current) note(`could not join ${name}: ${err ? err.message : 'refused by the server'}`);
      return;
    }
    r.sub = sub;
    sub.on('said', (msg, uid) => addMessage(name, uid, msg));
    sub.on('presence', (msg) => setPresence(name, msg));
    sub.onError((e) => { if (name === current) note(`${name}: ${e.message}`); });
    sss.ask('history', { room: name }, (e, feeds) => {
      if (e) return note(`history of ${name}: ${e.message}`);
      for (const f of feeds || []) if (f.topic === 'said') addMessage(name, f.uid, f.msg);
    });
    sss.ask('presence', { room: name }, (e, p) => { if (!e) setPresence(name, p); });
  });
}

function show(name) {
  current = name;
  const r = room(name);
  r.unread = 0;
  els.title.textContent = name;
  document.title = `${name} · sss chat`;
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  renderRooms();
  renderMessages();
  renderPresence();
  join(name);
  els.text.focus();
}

// ---- wiring ----
els.name.value = localStorage.getItem('sss-chat-name') || `guest-${Math.floor(Math.random() * 9000 + 1000)}`;
els.name.addEventListener('change', () => localStorage.setItem('sss-chat-name', els.name.value.trim()));

els.join.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = `room-${els.joinName.value.trim()}`;
  if (!ROOM_RE.test(name)) return;
  els.joinName.value = '';
  show(name);
});

els.send.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = els.text.value;
  if (!text.trim() || !current) return;
  sss.tell('say', { room: current, name: myName(), text }, (err) => {
    if (err) return note(`not sent (${err.message}): try again when connected`);
    els.text.value = '';
  });
});

sss.onStatusChange((status) => {
  const text = statusText.client[status] || String(status);
  els.status.textContent = text.replace(/_/g, ' ').toLowerCase();
  els.status.dataset.status = text;
  els.send.querySelector('button').disabled = status !== 7;
});
const stats = { drops: 0, reconnects: 0 };
sss.onDrop(() => { stats.drops++; note('connection lost, reconnecting…'); });
sss.onReconnect(() => {
  stats.reconnects++;
  note('reconnected');
  join(current); // a room opened while we were away
  for (const [name, r] of rooms) { // counts may have moved while we were away
    if (r.sub) sss.ask('presence', { room: name }, (e, p) => { if (!e) setPresence(name, p); });
  }
});
sss.onTell('error', (msg) => note(`server: ${typeof msg === 'string' ? msg : JSON.stringify(msg)}`));
sss.onError((err) => console.warn('sss:', err));

for (const name of FIXED_ROOMS) room(name);
const first = ROOM_RE.test(location.hash.slice(1)) ? location.hash.slice(1) : FIXED_ROOMS[0];
show(first);
sss.connect((err) => {
  if (err) return note(`could not connect: ${err.message}`);
  join(current);
});

window.chat = { tabId, client: sss, rooms, show, stats }; // for the end-to-end tests and the console
