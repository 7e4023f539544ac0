"""A backend for tests/unit/test_httpc.c: Python's ThreadingHTTPServer with an
HTTP/1.1 handler on 127.0.0.1, an ephemeral port printed on the first line of
stdout. It serves until stdin closes (the test ends or dies). Each POST path
(after an optional /hooks prefix) is one behaviour the client must cope with.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from http_backend import BackendHandler, serve  # noqa: E402

HUGE = 2 * 1024 * 1024


class Handler(BackendHandler):
    def do_POST(self):
        body = self.read_body()
        route = self.path[len("/hooks"):] if self.path.startswith("/hooks/") else self.path
        handler = getattr(self, "r_" + route.strip("/").replace("-", "_"), None)
        try:
            if handler is None:
                self.answer(404, b'{"error":"no route"}')
            else:
                handler(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def chunked(self, pieces):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for p in pieces:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(p), p))
        self.wfile.write(b"0\r\n\r\n")

    # What was asked, and from which client port (the same port = the same connection).
    def r_echo(self, body):
        out = {"got": json.loads(body), "host": self.headers.get("X-SSS-Host"),
               "ctype": self.headers.get("Content-Type"), "port": self.client_address[1]}
        self.answer(200, json.dumps(out, separators=(",", ":")).encode())

    def r_error(self, body):
        self.answer(500, b'{"error":"boom"}')

    def r_text(self, body):
        self.answer(200, b"hello, not json", ctype="text/plain")

    def r_chunked(self, body):
        self.chunked([b'{"chunks":', b"[1,", b"2,3", b"]}"])

    def r_huge(self, body):
        self.answer(200, b"x" * HUGE)

    def r_huge_chunked(self, body):
        self.chunked([b"y" * 65536] * (HUGE // 65536))

    # Answers as if keeping the connection, then closes it (a backend's idle timeout).
    def r_bye(self, body):
        self.answer(200, b'{"bye":true}')
        self.close_connection = True

    def r_close(self, body):
        self.answer(200, b'{"closed":true}', close=True)

    # No length: the body ends where the connection does.
    def r_eof(self, body):
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
                         b'{"to":"eof"}')
        self.close_connection = True

    def r_continue(self, body):
        self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.answer(200, b'{"after":"continue"}')

    # Never answers: waits until the client goes away.
    def r_never(self, body):
        self.rfile.read(1)
        self.close_connection = True


def main():
    server = serve(Handler)
    print(server.server_address[1], flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
