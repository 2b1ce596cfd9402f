#!/usr/bin/python3
"""A local AWS endpoint for tests and `make run`: every request's SigV4 signature is
verified by botocore (tests/fakes/botocore_sigv4.py), never by signgate's own code.

Answers, once the signature checks out:
  bedrock  POST /model/{id}/converse            Converse JSON
           POST /model/{id}/converse-stream     event-stream frames, sent one by one
           POST /model/{id}/invoke              the body echoed back as an Anthropic-style answer
  sts      Action=GetCallerIdentity             XML with the caller's ARN
A bad signature gets 403 with x-amzn-ErrorType, as AWS answers.

Prints "listening on URL" once ready; stops on SIGTERM or when stdin closes (--stdin-stop).
"""
import argparse
import json
import os
import signal
import ssl
import struct
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import botocore_sigv4  # noqa: E402


def event_frame(event_type, payload):
    """One event-stream message; written here independently of signgate's encoder."""
    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"),
                        (":message-type", "event")):
        n, v = name.encode(), value.encode()
        headers += struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
    body = json.dumps(payload, separators=(",", ":")).encode()
    total = 16 + len(headers) + len(body)
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aws-fake"

    def log_message(self, fmt, *args):  # quiet unless asked
        if self.server.verbose:
            sys.stderr.write("aws-fake: " + (fmt % args) + "\n")

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, body, content_type="application/json", extra=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", "fake-%d" % (time.time_ns() % 10**9))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, error_type, message):
        self._send(status, json.dumps({"message": message}), extra=[("x-amzn-ErrorType", error_type)])

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def _handle(self):
        body = self._body()
        headers = list(self.headers.items())
        host = self.headers.get("Host", "")
        url = "%s://%s%s" % (self.server.scheme, host, self.path)
        ok, reason, details = botocore_sigv4.verify(self.command, url, headers, body, self.server.credentials,
                                                    max_skew_seconds=self.server.max_skew)
        self.server.record({"method": self.command, "path": self.path, "ok": ok, "reason": reason,
                            "headers": [[n, v] for n, v in headers if n.lower() != "authorization"]})
        if not ok:
            error_type = "SignatureDoesNotMatch" if "does not match" in reason else "InvalidSignatureException"
            return self._error(403, error_type, reason)
        service = details["service"]
        if service == "sts":
            return self._sts(body)
        if service == "bedrock":
            return self._bedrock(body)
        return self._send(200, json.dumps({"verified": True, "service": service, "region": details["region"],
                                           "signed_headers": details["signed_headers"]}))

    def _sts(self, body):
        form = parse_qs(body.decode(), keep_blank_values=True)
        if form.get("Action") != ["GetCallerIdentity"]:
            return self._send(400, "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code>"
                                   "<Message>only GetCallerIdentity is emulated</Message></Error></ErrorResponse>",
                              "text/xml")
        return self._send(200, "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                               "<GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/signgate-test</Arn>"
                               "<UserId>AIDAEXAMPLE</UserId><Account>111122223333</Account>"
                               "</GetCallerIdentityResult></GetCallerIdentityResponse>", "text/xml")

    def _bedrock(self, body):
        parts = self.path.split("?", 1)[0].split("/")
        if len(parts) != 4 or parts[1] != "model":
            return self._error(404, "UnknownOperationException", "unknown operation " + self.path)
        model, operation = unquote(parts[2]), parts[3]
        usage = {"inputTokens": 12, "outputTokens": 5, "totalTokens": 17}
        token_headers = [("X-Amzn-Bedrock-Input-Token-Count", "12"), ("X-Amzn-Bedrock-Output-Token-Count", "5")]
        if operation == "converse":
            return self._send(200, json.dumps({
                "output": {"message": {"role": "assistant", "content": [{"text": "Hello from " + model}]}},
                "stopReason": "end_turn", "usage": usage, "metrics": {"latencyMs": 1}}), extra=token_headers)
        if operation == "invoke":
            return self._send(200, json.dumps({"id": "msg_fake", "type": "message", "role": "assistant",
                                               "model": model, "content": [{"type": "text", "text": "echo"}],
                                               "stop_reason": "end_turn", "echo": body.decode(errors="replace"),
                                               "usage": {"input_tokens": 12, "output_tokens": 5}}),
                              extra=token_headers)
        if operation == "converse-stream":
            frames = [event_frame("messageStart", {"role": "assistant"})]
            for word in ("Hello", " from", " " + model):
                frames.append(event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": word}}))
            frames += [event_frame("contentBlockStop", {"contentBlockIndex": 0}),
                       event_frame("messageStop", {"stopReason": "end_turn"}),
                       event_frame("metadata", {"usage": usage, "metrics": {"latencyMs": 1}})]
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.amazon.eventstream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.server.corrupt_streams:  # flip a payload byte of the second frame
                bad = bytearray(frames[1])
                bad[-8] ^= 0x01
                frames[1] = bytes(bad)
            for frame in frames:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
                self.wfile.flush()
                time.sleep(self.server.frame_delay)
            self.wfile.write(b"0\r\n\r\n")
            return None
        return self._error(404, "UnknownOperationException", "operation %s is not emulated" % operation)


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, credentials, scheme, max_skew, frame_delay, verbose):
        super().__init__(address, Handler)
        self.credentials = credentials
        self.scheme = scheme
        self.max_skew = max_skew
        self.frame_delay = frame_delay
        self.verbose = verbose
        self.requests = []
        self.corrupt_streams = False
        self._lock = threading.Lock()

    def record(self, entry):
        with self._lock:
            self.requests.append(entry)


def parse_credentials(values):
    out = {}
    for v in values:
        parts = v.split(":", 2)
        if len(parts) < 2:
            raise SystemExit("--credentials wants AK:SK[:TOKEN]")
        out[parts[0]] = (parts[1], parts[2] if len(parts) == 3 else None)
    return out


def start(credentials, port=0, tls_cert=None, tls_key=None, max_skew=900, frame_delay=0.0, verbose=False):
    """Starts the server on a thread; returns (server, base_url)."""
    scheme = "https" if tls_cert else "http"
    server = FakeServer(("127.0.0.1", port), credentials, scheme, max_skew, frame_delay, verbose)
    if tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls_cert, tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "%s://127.0.0.1:%d" % (scheme, server.server_address[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--credentials", action="append", default=[], help="AK:SK[:TOKEN] accepted (repeatable)")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--max-skew", type=int, default=900)
    ap.add_argument("--frame-delay", type=float, default=0.05)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    server, url = start(parse_credentials(args.credentials), args.port, args.tls_cert, args.tls_key,
                        args.max_skew, args.frame_delay, args.verbose)
    print("listening on " + url, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.shutdown()


if __name__ == "__main__":
    main()
