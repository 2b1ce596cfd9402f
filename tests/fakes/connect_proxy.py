#!/usr/bin/python3
"""A corporate-egress stand-in: an HTTP proxy that only tunnels (CONNECT), optionally
demanding Proxy-Authorization, and remembers which targets it tunnelled to.

Prints "listening on URL" once ready; GET /_proxy/targets (sent to the proxy itself)
returns the CONNECT targets seen, as JSON. Stops on SIGTERM.
"""
import argparse
import base64
import json
import select
import socket
import socketserver
import threading

import lifecycle


class Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, credentials):
        super().__init__(address, Handler)
        self.credentials = credentials
        self.targets = []
        self.lock = threading.Lock()


class Handler(socketserver.StreamRequestHandler):
    def _reply(self, status, reason, body=b"", extra=""):
        self.wfile.write(("HTTP/1.1 %d %s\r\nContent-Length: %d\r\n%s\r\n" % (status, reason, len(body), extra)).encode()
                         + body)

    def handle(self):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.connection.recv(4096)
            if not chunk:
                return
            head += chunk
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
        if method == "GET" and target == "/_proxy/targets":
            with self.server.lock:
                return self._reply(200, "OK", json.dumps(self.server.targets).encode())
        if method != "CONNECT":
            return self._reply(405, "Method Not Allowed")
        if self.server.credentials:
            expected = "Basic " + base64.b64encode(self.server.credentials.encode()).decode()
            if headers.get("proxy-authorization") != expected:
                return self._reply(407, "Proxy Authentication Required", extra="Proxy-Authenticate: Basic\r\n")
        host, _, port = target.rpartition(":")
        with self.server.lock:
            self.server.targets.append(target)
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
        except OSError:
            return self._reply(502, "Bad Gateway")
        self.connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        pair = [self.connection, upstream]
        try:
            while True:
                readable, _, _ = select.select(pair, [], [], 30)
                if not readable:
                    break
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    (upstream if s is self.connection else self.connection).sendall(data)
        except OSError:
            pass
        finally:
            upstream.close()


def start(port=0, credentials=None):
    server = Proxy(("127.0.0.1", port), credentials)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "http://127.0.0.1:%d" % server.server_address[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--credentials", help="user:password the proxy demands")
    args = ap.parse_args()
    server, url = start(args.port, args.credentials)
    lifecycle.serve_until_stopped(server, url)


if __name__ == "__main__":
    main()
