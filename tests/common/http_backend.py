"""The HTTP/1.1 backend the proxy tests share (tests/integration/test_proxy.py,
tests/unit/httpc_backend.py): Python's ThreadingHTTPServer on 127.0.0.1 with a
keep-alive handler that logs nothing and answers with a body of known length.
A test subclasses BackendHandler with its do_POST and starts it with serve()."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class BackendHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def read_body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def answer(self, status, body, ctype="application/json", close=False):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


def serve(handler):
    """Serve handler on an ephemeral loopback port in a daemon thread; returns the server
    (its port: server.server_address[1])."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd
