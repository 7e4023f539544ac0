// Socket.IO 4 peer for bench/compare. The contract sss-bench speaks:
//   ws://HOST:PORT/socket.io/?EIO=4&transport=websocket
//   "sub" (channel, ack) -> join(channel); ack(true)
//   "pub" (channel, payload) -> io.to(channel).emit("m", payload)
//   "ask" (payload, ack) -> ack(payload)
//   "echo" (payload) -> socket.emit("echo", payload)
// PORT from argv[2]; with REDIS_URL set, the @socket.io/redis-adapter joins
// this process with the others on the same Redis (classic pub/sub); with
// REDIS_CLUSTER (host:port,host:port...) its sharded adapter does it through
// a Redis Cluster (SSUBSCRIBE/SPUBLISH, Redis 7), the client from
// redis.createCluster.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 3000);
const httpServer = http.createServer();
httpServer.maxConnections = 0; // unlimited (node default: no limit)

const io = new Server(httpServer, {
  perMessageDeflate: false,
  httpCompression: false,
  maxHttpBufferSize: 64 * 1024 * 1024,
  pingInterval: 25000,
  pingTimeout: 60000,
  connectTimeout: 60000,
  cors: { origin: "*" },
  serveClient: false,
});

io.on("connection", (socket) => {
  socket.on("sub", (channel, ack) => {
    socket.join(String(channel));
    if (typeof ack === "function") ack(true);
  });
  socket.on("pub", (channel, payload) => {
    io.to(String(channel)).emit("m", payload);
  });
  socket.on("ask", (payload, ack) => {
    if (typeof ack === "function") ack(payload);
  });
  socket.on("echo", (payload) => {
    socket.emit("echo", payload);
  });
});

async function main() {
  if (process.env.REDIS_CLUSTER) {
    const { createCluster } = require("redis");
    const { createShardedAdapter } = require("@socket.io/redis-adapter");
    const rootNodes = process.env.REDIS_CLUSTER.split(",").map((a) => ({ url: `redis://${a}` }));
    const pub = createCluster({ rootNodes });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createShardedAdapter(pub, sub));
  } else if (process.env.REDIS_URL) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: process.env.REDIS_URL });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  httpServer.listen(port, "127.0.0.1", () => {
    console.error(`socketio peer pid=${process.pid} listening on 127.0.0.1:${port}` +
      (process.env.REDIS_CLUSTER ? ` redis cluster=${process.env.REDIS_CLUSTER}` :
        process.env.REDIS_URL ? ` redis=${process.env.REDIS_URL}` : ""));
  });
}
main().catch((e) => { console.error(e); process.exit(1); });
