"""Reference WebSocket echo server (not ours): a control for tests/autobahn/run.sh.

It uses the Python `websockets` library (validated with websockets==17.4):

    python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install websockets==17.4
    /tmp/refvenv/bin/python tests/autobahn/reference_echo.py 9001 &
    tests/autobahn/run.sh VENV ws://127.0.0.1:9001/ /tmp/ab-ref

Limits are raised to what Autobahn cases 9.* send (messages up to 16 MiB, up
to 65537 fragments per message); compression is off (12.*/13.* not run).

Expected with websockets 17.4 (its own compliance notes say the same):
NON-STRICT 3.2 3.3 4.1.3 4.1.4 4.2.3 4.2.4 5.15 6.4.1-6.4.4, INFORMATIONAL
7.1.6 7.13.1 7.13.2, and FAILED 7.1.5 only (websockets answers a close that
arrives inside a fragmented message with 1002 instead of echoing 1000), so
run.sh exits 1 against it with exactly that one failure.
"""

import argparse
import asyncio
import os

# websockets >= 16 fails a message with more than 4096 fragments with 1009;
# cases 9.3.1/9.4.1 send 65537.  Must be set before websockets is imported.
os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(1 << 20))

from websockets.asyncio.server import serve  # noqa: E402
from websockets.exceptions import WebSocketException  # noqa: E402


async def echo(ws):
    try:
        async for msg in ws:
            await ws.send(msg)
    except WebSocketException:
        pass


async def main(host, port):
    async with serve(echo, host, port, max_size=2 ** 25, compression=None,
                     ping_interval=None) as server:
        print("reference echo server on ws://%s:%d/" % (host, port), flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("port", type=int)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    try:
        asyncio.run(main(args.host, args.port))
    except KeyboardInterrupt:
        pass
