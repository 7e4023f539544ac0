/*
 * The two Lua scripts of the Redis engine (sss_engine_redis.c), loaded with
 * SCRIPT LOAD on every (re)connect and called with EVALSHA. Each touches only
 * the keys of one channel, which share the hash tag {chan}, so the same
 * scripts run on Redis Cluster.
 *
 * Keys of channel C:  sss:{C}:h  the stream (history; entry id = uid "E-O")
 *                     sss:{C}:e  the channel's current epoch E
 *                     sss:{C}:o  publishers' progress: origin -> the seq of the
 *                                last publish of that origin applied here
 *                     sss:{C}    the pub/sub channel the envelopes go to
 * Stream entry fields: t = topic, m = msg (JSON text), w = wall ms published,
 * q = "origin:seq", the publish's idempotency key.
 */
#ifndef SSS_REDIS_LUA_H
#define SSS_REDIS_LUA_H

/*
 * PUBLISH: KEYS = stream, epoch key, origins hash.
 * ARGV = topic, msg, history size, history ttl ms, envelope tail, origin, seq,
 * sharded ("1": SPUBLISH, for Redis Cluster; "0": PUBLISH), pub/sub channel.
 * The channel is not among KEYS: it is no key, and a key that does not exist
 * makes a cluster answer TRYAGAIN while its slot migrates; its hash tag
 * keeps it in the keys' slot, which is all SPUBLISH in a script needs.
 * origin names one engine instance (host id, pid, start time) and seq grows
 * by one per publish it sends, in the order it sends them on its one
 * connection, so Redis applies an origin's publishes of a channel in seq
 * order. A publish sent again after a lost connection (its reply never came)
 * whose seq is not above the origin's recorded one was applied already: the
 * script returns the uid it got then (found by its q field among the newest
 * entries) and publishes nothing, or the error SSSGONE when that entry has
 * left history. So a retry never publishes twice.
 * A channel whose stream does not exist starts a new epoch: Redis's clock in
 * ms, or the old epoch + 1 if that is not greater. The entry's id is E-1 for
 * the first message of an epoch and E-* (offset + 1) after it. Messages older
 * than the ttl are deleted a few at a time (up to 8 per publish, looking at
 * the oldest entry alone each time: on a busy channel the oldest is seldom
 * expired, and reading 8 whole entries to learn that cost more than the
 * XADD), and the keys expire after the ttl of silence. The envelope (MessagePack: a 9-element array whose first
 * element, the uid, only the script knows) goes to the pub/sub channel
 * (its shard channel on a cluster).
 * Returns the uid.
 */
static const char SSS_REDIS_LUA_PUBLISH[] =
    "local q = ARGV[6] .. ':' .. ARGV[7]\n"
    "local done = redis.call('HGET', KEYS[3], ARGV[6])\n"
    "if done and tonumber(done) >= tonumber(ARGV[7]) then\n"
    "  local r = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 4096)\n"
    "  for _, e in ipairs(r) do\n"
    "    if e[2][8] == q then return e[1] end\n"
    "  end\n"
    "  return redis.error_reply('SSSGONE applied before, no longer in history')\n"
    "end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local ep = redis.call('GET', KEYS[2])\n"
    "local id\n"
    "if ep and redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], ep .. '-*', 't', ARGV[1], 'm', "
    "ARGV[2], 'w', now, 'q', q)\n"
    "else\n"
    "  local e = now\n"
    "  if ep and tonumber(ep) >= e then e = tonumber(ep) + 1 end\n"
    "  ep = string.format('%d', e)\n"
    "  redis.call('SET', KEYS[2], ep)\n"
    "  id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], ep .. '-1', 't', ARGV[1], 'm', "
    "ARGV[2], 'w', now, 'q', q)\n"
    "end\n"
    "redis.call('HSET', KEYS[3], ARGV[6], ARGV[7])\n"
    "local ttl = tonumber(ARGV[4])\n"
    "if ttl > 0 then\n"
    "  redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "  redis.call('PEXPIRE', KEYS[2], ttl)\n"
    "  redis.call('PEXPIRE', KEYS[3], ttl)\n"
    "  for _ = 1, 8 do\n"
    "    local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]\n"
    "    if not old or tonumber(old[2][6]) >= now - ttl then break end\n"
    "    redis.call('XDEL', KEYS[1], old[1])\n"
    "  end\n"
    "end\n"
    "redis.call(ARGV[8] == '1' and 'SPUBLISH' or 'PUBLISH', ARGV[9],\n"
    "  string.char(0x99, 0xd9, #id) .. id .. ARGV[5])\n"
    "return id\n";

/*
 * HISTORY: KEYS = stream. ARGV = mode ("last", "all" or "after"), after
 * uid, history ttl ms. Returns {last, oldest, id, topic, msg, id, ...}:
 * last = the channel's newest uid ("" when the channel is unknown), oldest =
 * the oldest uid still in history ("" when none), then the records after
 * `after` ("after"), or all of them ("all"), or none ("last"), in uid order,
 * leaving out those older than the ttl. Only what is returned is read: the
 * oldest entry within the ttl (16 at a time past expired ones a publish has
 * not deleted yet), then the range after `after` (exclusive, Redis 6.2+),
 * so a client that missed nothing costs two short reads, not the stream.
 */
static const char SSS_REDIS_LUA_HISTORY[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {'', ''} end\n"
    "local last = ''\n"
    "local r = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)\n"
    "if r[1] then last = r[1][1] else\n"
    "  local info = redis.call('XINFO', 'STREAM', KEYS[1])\n"
    "  for i = 1, #info, 2 do\n"
    "    if info[i] == 'last-generated-id' then last = info[i + 1] end\n"
    "  end\n"
    "end\n"
    "if ARGV[1] == 'last' then return {last, ''} end\n"
    "local cutoff = -1\n"
    "local ttl = tonumber(ARGV[3])\n"
    "if ttl > 0 then\n"
    "  local t = redis.call('TIME')\n"
    "  cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - ttl\n"
    "end\n"
    "local out = {last, ''}\n"
    "local from = '-'\n"
    "repeat\n"
    "  local r = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', 16)\n"
    "  for _, e in ipairs(r) do\n"
    "    if tonumber(e[2][6]) >= cutoff then out[2] = e[1] break end\n"
    "  end\n"
    "  if out[2] ~= '' or #r < 16 then break end\n"
    "  from = '(' .. r[#r][1]\n"
    "until false\n"
    "if out[2] == '' then return out end\n"
    "from = out[2]\n"
    "if ARGV[1] == 'after' then\n"
    "  local a, b = string.match(ARGV[2], '^(%d+)-(%d+)$')\n"
    "  local x, y = string.match(out[2], '^(%d+)-(%d+)$')\n"
    "  a, b, x, y = tonumber(a), tonumber(b), tonumber(x), tonumber(y)\n"
    "  if a > x or (a == x and b >= y) then from = '(' .. ARGV[2] end\n"
    "end\n"
    "for _, e in ipairs(redis.call('XRANGE', KEYS[1], from, '+')) do\n"
    "  if tonumber(e[2][6]) >= cutoff then\n"
    "    out[#out + 1] = e[1]\n"
    "    out[#out + 1] = e[2][2]\n"
    "    out[#out + 1] = e[2][4]\n"
    "  end\n"
    "end\n"
    "return out\n";

#endif
