// state.test.mjs again, with the client on sss.v1.msgpack (see its head), then
// what only MessagePack has: the frames are the vectors of tests/vectors/msgpack
// byte for byte, the server's pick decides the encoding, text and malformed
// frames are refused, bytes and BigInts in a msg, a msg that cannot be encoded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode, decode } from '../sss-msgpack.mjs';

process.env.SSS_TEST_ENCODING = 'msgpack';
const { FakeWS, setup, connected, subscribed } = await import('./state.test.mjs');
const { statusCodes } = await import('../sss-client.mjs');
const CS = statusCodes.client;

const VECTORS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'tests', 'vectors', 'msgpack');
const vector = (name) => new Uint8Array(fs.readFileSync(path.join(VECTORS, `${name}.msgpack`)));
const hex = (b) => Buffer.from(b).toString('hex');
// a vector whose id is the one the client chose
const withId = (name, id) => encode({ ...decode(vector(name)), id });

test('msgpack: the client\'s frames are the vectors, byte for byte', async () => {
  const t = setup({ encoding: 'msgpack', session: 's-9f2c' });
  t.c.connect();
  assert.equal(t.ws().protocols, 'sss.v1.msgpack');
  t.ws().open();
  assert.equal(hex(t.ws().sent[0]), hex(vector('client/begin_session')));
  t.ws().recv({ sys: 3, prot: {} });
  await t.c.tell('likedMsg', 42);
  assert.equal(hex(t.ws().sent.at(-1)), hex(vector('client/tell')));
  await t.c.tell('say "hi"\n\t\\ café', 'x');
  assert.equal(hex(t.ws().sent.at(-1)), hex(vector('client/tell_escapes')));
  t.c.ask('serverTime', null).catch(() => {}); // closed below
  assert.equal(hex(t.ws().sent.at(-1)), hex(withId('client/ask', t.ws().last().id)));
  t.c.publish('chat', 'say', 'hi').catch(() => {});
  assert.equal(hex(t.ws().sent.at(-1)), hex(withId('client/publish', t.ws().last().id)));
  const sub = t.c.subscribe('sport', null);
  assert.equal(hex(t.ws().sent.at(-1)), hex(withId('client/subscribe', t.ws().last().id)));
  t.ws().recv({ sys: 1, id: t.ws().last().id, channel: 'sport', result: true, lastUid: '1-41' });
  (await sub).unsubscribe();
  assert.equal(hex(t.ws().sent.at(-1)), hex(vector('client/unsubscribe')));

  const u = setup({ encoding: 'msgpack' });
  u.c.connect();
  u.ws().open();
  assert.equal(hex(u.ws().sent[0]), hex(vector('client/begin')));
  t.c.close();
});

test('msgpack: the server\'s vectors reach the application', async () => {
  const t = setup({ encoding: 'msgpack' });
  const p = t.c.connect();
  t.ws().open();
  t.ws().onmessage({ data: vector('server/begin_reply').buffer.slice(0) });
  const user = await p;
  assert.equal(user.channel, '_u_alice');
  assert.equal(t.c.lastUid('_u_alice'), '1-41');
  const sport = await subscribed(t, 'sport', null, '1-41');
  const got = [];
  sport.on('article', (m, uid) => got.push([m, uid]));
  t.c.onTell('updateToken', (m) => got.push(['tell', m]));
  t.c.onBroadcast('maintenance', (m) => got.push(['broadcast', m]));
  // a Node Buffer (the ws package when binaryType is not honoured) decodes too
  t.ws().onmessage({ data: Buffer.from(vector('server/feed')) });
  t.ws().onmessage({ data: vector('server/tell') });
  t.ws().onmessage({ data: vector('server/broadcast').buffer });
  t.ws().onmessage({ data: vector('server/updatesub').buffer });
  assert.deepEqual(got, [[{ title: 'Goal!', minute: 90 }, '1-42'], ['tell', 'eyJhbGciOi'], ['broadcast', 'restart at 03:00 UTC']]);
  assert.equal(t.c.lastUid('sport'), '1-43');
  const errs = [];
  sport.onError((e) => errs.push(e.code));
  t.ws().onmessage({ data: vector('server/bootchannel').buffer });
  assert.deepEqual(errs, ['removed_from_channel']);
  const a = t.c.ask('echo', 1);
  t.ws().onmessage({ data: withId('server/response_timeout', t.ws().last().id).buffer });
  await assert.rejects(a, { name: 'Timeout', message: 'no answer within 5000 ms' });
  t.c.close();
});

test('msgpack: heartbeats stay the text frame h both ways', async () => {
  const t = await connected({ encoding: 'msgpack' }, { sys: 3, prot: { hb: true, hbInterval: 500, hbThreshold: 100 } });
  t.ws().recv('h');
  assert.equal(t.ws().sent.at(-1), 'h');
  t.c.close();
});

test('msgpack: a text frame but h, a malformed frame, a frame that is not a map: close 1002, protocol_error', async () => {
  const frames = [
    ['{"sys":3}', /a text frame other than h on sss.v1.msgpack/],
    [new Uint8Array([0x81, 0xa3, 0x73, 0x79]).buffer, /not MessagePack \(sss-msgpack: a length of 3 beyond the 2 bytes left/],
    [new Uint8Array([0xc1]).buffer, /0xc1/],
    [new Uint8Array([0xd4, 0x01, 0x00]).buffer, /ext values/],
    [new Uint8Array([0x81, 0xa3, 0x73, 0x79, 0x73, 0x03, 0xc0]).buffer, /1 bytes after/],
    [encode([1, 2]).buffer, /not a MessagePack map/],
    [encode(new Uint8Array([1])).buffer, /not a MessagePack map/],
    [encode('x').buffer, /not a MessagePack map/],
  ];
  for (const [data, re] of frames) {
    const t = await connected({ encoding: 'msgpack' });
    const errs = [];
    t.c.onError((e) => errs.push(e));
    t.ws().onmessage({ data });
    assert.equal(t.ws().closed.code, 1002, String(re));
    assert.equal(errs.length, 1);
    assert.equal(errs[0].code, 'protocol_error');
    assert.match(errs[0].message, re);
    assert.equal(t.c.getStatus(), CS.RECONNECT_FAILED, 'permanent');
  }
});

test('a JSON client refuses a binary frame (1003); a msgpack one bigger than maxMessageSize (1009)', async () => {
  const t = await connected({ encoding: 'json' });
  const errs = [];
  t.c.onError((e) => errs.push(e.code));
  t.ws().onmessage({ data: encode({ sys: 6, topic: 't', msg: 1 }).buffer });
  assert.equal(t.ws().closed.code, 1003);
  const u = await connected({ encoding: 'msgpack', maxMessageSize: 20 });
  u.c.onError((e) => errs.push(e.code));
  u.ws().recv({ sys: 6, topic: 't', msg: 'x'.repeat(10) });
  assert.equal(u.ws().closed.code, 1009);
  assert.deepEqual(errs, ['protocol_error', 'message_too_big']);
});

test('the server\'s pick decides: none is upgrade_refused for msgpack; sss.v1.json when offered is JSON', async () => {
  const t = setup({ encoding: 'msgpack' });
  const p = t.c.connect();
  t.ws().open('');
  await assert.rejects(p, (e) => e.code === 'upgrade_refused' && /picked no sub-protocol, not sss.v1.msgpack/.test(e.message));
  assert.equal(t.ws().sent.length, 0, 'nothing sent');
  assert.equal(t.ws().closed.code, 1000);
  assert.equal(t.c.getStatus(), CS.START_FAILED);
  assert.equal(FakeWS.all.length, 1, 'permanent: no retry');

  const o = setup({ encoding: 'msgpack' });
  const q = o.c.connect();
  o.ws().open('chat.v2');
  await assert.rejects(q, { code: 'upgrade_refused', message: /picked the sub-protocol "chat.v2"/ });

  const u = setup({ encoding: 'msgpack', protocols: ['sss.v1.msgpack', 'sss.v1.json'] });
  const r = u.c.connect();
  u.ws().open('sss.v1.json');
  assert.deepEqual(u.ws().sent, ['{"sys":3}']);
  u.ws().recv({ sys: 3, prot: {} });
  await r;
  // and a JSON client offered both speaks MessagePack when the server picks it
  const v = setup({ encoding: 'json', protocols: ['sss.v1.json', 'sss.v1.msgpack'] });
  v.c.connect().catch(() => {}); // closed below
  v.ws().open('sss.v1.msgpack');
  assert.equal(hex(v.ws().sent[0]), hex(vector('client/begin')));
  u.c.close();
  v.c.close();
});

test('msgpack: bytes are sent as bin, BigInts within 64 bits as integers', async () => {
  const t = await connected({ encoding: 'msgpack' });
  await t.c.tell('t', { b: new Uint8Array([1, 2, 3]), n: 2n ** 63n });
  assert.equal(hex(t.ws().sent.at(-1)), hex(encode({ sys: 6, topic: 't', msg: { b: new Uint8Array([1, 2, 3]), n: 2n ** 63n } })));
  assert.match(hex(t.ws().sent.at(-1)), /c403010203.*cf8000000000000000$/);
  t.c.close();
});

test('a msg that cannot be encoded fails its request with the encoder\'s error; nothing is sent or left pending', async () => {
  for (const encoding of ['msgpack', 'json']) {
    const t = await connected({ encoding });
    const bad = encoding === 'msgpack' ? 2n ** 64n : 1n;
    const n = t.ws().sent.length;
    await assert.rejects(t.c.ask('echo', bad), encoding === 'msgpack' ? RangeError : TypeError);
    await assert.rejects(t.c.tell('t', { bad }), encoding === 'msgpack' ? RangeError : TypeError);
    await assert.rejects(t.c.publish('news', 't', [bad]), encoding === 'msgpack' ? RangeError : TypeError);
    await assert.rejects(t.c.subscribe('news', { bad }), encoding === 'msgpack' ? RangeError : TypeError);
    const cyclic = {};
    cyclic.self = cyclic;
    const calls = [];
    t.c.ask('echo', cyclic, (err) => calls.push(err.name));
    assert.deepEqual(calls, ['TypeError']);
    assert.equal(t.ws().sent.length, n, 'nothing sent');
    t.ws().drop(1006);
    await Promise.resolve();
    assert.deepEqual(calls, ['TypeError'], 'not called again at the drop: nothing was pending');
    t.c.close();
  }
});
