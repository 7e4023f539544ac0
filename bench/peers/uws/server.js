// uWebSockets.js peer for bench/compare. The contract sss-bench speaks:
//   on "/":     "s <channel>" -> subscribe, reply "ok"
//               "p <channel> <payload>" -> app.publish(channel, payload)
//               "a <payload>" -> reply "<payload>"
//   on "/echo": every message is sent back unchanged.
// uWS pub/sub lives inside one process (no cross-process topic tree), so the
// peer is one process: one core.
// UWS_COMPRESSION=shared (uWS.SHARED_COMPRESSOR: permessage-deflate without
// context takeover, one compressor for all sockets) or dedicated
// (uWS.DEDICATED_COMPRESSOR_4KB: a compressor per socket that keeps its
// context) turns permessage-deflate on for whoever offers it (bench/enc.sh,
// sss-bench --deflate); every send and publish then asks for compression.
// Unset: compression off, as in bench/compare.
"use strict";
const path = require("path");
const pkg = path.dirname(require.resolve("@trufflesuite/uws-js-unofficial/package.json"));
const bin = path.join(pkg, "binaries",
  `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
// Load the native build directly: the package would otherwise fall back to a
// slow pure-JS imitation silently, which must never be what we measure.
const uWS = require(bin);

const port = Number(process.argv[2] || 3000);
const SP = 0x20;
const enc = new TextDecoder();
const compressions = {
  "": uWS.DISABLED,
  shared: uWS.SHARED_COMPRESSOR,
  dedicated: uWS.DEDICATED_COMPRESSOR_4KB,
};
const compressionName = process.env.UWS_COMPRESSION || "";
if (!(compressionName in compressions)) {
  console.error(`uws peer: UWS_COMPRESSION must be shared or dedicated, not "${compressionName}"`);
  process.exit(1);
}
const compress = compressionName !== "";
const base = {
  compression: compressions[compressionName],
  maxPayloadLength: 16 * 1024 * 1024,
  maxBackpressure: 16 * 1024 * 1024,
  closeOnBackpressureLimit: false,
  idleTimeout: 0,
};

// UWS_TLS_CERT and UWS_TLS_KEY (PEM files): uWS.SSLApp, wss:// (bench/enc.sh).
const tlsCert = process.env.UWS_TLS_CERT, tlsKey = process.env.UWS_TLS_KEY;
const app = tlsCert && tlsKey
  ? uWS.SSLApp({ cert_file_name: tlsCert, key_file_name: tlsKey })
  : uWS.App();
app.ws("/echo", {
  ...base,
  message: (ws, message, isBinary) => { ws.send(message, isBinary, compress); },
});
app.ws("/*", {
  ...base,
  message: (ws, message, isBinary) => {
    const b = new Uint8Array(message);
    if (b.length < 2 || b[1] !== SP) return;
    const op = b[0];
    if (op === 0x61 /* a */) {
      ws.send(b.subarray(2), isBinary, compress);
    } else if (op === 0x70 /* p */) {
      const sp = b.indexOf(SP, 2);
      if (sp < 0) return;
      app.publish(enc.decode(b.subarray(2, sp)), b.subarray(sp + 1), isBinary, compress);
    } else if (op === 0x73 /* s */) {
      ws.subscribe(enc.decode(b.subarray(2)));
      ws.send("ok", false);
    }
  },
});
app.listen("127.0.0.1", port, (token) => {
  if (!token) { console.error(`uws peer: cannot listen on ${port}`); process.exit(1); }
  console.error(`uws peer pid=${process.pid} listening on 127.0.0.1:${port}${tlsCert ? " (TLS)" : ""}` +
    (compress ? ` (permessage-deflate: ${compressionName})` : ""));
});
