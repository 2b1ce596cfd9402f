#!/usr/bin/python3
"""Amazon Bedrock Mantle's OpenAI-compatible API (bedrock-mantle.{region}.api.aws/openai/v1) as
the tests need it: every request's SigV4 signature is verified by botocore
(tests/fakes/botocore_sigv4.py), never by signgate's own code, against the credentials the STS of
an aws_fake server issued (start(account=that server)), for the service name `bedrock-mantle` and
the region the emulator is started with.

Routes (POST, JSON):
  /openai/v1/chat/completions   chat.completion, or chat.completion.chunk SSE (a usage chunk with
                                empty choices when stream_options.include_usage, then [DONE])
  /openai/v1/responses          a Responses object, or its typed SSE events (response.created,
                                response.in_progress, output_item.added, content_part.added,
                                output_text.delta, output_text.done, content_part.done,
                                output_item.done, response.completed), each with a sequence_number
  GET /openai/v1/models         the known models
What Mantle checks, mirrored (an OpenAI error {"error": {message, type, code, param}}):
  - the model is known (MODELS), else 404 model_not_found;
  - GPT-5.x only through the Responses API: /chat/completions for them is 400 (Bedrock documents
    GPT-5.x on Mantle's Responses API only);
  - a body that is not a JSON object is 400;
  - Responses: no previous_response_id and no item_reference (signgate keeps the conversation and
    must send it expanded in `input`: 400, so a test fails), store must be false (400 otherwise,
    and recorded), background not asked; a reasoning item sent back must carry an
    encrypted_content this emulator issued, verbatim; a function_call_output must follow its
    function_call; a function_call this emulator made in a turn that had reasoning must come after
    that reasoning item (OpenAI's "provided without its required 'reasoning' item"); all 400.
  - chat: a tool message must answer a tool call of an earlier assistant message.
Answers are made from what was asked:
  - a turn whose input ends with a tool's output: text "The tool said: <output>";
  - function tools on offer and "signgate-tool" in the last user text: a call of Codex's
    exec_command with {"cmd": "echo signgate-tool-ok"} when it is on offer, else of the first
    function tool with {"city": "Paris"};
  - otherwise "Hello from <model>";
  - GPT-5.x on Responses: a reasoning item first (its encrypted_content only when `include` asks
    for reasoning.encrypted_content, as OpenAI does; its summary only when reasoning.summary is set).
Usage: input tokens = the input's JSON length / 4 (at least 1), output tokens 5 (plus 8 reasoning
tokens on GPT-5.x); each request's usage is recorded.

server.requests: every request that got past the signature, in order: {path, method, body (the
parsed JSON, or the raw text), model, status, access_key, session_token (sent or not), service,
region, usage, stored (the body's `store`)}. server.rejected: the refused signatures.
Control (unsigned): POST /_fake/control {"throttle_next": N} makes the next N calls 429
{"error": {"type": "rate_limit_error", ...}}; {"usage": {...}} merges these fields into every
answer's usage until set to null (e.g. {"prompt_tokens": 1200, "prompt_tokens_details":
{"cached_tokens": 1024}} for chat, {"input_tokens": ..., "input_tokens_details": {...}} for
Responses; total_tokens is recomputed), {"service_tier": "priority"} the tier answers name
(default "default"); GET /_fake/stats. aws_fake.py's control sets these for its own /openai/v1
as "openai_usage" and "openai_service_tier".

bedrock-runtime's /openai/v1 (signed for `bedrock`) answers the same way, but for the Responses
API of gpt-oss (400: not on runtime). OpenAIAPI(runtime=True) is that, for a server that verified
the signature itself (aws_fake.py) to hand the request to: api.answer(handler, path, body, entry).
"""
import base64
import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import botocore_sigv4  # noqa: E402

SERVICE = "bedrock-mantle"
MODELS = ("openai.gpt-5.5", "openai.gpt-5.4", "openai.gpt-oss-120b-1:0", "openai.gpt-oss-20b-1:0")
REASONING_KEY = b"mantle-emulator-reasoning-key"


def is_gpt5(model):
    return model.startswith("openai.gpt-5")


class Refused(Exception):
    def __init__(self, status, message, code=None, param=None, kind="invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.kind = status, message, code, param, kind

    def body(self):
        return {"error": {"message": self.message, "type": self.kind, "code": self.code, "param": self.param}}


def _hex(n=24):
    return secrets.token_hex(n // 2)


def _text_of(content):
    """The text of a message's content (a string, or parts with text)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _usage_tokens(value):
    return max(1, len(json.dumps(value, separators=(",", ":"))) // 4)


def _send(h, status, payload, content_type="application/json", extra=()):
    data = payload if isinstance(payload, bytes) else (
        payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(data)))
    h.send_header("x-amzn-RequestId", "mantle-%d" % (time.time_ns() % 10**9))
    for name, value in extra:
        h.send_header(name, value)
    h.end_headers()
    h.wfile.write(data)


class OpenAIAPI:
    """The OpenAI API's state and answers, apart from the HTTP server: Mantle's (MantleServer), or
    bedrock-runtime's /openai/v1 (runtime=True: another server, aws_fake.py, verifies the signature
    for `bedrock` and hands the request to answer())."""

    def __init__(self, runtime=False, frame_delay=0.005):
        self.runtime = runtime
        self.frame_delay = frame_delay
        self.lock = threading.Lock()
        self.requests = []
        self.rejected = []
        self.counts = {}
        self.throttle_next = 0
        self.usage = None               # fields merged into every answer's usage (None: as computed)
        self.service_tier = "default"   # the tier answers name
        self.sealed = {}                # encrypted_content -> {"id": reasoning item id, "model"}
        self.calls = {}                 # call_id -> {"id", "reasoning": its turn's reasoning id or None}

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)
            del self.requests[:-1000]

    def count(self, name):
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1

    def requests_to(self, path_end=None):
        with self.lock:
            return [r for r in self.requests if path_end is None or r["path"].endswith(path_end)]

    def answer(self, h, path, body, entry):
        """Answers a request whose signature checked out, on h (a BaseHTTPRequestHandler): `body`
        the raw bytes, `entry` what is recorded of it (path, signer, ...), completed here."""
        entry.update({"path": path, "method": h.command, "status": None, "model": None,
                      "content_type": h.headers.get("Content-Type")})
        try:
            entry["body"] = json.loads(body) if body else None
        except ValueError:
            entry["body"] = body.decode(errors="replace")
        self.record(entry)
        self.count("verified")
        try:
            self._route(h, path, entry)
        except Refused as e:
            entry["status"] = e.status
            self.count("refused")
            _send(h, e.status, e.body())

    def _route(self, h, path, entry):
        srv = self
        if h.command == "GET" and path == "/openai/v1/models":
            entry["status"] = 200
            return _send(h, 200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 1767225600, "owned_by": "openai"} for m in MODELS]})
        if path not in ("/openai/v1/chat/completions", "/openai/v1/responses"):
            raise Refused(404, "Unknown request URL: %s %s" % (h.command, path), "unknown_url")
        if h.command != "POST":
            raise Refused(405, "Method not allowed", "method_not_allowed")
        body = entry["body"]
        if not isinstance(body, dict):
            raise Refused(400, "We could not parse the JSON body of your request. (HINT: This likely means "
                               "you aren't using your HTTP library correctly.)", "invalid_json")
        model = body.get("model")
        entry["model"] = model
        with srv.lock:
            throttled = srv.throttle_next > 0
            if throttled:
                srv.throttle_next -= 1
        if throttled:
            srv.count("throttled")
            raise Refused(429, "Too many requests, please wait before trying again.", "rate_limit_exceeded",
                          kind="rate_limit_error")
        if not isinstance(model, str) or not model:
            raise Refused(400, "Missing required parameter: 'model'.", "missing_required_parameter", "model")
        if model not in MODELS:
            raise Refused(404, "The model `%s` does not exist or you do not have access to it." % model,
                          "model_not_found", "model")
        if self.runtime and path.endswith("/responses") and not is_gpt5(model):
            # "GPT OSS models support Chat Completions on bedrock-runtime, but don't support the
            # Responses API there" (Bedrock user guide, inference-responses-api.html).
            raise Refused(400, "The model %s does not support the Responses API on bedrock-runtime." % model,
                          "unsupported_api", "model")
        if path.endswith("/chat/completions"):
            if is_gpt5(model):
                raise Refused(400, "The model %s is only supported through the Responses API "
                                   "(/openai/v1/responses)." % model, "unsupported_api", "model")
            return self._chat(h, body, model, entry)
        return self._responses(h, body, model, entry)


    def _chat(self, h, body, model, entry):
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise Refused(400, "Invalid 'messages': empty array. Expected an array with minimum length 1.",
                          "empty_array", "messages")
        called = set()
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant", "tool"):
                raise Refused(400, "Invalid value for 'messages[%d].role'." % i, "invalid_value",
                              "messages[%d].role" % i)
            for call in m.get("tool_calls") or []:
                called.add(call.get("id"))
            if m["role"] == "tool" and m.get("tool_call_id") not in called:
                raise Refused(400, "Invalid parameter: messages with role 'tool' must be a response to a "
                                   "preceeding message with 'tool_calls'.", None, "messages.[%d].role" % i)
        tools = [t["function"]["name"] for t in body.get("tools") or []
                 if isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("function"), dict)]
        last = messages[-1]
        user = next((_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        call = None
        text = None
        if last["role"] == "tool":
            text = "The tool said: " + _text_of(last.get("content"))
        elif tools and "signgate-tool" in user:
            name = "exec_command" if "exec_command" in tools else tools[0]
            args = {"cmd": "echo signgate-tool-ok"} if name == "exec_command" else {"city": "Paris"}
            call = {"id": "call_" + _hex(), "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args, separators=(",", ":"))}}
        else:
            text = "Hello from " + model
        usage = {"prompt_tokens": _usage_tokens(messages), "completion_tokens": 5}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        usage["prompt_tokens_details"] = {"cached_tokens": 0}
        usage["completion_tokens_details"] = {"reasoning_tokens": 0}
        if self.usage:
            usage.update(self.usage)
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        entry["usage"] = usage
        entry["status"] = 200
        cid, created = "chatcmpl-" + _hex(), int(time.time())
        finish = "tool_calls" if call else "stop"
        if not body.get("stream"):
            message = {"role": "assistant", "content": text, "refusal": None}
            if call:
                message["tool_calls"] = [call]
            return _send(h, 200, {"id": cid, "object": "chat.completion", "created": created, "model": model,
                                    "choices": [{"index": 0, "message": message, "logprobs": None,
                                                 "finish_reason": finish}],
                                    "usage": usage, "service_tier": self.service_tier,
                                    "system_fingerprint": None})
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        entry["include_usage"] = include_usage

        def chunk(delta, finish_reason=None):
            c = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                 "service_tier": self.service_tier, "system_fingerprint": None,
                 "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
            if include_usage:
                c["usage"] = None
            return c
        chunks = [chunk({"role": "assistant", "content": "" if text is not None else None, "refusal": None})]
        if call:
            chunks.append(chunk({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                                 "function": {"name": call["function"]["name"], "arguments": ""}}]}))
            args = call["function"]["arguments"]
            for piece in (args[:len(args) // 2], args[len(args) // 2:]):
                chunks.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
        else:
            for piece in _pieces(text):
                chunks.append(chunk({"content": piece}))
        chunks.append(chunk({}, finish))
        if include_usage:
            chunks.append({"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                           "service_tier": self.service_tier, "system_fingerprint": None, "choices": [],
                           "usage": usage})
        self._sse(h, [(None, json.dumps(c)) for c in chunks] + [(None, "[DONE]")])

    # ---------------------------------------------------------------- responses

    def _responses(self, h, body, model, entry):
        srv = self
        entry["stored"] = body.get("store", "absent")
        if body.get("previous_response_id") is not None:
            raise Refused(400, "previous_response_id reached Mantle: signgate must expand the conversation "
                               "into input itself (the emulator's check).", "previous_response_id_sent",
                          "previous_response_id")
        if body.get("store") is not False:
            raise Refused(400, "store must be false: signgate keeps responses itself (the emulator's check; "
                               "got %r)." % body.get("store", "absent"), "store_not_false", "store")
        if body.get("background"):
            raise Refused(400, "background reached Mantle (the emulator's check).", "background_sent", "background")
        if body.get("conversation") is not None:
            raise Refused(400, "conversation reached Mantle (the emulator's check).", "conversation_sent",
                          "conversation")
        raw = body.get("input")
        if isinstance(raw, str):
            items = [{"type": "message", "role": "user", "content": raw}]
        elif isinstance(raw, list):
            items = raw
        else:
            raise Refused(400, "Invalid type for 'input': expected a string or an array.", "invalid_type", "input")
        self._check_items(items)
        include = body.get("include") or []
        tools = body.get("tools") or []
        functions = [t.get("name") for t in tools if isinstance(t, dict) and t.get("type") == "function"]
        last = items[-1] if items else {}
        user = ""
        for item in reversed(items):
            if isinstance(item, dict) and item.get("role") == "user" and item.get("type", "message") == "message":
                user = _text_of(item.get("content"))
                break
        rid = "resp_" + _hex(48)
        output = []
        reasoning = None
        if is_gpt5(model):
            reasoning = {"id": "rs_" + _hex(48), "type": "reasoning", "summary": []}
            summary = (body.get("reasoning") or {}).get("summary")
            if summary:
                reasoning["summary"] = [{"type": "summary_text", "text": "Thinking about the question."}]
            encrypted = _seal(reasoning["id"], model)
            if "reasoning.encrypted_content" in include:
                reasoning["encrypted_content"] = encrypted
            with srv.lock:
                srv.sealed[encrypted] = {"id": reasoning["id"], "model": model}
            output.append(reasoning)
        if isinstance(last, dict) and last.get("type") in ("function_call_output", "custom_tool_call_output"):
            text = "The tool said: " + _output_text(last.get("output"))
            output.append(_message(text))
        elif functions and "signgate-tool" in user:
            name = "exec_command" if "exec_command" in functions else functions[0]
            args = {"cmd": "echo signgate-tool-ok"} if name == "exec_command" else {"city": "Paris"}
            call = {"id": "fc_" + _hex(48), "type": "function_call", "status": "completed",
                    "arguments": json.dumps(args, separators=(",", ":")), "call_id": "call_" + _hex(24),
                    "name": name}
            with srv.lock:
                srv.calls[call["call_id"]] = {"id": call["id"], "reasoning": reasoning and reasoning["id"],
                                              "encrypted": reasoning and encrypted}
            output.append(call)
        else:
            output.append(_message("Hello from " + model))
        usage = {"input_tokens": _usage_tokens(items), "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": 5 + (8 if reasoning else 0),
                 "output_tokens_details": {"reasoning_tokens": 8 if reasoning else 0}}
        if self.usage:
            usage.update(self.usage)
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        entry["usage"] = usage
        entry["status"] = 200
        response = {
            "id": rid, "object": "response", "created_at": int(time.time()), "status": "completed",
            "background": False, "error": None, "incomplete_details": None,
            "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": None, "model": model, "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True), "previous_response_id": None,
            "prompt_cache_key": body.get("prompt_cache_key"),
            "reasoning": {"effort": (body.get("reasoning") or {}).get("effort", "medium" if reasoning else None),
                          "summary": (body.get("reasoning") or {}).get("summary")},
            "safety_identifier": body.get("safety_identifier"), "service_tier": self.service_tier, "store": False,
            "temperature": body.get("temperature", 1.0), "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"), "tools": tools, "top_logprobs": 0,
            "top_p": body.get("top_p", 1.0), "truncation": "disabled", "usage": usage, "user": None,
            "metadata": body.get("metadata") or {}}
        if not body.get("stream"):
            return _send(h, 200, response)
        self._sse(h, [(e["type"], json.dumps(e)) for e in _response_events(response)])

    def _check_items(self, items):
        """OpenAI's checks of a stateless (store: false) input."""
        srv = self
        seen_reasoning = set()  # reasoning item ids sent, each with a verified encrypted_content
        seen_calls = set()
        for i, item in enumerate(items):
            where = "input[%d]" % i
            if not isinstance(item, dict):
                raise Refused(400, "Invalid type for '%s': expected an object." % where, "invalid_type", where)
            kind = item.get("type", "message")
            if kind == "item_reference":
                raise Refused(400, "item_reference reached Mantle: signgate must expand it (the emulator's "
                                   "check).", "item_reference_sent", where)
            if kind == "reasoning":
                enc = item.get("encrypted_content")
                if not enc:
                    raise Refused(404, "Item with id '%s' not found. Items are not persisted when `store` is set "
                                       "to false. Try again with `store` set to true, or remove this item from "
                                       "your input." % item.get("id"), None, where)
                with srv.lock:
                    known = srv.sealed.get(enc)
                if known is None:
                    raise Refused(400, "The encrypted content for item %s could not be verified." % item.get("id"),
                                  "invalid_encrypted_content", where + ".encrypted_content")
                seen_reasoning.add(known["id"])
            elif kind == "function_call":
                with srv.lock:
                    made = srv.calls.get(item.get("call_id"))
                if made and made["reasoning"] and made["reasoning"] not in seen_reasoning:
                    raise Refused(400, "Item '%s' of type 'function_call' was provided without its required "
                                       "'reasoning' item: '%s'." % (item.get("id") or made["id"], made["reasoning"]),
                                  None, where)
                seen_calls.add(item.get("call_id"))
            elif kind in ("function_call_output", "custom_tool_call_output"):
                if item.get("call_id") not in seen_calls:
                    raise Refused(400, "No tool call found for function call output with call_id %s."
                                  % item.get("call_id"), None, where)
            elif kind == "custom_tool_call":
                seen_calls.add(item.get("call_id"))

    def _sse(self, h, events):
        """200, then each (event name or None, data) as one chunk of a chunked body."""
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream; charset=utf-8")
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("x-amzn-RequestId", "mantle-stream-%d" % (time.time_ns() % 10**9))
        h.end_headers()
        try:
            for name, data in events:
                text = ("event: %s\n" % name if name else "") + "data: %s\n\n" % data
                raw = text.encode()
                h.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
                h.wfile.flush()
                if self.frame_delay:
                    time.sleep(self.frame_delay)
            h.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True




class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mantle-fake"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("mantle-fake: " + (fmt % args) + "\n")

    def _body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, payload, content_type="application/json", extra=()):
        _send(self, status, payload, content_type, extra)

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def do_DELETE(self):
        self._handle()

    def _handle(self):
        body = self._body()
        srv = self.server
        path = urlsplit(self.path).path
        if path.startswith("/_fake/"):
            return self._control(path, body)
        headers = list(self.headers.items())
        url = "%s://%s%s" % (srv.scheme, self.headers.get("Host", ""), self.path)
        access_key = _access_key_of(headers)
        if access_key in srv.account.expired_keys():
            srv.count("expired")
            return self._send(403, {"message": "The security token included in the request is expired"},
                              extra=[("x-amzn-ErrorType", "ExpiredTokenException")])
        ok, reason, details = botocore_sigv4.verify(self.command, url, headers, body, srv.account.accepted(),
                                                    max_skew_seconds=srv.max_skew)
        if ok and details["service"] != SERVICE:
            ok, reason = False, "Credential should be scoped to correct service: '%s'." % SERVICE
        if ok and details["region"] != srv.region:
            ok, reason = False, "Credential should be scoped to a valid region."
        if not ok:
            srv.count("rejected")
            with srv.lock:
                srv.rejected.append({"path": self.path, "reason": reason, "service": details.get("service"),
                                     "region": details.get("region")})
            return self._send(403, {"message": reason.split("\n")[0]},
                              extra=[("x-amzn-ErrorType", "InvalidSignatureException")])
        token = [v for n, v in headers if n.lower() == "x-amz-security-token"]
        srv.answer(self, path, body, {"access_key": access_key, "session_token": bool(token),
                                      "service": details["service"], "region": details["region"]})


    def _control(self, path, body):
        srv = self.server
        if path == "/_fake/control":
            for key, value in json.loads(body or b"{}").items():
                if key not in ("throttle_next", "frame_delay", "usage", "service_tier"):
                    return self._send(400, {"message": "unknown control " + key})
                with srv.lock:
                    setattr(srv, key, value)
            return self._send(200, {"ok": True})
        if path == "/_fake/stats":
            with srv.lock:
                return self._send(200, {"counts": srv.counts, "requests": srv.requests, "rejected": srv.rejected})
        return self._send(404, {"message": "no such control"})

    # ---------------------------------------------------------------- chat completions



def _pieces(text):
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _output_text(output):
    if isinstance(output, str):
        return output
    return _text_of(output)


def _message(text):
    return {"id": "msg_" + _hex(48), "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}]}


def _seal(item_id, model):
    mac = hmac.new(REASONING_KEY, ("%s|%s|%s" % (item_id, model, secrets.token_hex(4))).encode(), hashlib.sha256)
    return "gAAAAAB" + base64.urlsafe_b64encode(mac.digest() * 3).decode()


def _response_events(response):
    """A completed response as OpenAI streams it."""
    seq = [0]
    events = []

    def emit(kind, **fields):
        event = {"type": kind, "sequence_number": seq[0]}
        event.update(fields)
        seq[0] += 1
        events.append(event)

    def snapshot(status, output, usage=None):
        r = dict(response, status=status, output=output, usage=usage)
        return r

    emit("response.created", response=snapshot("in_progress", []))
    emit("response.in_progress", response=snapshot("in_progress", []))
    for index, item in enumerate(response["output"]):
        if item["type"] == "reasoning":
            emit("response.output_item.added", output_index=index,
                 item={"id": item["id"], "type": "reasoning", "summary": []})
            for si, part in enumerate(item["summary"]):
                emit("response.reasoning_summary_part.added", item_id=item["id"], output_index=index,
                     summary_index=si, part={"type": "summary_text", "text": ""})
                emit("response.reasoning_summary_text.delta", item_id=item["id"], output_index=index,
                     summary_index=si, delta=part["text"], obfuscation="x")
                emit("response.reasoning_summary_text.done", item_id=item["id"], output_index=index,
                     summary_index=si, text=part["text"])
                emit("response.reasoning_summary_part.done", item_id=item["id"], output_index=index,
                     summary_index=si, part=part)
            emit("response.output_item.done", output_index=index, item=item)
        elif item["type"] == "message":
            text = item["content"][0]["text"]
            emit("response.output_item.added", output_index=index,
                 item=dict(item, status="in_progress", content=[]))
            emit("response.content_part.added", item_id=item["id"], output_index=index, content_index=0,
                 part={"type": "output_text", "annotations": [], "logprobs": [], "text": ""})
            for piece in _pieces(text):
                emit("response.output_text.delta", item_id=item["id"], output_index=index, content_index=0,
                     delta=piece, logprobs=[], obfuscation="x")
            emit("response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                 text=text, logprobs=[])
            emit("response.content_part.done", item_id=item["id"], output_index=index, content_index=0,
                 part=item["content"][0])
            emit("response.output_item.done", output_index=index, item=item)
        elif item["type"] == "function_call":
            emit("response.output_item.added", output_index=index,
                 item=dict(item, status="in_progress", arguments=""))
            args = item["arguments"]
            for piece in (args[:len(args) // 2], args[len(args) // 2:]):
                emit("response.function_call_arguments.delta", item_id=item["id"], output_index=index,
                     delta=piece, obfuscation="x")
            emit("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                 arguments=args)
            emit("response.output_item.done", output_index=index, item=item)
    emit("response.completed", response=response)
    return events


def _access_key_of(headers):
    for name, value in headers:
        if name.lower() == "authorization" and "Credential=" in value:
            return value.split("Credential=", 1)[1].split("/", 1)[0]
    return None


class MantleServer(ThreadingHTTPServer, OpenAIAPI):
    daemon_threads = True

    def __init__(self, address, account, region, max_skew, frame_delay, verbose):
        ThreadingHTTPServer.__init__(self, address, Handler)
        OpenAIAPI.__init__(self, runtime=False, frame_delay=frame_delay)
        self.account = account          # the aws_fake server whose STS issues the credentials
        self.region = region
        self.scheme = "http"
        self.max_skew = max_skew
        self.verbose = verbose


def start(account, region="us-east-1", port=0, max_skew=900, frame_delay=0.005, verbose=False, host="127.0.0.1"):
    """Starts the emulator on a thread, accepting what `account` (an aws_fake server) accepts,
    signed for bedrock-mantle in `region`; returns (server, base_url)."""
    server = MantleServer((host, port), account, region, max_skew, frame_delay, verbose)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "http://%s:%d" % (host, server.server_address[1])


def main():
    """Standalone: an aws_fake (STS and Bedrock) and Mantle beside it, for trying by hand."""
    import argparse
    import aws_fake
    import lifecycle
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--credentials", action="append", default=[], help="AK:SK[:TOKEN] accepted (repeatable)")
    ap.add_argument("--role", action="append", default=[], help="ROLE_ARN[=EXTERNAL_ID] (repeatable)")
    args = ap.parse_args()
    roles = {}
    for r in args.role:
        arn, _, external = r.partition("=")
        roles[arn] = external or None
    account, aws_url = aws_fake.start(aws_fake.parse_credentials(args.credentials), roles=roles)
    server, url = start(account, args.region, args.port)
    print("aws (sts, bedrock) on " + aws_url, flush=True)
    lifecycle.serve_until_stopped(server, url)


if __name__ == "__main__":
    main()
