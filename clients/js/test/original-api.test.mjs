// A script written only against the ORIGINAL super-scaled-sockets-client API
// (its README and src/client.js: callbacks, a global WebSocket, the default
// export), run against the real sss-server (SSS_SERVER) with the test module
// (SSS_TESTMOD). The only thing it does not do as a browser page would is
// get its WebSocket from the `ws` package, installed below as the global
// (the original client had no way to pass one in). It runs twice, each time
// against its own server: as the original app (JSON), then with the one pref
// `encoding: 'msgpack'` added, which is all an app changes to use MessagePack.
// Skipped when SSS_SERVER, SSS_TESTMOD or `ws` is missing.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import sssc from '../sss-client.mjs';
import { Server, WS, skip, sleep, until } from './sss-server.mjs';

// Call an original-API method with a callback; resolve to the callback's arguments.
const call = (fn) => new Promise((resolve) => fn((...args) => resolve(args)));

// The global WebSocket the original client used; every socket is remembered
// so that the test can cut one (a network drop: close code 1006).
const sockets = [];
if (WS) {
  globalThis.WebSocket = class extends WS {
    constructor(...args) {
      super(...args);
      sockets.push(this);
    }
  };
}

function run(encoding) {
  const server = new Server();
  let base = '';
  const clients = [];
  // nothing for the original app; the one pref that switches to MessagePack
  const enc = encoding === 'json' ? {} : { encoding };

  before(async () => {
    if (skip) return;
    sockets.length = 0;
    base = (await server.start()).url;
  });

  after(async () => {
    for (const c of clients) {
      try { c.close(); } catch { /* booted: the original threw here too */ }
    }
    await server.stop();
  });

  test('an app written against the original client API', { skip }, async () => {
    const CS = sssc.statusCodes.client;
    const SS = sssc.statusCodes.subscription;

    // ---- client(url, options) and connect(cb(err, userSubscription)) ----
    const app = sssc.client(`${base}?user=orig`, { retryInterval: 1000, ...enc });
    const other = sssc.client(base, { retryAttempts: 0, autoReconnect: true, ...enc });
    clients.push(app, other);
    const statuses = [];
    app.onStatusChange((status, previous) => statuses.push([sssc.statusText.client[status], sssc.statusText.client[previous]]));
    const errors = [];
    app.onError((err) => errors.push(err));
    assert.equal(app.getStatus(), CS.INIT);

    const [cerr, userSub] = await call((cb) => app.connect(cb));
    assert.equal(cerr, null);
    assert.equal(app.getStatus(), CS.READY);
    assert.deepEqual(statuses, [['STARTING', 'INIT'], ['BEGINNING', 'STARTING'], ['READY', 'BEGINNING']]);
    assert.ok(userSub, 'the session parser named a user: connect gives its subscription');
    assert.equal(userSub.getStatus(), SS.ACTIVE);
    assert.deepEqual(sockets.map((s) => s.protocol), [`sss.v1.${encoding}`], 'the server picked the encoding');
    const [oerr, noUser] = await call((cb) => other.connect(cb));
    assert.equal(oerr, null);
    assert.equal(noUser, null, 'no user: connect gives null');

    // ---- subscribe(channel, query, cb(err, result, subscription)) ----
    const [serr, ok, news] = await call((cb) => app.subscribe('news', { any: 'query' }, cb));
    assert.ok(!serr);
    assert.equal(ok, true);
    assert.equal(news.getStatus(), SS.ACTIVE);
    const [, ook, onews] = await call((cb) => other.subscribe('news', null, cb));
    assert.equal(ook, true);
    const refused = await call((cb) => app.subscribe('forbidden', null, cb));
    assert.deepEqual(refused, [undefined, false], 'refused by the server: cb(undefined, false)');
    const badName = await call((cb) => app.subscribe('_private', null, cb));
    assert.equal(badName.length, 1);
    assert.equal(badName[0].name, 'Channel name not allowed');

    // ---- FEEDs: subscription.on(topic, cb(msg, uid)) ----
    const got = [];
    news.on('pub', (msg, uid) => got.push([msg, uid]));
    const seenByOther = [];
    onews.on('pub', (msg) => seenByOther.push(msg));
    const newsStatuses = [];
    news.onStatusChange((status) => newsStatuses.push(sssc.statusText.subscription[status]));
    news.onError((err) => errors.push(err));
    for (let i = 0; i < 3; i++) assert.deepEqual(await call((cb) => other.tell('pub', i, cb)), [null]);
    await until('3 FEEDs', () => got.length === 3);
    assert.deepEqual(got.map(([m]) => m), [0, 1, 2]);
    for (const [, uid] of got) assert.match(uid, /^\d+-\d+$/);
    assert.equal(new Set(got.map(([, uid]) => uid)).size, 3, 'each FEED its own uid');

    // ---- ask(topic, msg, cb(err, response)) ----
    const [aerr, echoed] = await call((cb) => app.ask('echo', { a: [1, 'two'] }, cb));
    assert.ok(!aerr);
    assert.deepEqual(echoed, { a: [1, 'two'] });
    const [uerr] = await call((cb) => app.ask('no-such-topic', null, cb));
    assert.equal(uerr.name, 'Super Scaled Sockets Error');
    assert.equal(uerr.message, 'Unknown request topic sent from client');

    // ---- tell(topic, msg, cb(err)), onTell, onBroadcast ----
    const told = [];
    app.onTell('told', (msg) => told.push(msg));
    const broadcasts = [];
    app.onBroadcast('bcast', (msg) => broadcasts.push(['app', msg]));
    other.onBroadcast('bcast', (msg) => broadcasts.push(['other', msg]));
    assert.deepEqual(await call((cb) => app.tell('tellme', { hi: 1 }, cb)), [null]);
    await until('the tell back', () => told.length === 1);
    assert.deepEqual(told, [{ hi: 1 }]);
    app.tell('bcast', 'to all'); // no callback: fire and forget, as in the original
    await until('the broadcast on both clients', () => broadcasts.length === 2);
    assert.deepEqual(broadcasts.sort(), [['app', 'to all'], ['other', 'to all']]);

    // ---- a drop: onDrop, reconnect, SYNC fills the gap, onReconnect ----
    const events = [];
    app.onDrop(() => events.push('drop'));
    app.onReconnect(() => events.push('reconnect'));
    const mine = sockets.filter((s) => s.url.includes('user=orig'));
    assert.equal(mine.length, 1);
    statuses.length = 0;
    mine[0].terminate(); // the TCP connection goes: close 1006
    await until('onDrop', () => events.includes('drop'));
    assert.equal(app.getStatus() === CS.READY, false);
    for (let i = 3; i < 8; i++) await call((cb) => other.tell('pub', i, cb)); // published while away
    await until('onReconnect', () => events.includes('reconnect'), 20000);
    await until('the 5 messages published while away', () => got.length === 8);
    await sleep(200);
    assert.deepEqual(events, ['drop', 'reconnect']);
    assert.deepEqual(got.map(([m]) => m), [0, 1, 2, 3, 4, 5, 6, 7], 'every message once, in order');
    assert.equal(new Set(got.map(([, uid]) => uid)).size, 8);
    assert.equal(app.getStatus(), CS.READY);
    assert.deepEqual(statuses.at(-1), ['READY', 'SYNCING'], 'back to READY through SYNCING');
    assert.ok(statuses.some(([s]) => s === 'DROPPED_RETRYING'), JSON.stringify(statuses));
    assert.deepEqual(newsStatuses.slice(-3), ['DROPPED', 'SYNCING', 'ACTIVE']);
    assert.equal(userSub.getStatus(), SS.ACTIVE, 'the user channel synced too');
    assert.equal(sockets.filter((s) => s.url.includes('user=orig')).length, 2);
    assert.deepEqual(await call((cb) => app.ask('echo', 'after', cb)), [null, 'after']);
    await until('the other client saw them all', () => seenByOther.length === 8);

    // ---- subscription.unsubscribe() ----
    news.unsubscribe();
    assert.equal(news.getStatus(), SS.UNSUBSCRIBED);
    await call((cb) => other.tell('pub', 'after unsubscribe', cb));
    await until('the other client got it', () => seenByOther.length === 9);
    await sleep(200);
    assert.equal(got.length, 8, 'nothing after unsubscribe');

    // ---- boot: onBoot(reason), BOOTED, no reconnect ----
    const booted = [];
    app.onBoot((reason) => booted.push(reason));
    await call((cb) => app.tell('bootme', null, cb));
    await until('onBoot', () => booted.length === 1);
    await sleep(1500); // longer than retryInterval: a reconnect would have dialled by now
    assert.deepEqual(booted, ['bye']);
    assert.equal(app.getStatus(), CS.BOOTED);
    assert.equal(userSub.getStatus(), SS.BOOTED);
    assert.deepEqual(events, ['drop', 'reconnect'], 'no reconnect after a boot');
    assert.equal(sockets.filter((s) => s.url.includes('user=orig')).length, 2);
    const [lateErr] = await call((cb) => app.ask('echo', 1, cb));
    assert.equal(lateErr.name, 'Connection not ready');
    // The one difference from the original: a boot is a permanent failure, and
    // every permanent failure reaches onError once, with its code (clients/README.md).
    assert.deepEqual(errors.map((e) => [e.code, e.reason]), [['booted', 'bye']], 'only the boot reached onError');

    // The other client is untouched; close() ends it (CLOSED).
    assert.equal(other.getStatus(), CS.READY);
    other.close();
    assert.equal(other.getStatus(), CS.CLOSED);
  });
}

for (const encoding of ['json', 'msgpack']) describe(encoding, () => run(encoding));
