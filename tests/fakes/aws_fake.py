#!/usr/bin/python3
"""A local AWS endpoint for tests and `make run`: every request's SigV4 signature is
verified by botocore (tests/fakes/botocore_sigv4.py), never by signgate's own code.

Answers, once the signature checks out:
  bedrock  POST /model/{id}/converse            Converse JSON
           POST /model/{id}/converse-stream     event-stream frames, sent one by one
           POST /model/{id}/invoke              the body echoed back as an Anthropic-style answer
           POST /model/{id}/invoke-with-response-stream   Anthropic events in chunk frames
           POST /model/{id}/count-tokens        a count from the messages' JSON length
Bedrock's refusals that a client of it must handle are mirrored:
  - an Anthropic body with a key Bedrock refuses (model, stream, service_tier) or an anthropic_beta
    the model does not take (betas_for: per Claude family as Bedrock documents them, none for
    Claude 4.7 and later) is a 400 ("invalid beta flag"), counted as "invalid_beta";
  - CountTokens answers only for foundation model IDs of Claude 3 to 4.6 (counts_tokens): a
    cross-Region or global profile, an ARN, another provider's model or Claude 4.7 and later get
    400 ValidationException "The provided model doesn't support counting tokens." (counted as
    "count_tokens_refused");
  - X-Amzn-Bedrock-Service-Tier on InvokeModel(WithResponseStream): priority and flex only for the
    models AWS lists (Nova Pro/Premier/2 Lite, gpt-oss, Qwen, ...; Claude takes only default), else
    400 "The provided service tier is not supported for this model."; reserved is "Reservation not
    found."; the tier is echoed in the answer's header and recorded as the request's "service_tier".
  sts      Action=GetCallerIdentity             XML with the caller's ARN
           Action=AssumeRole                    checks RoleArn and ExternalId (--role), issues
                                                credentials that expire after --sts-lifetime s
           Action=AssumeRoleWithWebIdentity     unsigned; checks the token (--web-identity-token)
A bad signature gets 403 with x-amzn-ErrorType, as AWS answers; issued credentials past
their Expiration get ExpiredToken. Unsigned, for the credential providers' tests:
  IMDSv2   PUT /latest/api/token, GET /latest/meta-data/iam/security-credentials/[ROLE]  (--imds)
  ECS      GET /ecs/credentials (ECS) or /v1/credentials (EKS Pod Identity), Authorization
           checked against --ecs-token
  control  GET /_fake/stats (call counts), POST /_fake/control {"sts_down": true, "throttle_next": 2, ...},
           GET /_fake/slow?ms=N (answers late), GET /_fake/drop (keep-alive answer, then closes),
           GET /_fake/metadata (the request metadata of each runtime call, request_metadata_fake.py)
Models named *.slow-* answer after 2 s, *.hang-* after 30 s and *.stall-* streams stop for 30 s
after two frames; the last two give up as soon as their caller closes the connection. Models
named denied.* get Bedrock's AccessDeniedException (naming the account, role and session), and
*.streamfault-* streams end after two frames with an exception frame quoting ARNs.

Regions and accounts, for routes across them: `server.region` set, a Bedrock call signed for
another region is refused (403 InvalidSignatureException, as AWS does); `server.requests`
entries carry the signing "region" and "access_key" (and, for runtime calls, "model",
"operation" and "outcome"). Each emulator is an account of its own (credentials its STS
issued work only there) unless started with same_account_as=another (another region of it).
`server.fail` fails Bedrock runtime calls (/model/{id}/...) until switched off:
  {"type": "ThrottlingException"}             the error Bedrock sends (status from FAILURES, or "status"),
                                              optional "message", "retry_after" (a Retry-After header)
  {"mode": "hang"}                            no answer for 30 s unless the caller leaves first
  {"mode": "stream_throttle_first"}           streams: 200, then throttlingException before any content
  {"mode": "stream_throttle_after"}           streams: 200, messageStart, one content delta, then throttlingException
with "count": N to fail N calls only (None: every call); the stream modes leave other operations
alone. Counts: "failed" (and "failed_" + the type or mode) for each injected failure, "served"
for each runtime call answered 2xx, "wrong_region" for each refused scope.

Usage shapes a test chooses (POST /_fake/control; each holds until set to null):
  {"invoke_answer": {"body": {...}, "headers": {"X-Amzn-Bedrock-Input-Token-Count": "7", ...}}}
      every InvokeModel answer (embedding models included) is this JSON body with these headers
      instead of the default token-count headers (leave "headers" out: none);
  {"invoke_stream_answer": {"chunks": [{...}, ...]}}
      every InvokeModelWithResponseStream answer is these events, each base64 in a chunk frame
      (put "amazon-bedrock-invocationMetrics" in the last one, as Bedrock does);
  {"converse_usage": {"usage": {...}, "serviceTier": "priority"}}
      Converse and ConverseStream answers take these usage fields (cacheReadInputTokens,
      cacheDetails, ...) over converse_fake's, and this serviceTier;
  {"openai_usage": {...}, "openai_service_tier": "flex"}
      bedrock-runtime's /openai/v1 (mantle_fake.OpenAIAPI's "usage" and "service_tier").

Prints "listening on URL" once ready; stops on SIGTERM or when stdin closes (--stdin-stop).
"""
import argparse
import base64
import datetime
import json
import os
import secrets
import select
import socket
import ssl
import struct
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import botocore_sigv4  # noqa: E402
import converse_fake  # noqa: E402
import embeddings_fake  # noqa: E402
import lifecycle  # noqa: E402
import request_metadata_fake  # noqa: E402
import mantle_fake  # noqa: E402


def event_frame(event_type, payload, message_type="event", type_header=":event-type"):
    """One event-stream message; written here independently of signgate's encoder."""
    headers = b""
    for name, value in ((type_header, event_type), (":content-type", "application/json"),
                        (":message-type", message_type)):
        n, v = name.encode(), value.encode()
        headers += struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
    body = json.dumps(payload, separators=(",", ":")).encode()
    total = 16 + len(headers) + len(body)
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


def exception_frame(exception_type, message):
    """What Bedrock sends when a stream fails after it began: an exception message."""
    return event_frame(exception_type, {"message": message}, "exception", ":exception-type")


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
        if getattr(self, "_tier", None) and 200 <= status < 300:
            self.send_header("X-Amzn-Bedrock-Service-Tier", self._tier)
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        if getattr(self, "_runtime", False) and 200 <= status < 300:
            self._served()

    def _served(self):
        self.server.count("served")
        self._entry["outcome"] = "served"

    def _error(self, status, error_type, message):
        self._send(status, json.dumps({"message": message}), extra=[("x-amzn-ErrorType", error_type)])

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def do_PUT(self):
        self._handle()

    def _xml_error(self, status, code, message):
        self._send(status, "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
                           "<Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>"
                           "<RequestId>fake</RequestId></ErrorResponse>" % (code, message), "text/xml")

    def _unsigned(self, body):
        """IMDS, ECS, web identity and the control routes; True when one of them answered."""
        path = urlsplit(self.path).path
        srv = self.server
        if path.startswith("/_fake/"):
            return self._control(path, body)
        if path.startswith("/latest/"):
            if not srv.imds:
                self._send(404, "not found", "text/plain")
                return True
            srv.count("imds")
            if path == "/latest/api/token" and self.command == "PUT":
                if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    self._send(400, "missing ttl", "text/plain")
                else:
                    self._send(200, srv.imds_token, "text/plain")
                return True
            if self.headers.get("X-aws-ec2-metadata-token") != srv.imds_token:
                self._send(401, "", "text/plain")
                return True
            if path == "/latest/meta-data/iam/security-credentials/":
                self._send(200, "fake-instance-role", "text/plain")
            elif path == "/latest/meta-data/iam/security-credentials/fake-instance-role":
                self._send(200, json.dumps(dict(srv.issue("imds"), Code="Success", Type="AWS-HMAC")))
            else:
                self._send(404, "not found", "text/plain")
            return True
        if path in ("/ecs/credentials", "/v1/credentials"):  # ECS, and EKS Pod Identity's agent
            srv.count("ecs")
            if srv.ecs_token is not None and self.headers.get("Authorization") != srv.ecs_token:
                self._send(401, json.dumps({"message": "bad token"}))
            else:
                self._send(200, json.dumps(srv.issue("ecs")))
            return True
        if b"Action=AssumeRoleWithWebIdentity" in body and not self.headers.get("Authorization"):
            self._web_identity(parse_qs(body.decode(), keep_blank_values=True))
            return True
        return False

    def _control(self, path, body):
        srv = self.server
        if path == "/_fake/stats":
            with srv._lock:
                self._send(200, json.dumps({"counts": srv.counts, "last_assume_role": srv.last_assume_role,
                                            "last_invoke_body": srv.last_invoke_body,
                                            "last_converse_body": srv.last_converse_body,
                                            "last_count_tokens": srv.last_count_tokens,
                                            "last_control_query": srv.last_control_query,
                                            "last_guardrail": srv.last_guardrail,
                                            "fail": srv.fail, "region": srv.region}))
        elif path == "/_fake/metadata":  # request_metadata_fake.py: what each runtime call carried
            self._send(200, json.dumps(request_metadata_fake.seen(srv)))
        elif path == "/_fake/control":
            for key, value in json.loads(body or b"{}").items():
                if key in ("openai_usage", "openai_service_tier"):  # bedrock-runtime's /openai/v1
                    setattr(srv.openai, key[len("openai_"):], value if key == "openai_usage" else value or "default")
                    continue
                setattr(srv, key, value)
            self._send(200, "{}")
        elif path == "/_fake/slow":
            time.sleep(int(parse_qs(urlsplit(self.path).query).get("ms", ["1000"])[0]) / 1000)
            self._send(200, "late")
        elif path == "/_fake/drop":
            srv.count("drop")
            self._send(200, "dropped after this")  # keep-alive promised, then the socket closes
            self.close_connection = True
        else:
            self._send(404, "no such control route", "text/plain")
        return True

    def _handle(self):
        self._runtime = False  # a kept-alive connection's handler serves several requests
        body = self._body()
        if self._unsigned(body):
            return None
        headers = list(self.headers.items())
        host = self.headers.get("Host", "")
        url = "%s://%s%s" % (self.server.scheme, host, self.path)
        access_key = self.server.access_key_of(headers)
        if access_key in self.server.expired_keys():
            self.server.count("expired")
            if b"Action=" in body:
                return self._xml_error(403, "ExpiredToken", "The security token included in the request is expired")
            return self._error(403, "ExpiredTokenException", "The security token included in the request is expired")
        ok, reason, details = botocore_sigv4.verify(self.command, url, headers, body, self.server.accepted(),
                                                    max_skew_seconds=self.server.max_skew)
        entry = {"method": self.command, "path": self.path, "ok": ok, "reason": reason,
                 "headers": [[n, v] for n, v in headers if n.lower() != "authorization"],
                 "region": details.get("region") or scope_region(headers), "access_key": access_key}
        self.server.record(entry)
        self._entry = entry
        self._runtime = False
        self._tier = None  # the service tier a runtime answer echoes (a keep-alive handler serves many)
        if not ok:
            self.server.count("rejected")
            error_type = "SignatureDoesNotMatch" if "does not match" in reason else "InvalidSignatureException"
            if b"Action=" in body:
                return self._xml_error(403, error_type, reason.split("\n")[0])
            return self._error(403, error_type, reason)
        service = details["service"]
        if service == "sts":
            return self._sts(body, access_key)
        if service == "bedrock" and self.server.region and details["region"] != self.server.region:
            # What Bedrock's endpoint in one region says to a signature scoped to another.
            self.server.count("wrong_region")
            return self._error(403, "InvalidSignatureException", "Credential should be scoped to a valid region.")
        if service == "bedrock" and urlsplit(self.path).path.startswith("/openai/"):
            # bedrock-runtime's OpenAI-compatible API, answered as mantle_fake answers Mantle's.
            self.server.count("bedrock_openai")
            token = [v for n, v in headers if n.lower() == "x-amz-security-token"]
            return self.server.openai.answer(self, urlsplit(self.path).path, body, {
                "access_key": access_key, "session_token": bool(token), "service": service,
                "region": details["region"]})
        if service == "bedrock":
            self.server.count("bedrock")
            return self._bedrock(body)
        return self._send(200, json.dumps({"verified": True, "service": service, "region": details["region"],
                                           "signed_headers": details["signed_headers"]}))

    def _sts(self, body, access_key):
        form = parse_qs(body.decode(), keep_blank_values=True)
        if form.get("Action") == ["AssumeRole"]:
            return self._assume_role(form, access_key)
        if form.get("Action") != ["GetCallerIdentity"]:
            return self._xml_error(400, "InvalidAction", "only GetCallerIdentity and AssumeRole are emulated")
        return self._send(200, "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                               "<GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/signgate-test</Arn>"
                               "<UserId>AIDAEXAMPLE</UserId><Account>111122223333</Account>"
                               "</GetCallerIdentityResult></GetCallerIdentityResponse>", "text/xml")

    def _issue_role_credentials(self, action, role_arn, session):
        srv = self.server
        if srv.sts_down:
            return self._xml_error(503, "ServiceUnavailable", "STS is down (fake)")
        if srv.sts_bad_xml:
            return self._send(200, "<AssumeRoleResponse><AssumeRoleResult><Credentials>", "text/xml")
        creds = srv.issue(action, role_arn)
        account = role_arn.split(":")[4]
        arn = "arn:aws:sts::%s:assumed-role/%s/%s" % (account, role_arn.split("/")[-1], session)
        self._send(200, "<{0}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><{0}Result>"
                        "<Credentials><AccessKeyId>{1}</AccessKeyId><SecretAccessKey>{2}</SecretAccessKey>"
                        "<SessionToken>{3}</SessionToken><Expiration>{4}</Expiration></Credentials>"
                        "<AssumedRoleUser><AssumedRoleId>AROAFAKE:{6}</AssumedRoleId><Arn>{5}</Arn></AssumedRoleUser>"
                        "</{0}Result><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata>"
                        "</{0}Response>".format(action, creds["AccessKeyId"], creds["SecretAccessKey"],
                                                creds["Token"], creds["Expiration"], arn, session), "text/xml")

    def _assume_role(self, form, access_key):
        srv = self.server
        srv.count("assume_role")
        one = lambda k: (form.get(k) or [""])[0]  # noqa: E731
        role_arn, external_id, session = one("RoleArn"), one("ExternalId"), one("RoleSessionName")
        with srv._lock:
            srv.last_assume_role = {k: v[0] for k, v in form.items()}
            srv.last_assume_role["_signed_by"] = access_key
        denied = ("User: arn:aws:iam::111122223333:user/signgate-test is not authorized to perform: "
                  "sts:AssumeRole on resource: " + role_arn)
        if version_ok(form) is False:
            return self._xml_error(400, "InvalidParameterValue", "Version must be 2011-06-15")
        if role_arn not in srv.roles or (srv.roles[role_arn] is not None and srv.roles[role_arn] != external_id):
            srv.count("assume_role_denied")
            return self._xml_error(403, "AccessDenied", denied)
        duration = int(one("DurationSeconds") or 3600)
        if not 900 <= duration <= 43200:
            return self._xml_error(400, "ValidationError", "DurationSeconds must be between 900 and 43200")
        return self._issue_role_credentials("AssumeRole", role_arn, session)

    def _web_identity(self, form):
        srv = self.server
        srv.count("web_identity")
        one = lambda k: (form.get(k) or [""])[0]  # noqa: E731
        if one("WebIdentityToken") not in srv.web_identity_tokens:
            return self._xml_error(400, "InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider")
        if one("RoleArn") not in srv.roles:
            return self._xml_error(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
        return self._issue_role_credentials("AssumeRoleWithWebIdentity", one("RoleArn"), one("RoleSessionName"))

    def _hostile(self, operation, model):
        return _hostile_answer(self, operation, model)

    def _stream(self, frames, model):
        return _stream_body(self, frames, model)

    def _bedrock(self, body):
        path = self.path.split("?", 1)[0]
        if path.startswith(("/foundation-models", "/inference-profiles")):
            return _control_plane(self, path)
        if path.startswith("/guardrail/"):
            return _apply_guardrail(self, path, body)
        if path == "/async-invoke" or path.startswith("/async-invoke/"):
            return _async_invoke(self, path, body)
        parts = path.split("/")
        if len(parts) != 4 or parts[1] != "model":
            return self._error(404, "UnknownOperationException", "unknown operation " + self.path)
        model, operation = unquote(parts[2]), parts[3]
        self._entry.update(model=model, operation=operation)
        metadata_problem = request_metadata_fake.check(self, operation, model, body)  # recorded there
        if metadata_problem:
            self.server.count("metadata_refused")
            return self._error(400, "ValidationException", metadata_problem)
        with self.server._lock:
            self.server.seen_models.append(model)
            throttled = self.server.throttle_next > 0
            if throttled:
                self.server.throttle_next -= 1
        if throttled:
            self.server.count("throttled")
            return self._error(429, "ThrottlingException", "Too many requests, please wait before trying again.")
        failure = self.server.take_failure(operation)
        if failure is not None and _injected_failure(self, failure, model, operation):
            return None
        self._runtime = True
        if model.startswith("denied."):  # Bedrock's own words, naming the account, role and session
            action = "bedrock:InvokeModelWithResponseStream" if operation.endswith("stream") else \
                "bedrock:CountTokens" if operation == "count-tokens" else "bedrock:InvokeModel"
            return self._error(403, "AccessDeniedException",
                               "User: arn:aws:sts::111122223333:assumed-role/flashback-bedrock/signgate-c is not "
                               "authorized to perform: %s on resource: arn:aws:bedrock:us-east-1::foundation-model/%s "
                               "because no identity-based policy allows the %s action" % (action, model, action))
        if model.startswith("slow.") or ".slow-" in model:
            time.sleep(2)  # a model that takes long to answer its first byte
        if ".hang-" in model and not _wait_unless_gone(self, 30):
            return None  # a model that answers after 30 s, unless its caller hangs up first
        if model.startswith("missing."):
            return self._error(404, "ResourceNotFoundException", "Could not resolve the foundation model from "
                                                                 "the provided model identifier.")
        if model.startswith("hostile."):
            return self._hostile(operation, model)
        if operation in ("invoke", "invoke-with-response-stream"):
            tier = self.headers.get("X-Amzn-Bedrock-Service-Tier")
            self._entry["service_tier"] = tier
            problem = service_tier_error(model, tier)
            if problem:
                self.server.count("service_tier_refused")
                return self._error(400, VALIDATION, problem)
            self._tier = tier
        if operation in ("invoke", "invoke-with-response-stream") and "anthropic." in model:
            try:
                request = json.loads(body or b"{}")
                problem = anthropic_body_error(request, model)
                if isinstance(request, dict) and "anthropic_beta" in request:
                    self._entry["anthropic_beta"] = request["anthropic_beta"]
            except ValueError:
                problem = None
            if problem:
                if "beta flag" in problem:
                    self.server.count("invalid_beta")
                return self._error(400, "ValidationException", problem)
            with self.server._lock:
                self.server.last_invoke_body = body.decode(errors="replace")
        guardrail_header = self.headers.get("X-Amzn-Bedrock-GuardrailIdentifier")
        if operation in ("converse", "converse-stream"):
            try:
                guardrail_config = (json.loads(body or b"{}") or {}).get("guardrailConfig")
            except (ValueError, AttributeError):
                guardrail_config = None
            if guardrail_config:
                with self.server._lock:
                    self.server.last_guardrail = {"id": guardrail_config.get("guardrailIdentifier"),
                                                  "version": guardrail_config.get("guardrailVersion")}
        elif guardrail_header:
            with self.server._lock:
                self.server.last_guardrail = {"id": guardrail_header,
                                              "version": self.headers.get("X-Amzn-Bedrock-GuardrailVersion")}
        token_headers = [("X-Amzn-Bedrock-Input-Token-Count", "12"), ("X-Amzn-Bedrock-Output-Token-Count", "5")]
        if operation in ("converse", "converse-stream"):
            try:
                request = json.loads(body or b"{}")
                with self.server._lock:
                    self.server.last_converse_body = request
                content, stop, usage = converse_fake.answer(request, model, self.server)
                chosen = self.server.converse_usage  # a test's usage shape (the module's docstring)
                if chosen:
                    usage.update(chosen.get("usage") or {})
                    if chosen.get("serviceTier"):
                        usage.service_tier = chosen["serviceTier"]
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                return self._error(400, "ValidationException", "Malformed input request: %s" % e)
            except converse_fake.Invalid as e:
                return self._error(400, "ValidationException", str(e))
            if operation == "converse":
                return self._send(200, json.dumps(converse_fake.response_body(content, stop, usage)),
                                  extra=token_headers)
            frames = [event_frame(kind, payload) for kind, payload in converse_fake.stream_events(content, stop, usage)]
            return self._stream(frames, model)
        chosen = self.server.invoke_answer if operation == "invoke" else self.server.invoke_stream_answer
        if chosen and operation in ("invoke", "invoke-with-response-stream"):  # a test's usage shape
            if operation == "invoke":
                return self._send(200, json.dumps(chosen.get("body", {})),
                                  extra=list((chosen.get("headers") or {}).items()))
            return self._stream([event_frame("chunk", {"bytes": base64.b64encode(json.dumps(e).encode()).decode()})
                                 for e in chosen.get("chunks", [])], model)
        if operation == "invoke" and embeddings_fake.family(model):
            try:
                answer, count = embeddings_fake.answer(model, json.loads(body or b"{}"))
            except ValueError:
                return self._error(400, "ValidationException", "Malformed input request: not JSON")
            except embeddings_fake.Invalid as e:
                return self._error(400, "ValidationException", str(e))
            self.server.count("embeddings")
            return self._send(200, json.dumps(answer), extra=[("X-Amzn-Bedrock-Input-Token-Count", str(count))])
        if operation == "invoke":
            return self._send(200, json.dumps({"id": "msg_fake", "type": "message", "role": "assistant",
                                               "model": model, "content": [{"type": "text", "text": "echo"}],
                                               "stop_reason": "end_turn", "echo": body.decode(errors="replace"),
                                               "usage": {"input_tokens": 12, "output_tokens": 5}}),
                              extra=token_headers)
        if operation == "count-tokens":
            return _count_tokens(self, model, body)
        if operation == "invoke-with-response-stream":
            events = _anthropic_stream_events(model, body)
            frames = [event_frame("chunk", {"bytes": base64.b64encode(json.dumps(e).encode()).decode()})
                      for e in events]
            return self._stream(frames, model)
        return self._error(404, "UnknownOperationException", "operation %s is not emulated" % operation)


# Bedrock's control plane as discovery sees it: a few foundation models and system-defined
# inference profiles (ListFoundationModels, GetFoundationModel, ListInferenceProfiles,
# GetInferenceProfile; botocore's bedrock 2023-04-20 shapes).
FOUNDATION_MODELS = ["anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0",
                     "anthropic.claude-haiku-4-5-20251001-v1:0", "meta.llama3-8b-instruct-v1:0",
                     "amazon.titan-embed-text-v2:0"]
PROFILES = ["us.anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "us.meta.llama3-2-1b-instruct-v1:0"]


def _foundation_model(model_id):
    provider = model_id.split(".", 1)[0]
    return {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/" + model_id, "modelId": model_id,
            "modelName": model_id, "providerName": provider.capitalize(), "inputModalities": ["TEXT"],
            "outputModalities": ["EMBEDDING" if "embed" in model_id else "TEXT"],
            "responseStreamingSupported": "embed" not in model_id, "customizationsSupported": [],
            "inferenceTypesSupported": ["ON_DEMAND", "INFERENCE_PROFILE"], "modelLifecycle": {"status": "ACTIVE"}}


def _profile(profile_id):
    model = profile_id.split(".", 1)[1]
    regions = ["us-east-1", "us-east-2", "us-west-2"] if profile_id.startswith("us.") else ["eu-west-1", "eu-central-1"]
    return {"inferenceProfileName": "US " + model if profile_id.startswith("us.") else "EU " + model,
            "inferenceProfileArn": "arn:aws:bedrock:us-east-1:111122223333:inference-profile/" + profile_id,
            "inferenceProfileId": profile_id, "status": "ACTIVE", "type": "SYSTEM_DEFINED",
            "createdAt": "2025-09-29T00:00:00Z", "updatedAt": "2025-09-29T00:00:00Z",
            "models": [{"modelArn": "arn:aws:bedrock:%s::foundation-model/%s" % (r, model)} for r in regions]}


def _control_plane(handler, path):
    if handler.command != "GET":
        return handler._error(405, "ValidationException", "discovery operations are GET")
    query = parse_qs(urlsplit(handler.path).query)
    with handler.server._lock:
        handler.server.last_control_query = {k: v[0] for k, v in query.items()}
    parts = path.split("/")
    if len(parts) == 2 and parts[1] == "foundation-models":
        provider = (query.get("byProvider") or [""])[0].lower()
        summaries = [_foundation_model(m) for m in FOUNDATION_MODELS if not provider or m.startswith(provider + ".")]
        return handler._send(200, json.dumps({"modelSummaries": summaries}))
    if len(parts) == 2 and parts[1] == "inference-profiles":
        kind = (query.get("type") or ["SYSTEM_DEFINED"])[0]
        summaries = [_profile(p) for p in PROFILES] if kind == "SYSTEM_DEFINED" else []
        return handler._send(200, json.dumps({"inferenceProfileSummaries": summaries}))
    if len(parts) == 3 and parts[1] == "foundation-models" and unquote(parts[2]) in FOUNDATION_MODELS:
        return handler._send(200, json.dumps({"modelDetails": _foundation_model(unquote(parts[2]))}))
    if len(parts) == 3 and parts[1] == "inference-profiles":
        wanted = unquote(parts[2]).rsplit("/", 1)[-1]
        if wanted in PROFILES:
            return handler._send(200, json.dumps(_profile(wanted)))
    return handler._error(404, "ResourceNotFoundException", "The resource could not be found: " + unquote(path))


GUARDRAILS = {"gr0abc123": {"DRAFT", "1", "2"}}


def _apply_guardrail(handler, path, body):
    """ApplyGuardrail: intervenes on text containing "forbidden"."""
    parts = path.split("/")  # "", guardrail, ID, version, V, apply
    if len(parts) != 6 or parts[3] != "version" or parts[5] != "apply" or handler.command != "POST":
        return handler._error(404, "UnknownOperationException", "unknown operation " + path)
    guardrail, version = unquote(parts[2]).rsplit("/", 1)[-1], unquote(parts[4])
    if version not in GUARDRAILS.get(guardrail, ()):
        return handler._error(404, "ResourceNotFoundException", "The guardrail %s version %s was not found" %
                              (guardrail, version))
    try:
        request = json.loads(body or b"{}")
        texts = [c["text"]["text"] for c in request["content"]]
        if request["source"] not in ("INPUT", "OUTPUT"):
            raise ValueError("source")
    except (ValueError, KeyError, TypeError) as e:
        return handler._error(400, "ValidationException", "Malformed ApplyGuardrail request: %s" % e)
    with handler.server._lock:
        handler.server.last_guardrail = {"id": guardrail, "version": version}
    blocked = any("forbidden" in t for t in texts)
    return handler._send(200, json.dumps({
        "usage": {"topicPolicyUnits": 1, "contentPolicyUnits": 1, "wordPolicyUnits": 1,
                  "sensitiveInformationPolicyUnits": 0, "sensitiveInformationPolicyFreeUnits": 0,
                  "contextualGroundingPolicyUnits": 0},
        "action": "GUARDRAIL_INTERVENED" if blocked else "NONE",
        "outputs": [{"text": "Sorry, I cannot help with that."}] if blocked else [],
        "assessments": [{"wordPolicy": {"customWords": [{"match": "forbidden", "action": "BLOCKED"}]}}]
        if blocked else [{}]}))


def _async_invoke(handler, path, body):
    """StartAsyncInvoke, GetAsyncInvoke, ListAsyncInvokes over the emulator's own list, which
    starts with one invocation somebody else made (so a gateway's filtering shows)."""
    srv = handler.server
    with srv._lock:
        if not srv.async_invocations:
            srv.async_invocations["arn:aws:bedrock:us-east-1:111122223333:async-invoke/someoneelse0"] = {
                "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-reel-v1:0"}
    if handler.command == "POST" and path == "/async-invoke":
        try:
            request = json.loads(body or b"{}")
            s3 = request["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
            model, model_input = request["modelId"], request["modelInput"]
            if not s3.startswith("s3://") or not isinstance(model_input, dict):
                raise ValueError("s3Uri and modelInput")
        except (ValueError, KeyError, TypeError) as e:
            return handler._error(400, "ValidationException", "Malformed StartAsyncInvoke request: %s" % e)
        token = request.get("clientRequestToken")
        if token is not None and not (isinstance(token, str) and 1 <= len(token) <= 256
                                      and all("!" <= c <= "~" for c in token)):
            return handler._error(400, "ValidationException", "clientRequestToken: 1 to 256 of [!-~]")
        with srv._lock:
            # Bedrock's idempotency: a token seen before (in the emulator's one account) answers
            # with the invocation it started. next_async_arn: a test's ARN for the next new one.
            arn = srv.async_tokens.get(token) if token else None
            if arn is None:
                arn = srv.next_async_arn or "arn:aws:bedrock:us-east-1:111122223333:async-invoke/" + secrets.token_hex(6)
                srv.next_async_arn = None
                srv.async_invocations.setdefault(arn, {
                    "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/" + model,
                    "clientRequestToken": token or "", "outputDataConfig": request["outputDataConfig"]})
                if token:
                    srv.async_tokens[token] = arn
        return handler._send(200, json.dumps({"invocationArn": arn}))
    if handler.command != "GET":
        return handler._error(405, "ValidationException", "method")

    def summary(arn, record):
        return dict(record, invocationArn=arn, status="InProgress", submitTime="2026-11-29T00:00:00Z")
    if path == "/async-invoke":
        with srv._lock:
            items = [summary(a, r) for a, r in srv.async_invocations.items()]
        return handler._send(200, json.dumps({"asyncInvokeSummaries": items}))
    arn = unquote(path[len("/async-invoke/"):])
    with srv._lock:
        record = srv.async_invocations.get(arn)
    if record is None:
        return handler._error(400, "ValidationException", "Invocation %s was not found" % arn)
    return handler._send(200, json.dumps(summary(arn, record)))


def _last_user_turn(messages):
    """The text and the tool results of the last user message of an Anthropic body."""
    last = (messages or [{}])[-1] if isinstance(messages, list) else {}
    content = last.get("content") if isinstance(last, dict) else None
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else (content or [])
    text = " ".join(b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text")
    results = []
    for b in blocks:
        if isinstance(b, dict) and b.get("type") == "tool_result":
            c = b.get("content")
            results.append(c if isinstance(c, str) else " ".join(x.get("text", "") for x in c or [] if isinstance(x, dict)))
    return text, results


def _anthropic_stream_events(model, body):
    """InvokeModelWithResponseStream's Anthropic events. A prompt asking for "signgate-tool"
    with a Bash tool on offer gets a tool_use of Bash; the tool's result is then echoed back
    ("The tool said: ..."), so a client's whole tool loop can be checked. Else "Hello from"."""
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        request = {}
    text, results = _last_user_turn(request.get("messages"))
    tools = [t.get("name") for t in request.get("tools") or [] if isinstance(t, dict)]
    start = {"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant",
                                                  "model": model, "content": [], "stop_reason": None,
                                                  "usage": {"input_tokens": 12, "output_tokens": 1}}}
    events = [start]
    stop = "end_turn"
    if "signgate-tool" in text and "Bash" in tools and not results:
        events += [{"type": "content_block_start", "index": 0,
                    "content_block": {"type": "tool_use", "id": "toolu_fake_1", "name": "Bash", "input": {}}}]
        for piece in ('{"command": "echo signgate-', 'tool-ok", "description": "Print a marker"}'):
            events.append({"type": "content_block_delta", "index": 0,
                           "delta": {"type": "input_json_delta", "partial_json": piece}})
        stop = "tool_use"
    else:
        words = ("The tool said: " + results[0].strip(),) if results else ("Hello", " from", " " + model)
        if not results and text.startswith("count to "):  # N words, N output tokens
            words = tuple(" %d" % i for i in range(1, int(text.split()[2]) + 1))
        events += [{"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}]
        events += [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}
                   for w in words]
    output = len(words) if text.startswith("count to ") and not results else 5
    events += [{"type": "content_block_stop", "index": 0},
               {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": output}},
               {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
                   "inputTokenCount": 12, "outputTokenCount": output, "invocationLatency": 10, "firstByteLatency": 5}}]
    return events


# The anthropic_beta values Bedrock's user guide lists for Claude (and computer-use-2024-10-22
# from its request example), by model, as signgate's shipped table has them (api/anthropic/betas.cc,
# which cites the sources): Bedrock refuses any other for that model as an invalid beta flag.
BEDROCK_BETAS = {
    "computer-use-2024-10-22", "computer-use-2025-01-24", "token-efficient-tools-2025-02-19",
    "interleaved-thinking-2025-05-14", "output-128k-2025-02-19", "dev-full-thinking-2025-05-14",
    "context-1m-2025-08-07", "context-management-2025-06-27", "effort-2025-11-24",
    "tool-search-tool-2025-10-19", "tool-examples-2025-10-29",
}
CLAUDE_4 = {"token-efficient-tools-2025-02-19", "interleaved-thinking-2025-05-14", "dev-full-thinking-2025-05-14"}
BETAS_BY_FAMILY = {
    ("sonnet", 3, 5): {"computer-use-2024-10-22"},
    ("sonnet", 3, 7): {"computer-use-2025-01-24", "output-128k-2025-02-19", "token-efficient-tools-2025-02-19"},
    ("sonnet", 4, 0): CLAUDE_4 | {"context-1m-2025-08-07"},
    ("sonnet", 4, 5): CLAUDE_4 | {"context-1m-2025-08-07", "context-management-2025-06-27",
                                  "tool-search-tool-2025-10-19"},  # Claude Code's Bedrock mode sends it
    ("haiku", 4, 5): CLAUDE_4 | {"context-management-2025-06-27"},
    ("opus", 4, 5): CLAUDE_4 | {"effort-2025-11-24", "tool-search-tool-2025-10-19", "tool-examples-2025-10-29"},
}


def claude_family(model):
    """("sonnet", 4, 5) for any ID, profile or ARN naming Claude Sonnet 4.5; None when it names none."""
    at = model.find("claude-")
    if at < 0:
        return None
    line, numbers = None, []
    for token in model[at + 7:].split("-"):
        if token.isdigit() and len(token) <= 2 and len(numbers) < 2:
            numbers.append(int(token))
        elif token.isalpha() and token.islower() and line is None:
            line = token
            if numbers:
                break
        else:
            break
    if not numbers:
        return None
    return (line or "", numbers[0], numbers[1] if len(numbers) > 1 else 0)


def betas_for(model):
    """The betas Bedrock takes for `model`: Claude 4 models besides the table's take the Claude 4+
    ones, Claude 4.7 and later none (claude-code#49648); a model the table cannot place (an
    application inference profile's ARN, a test's made-up ID) any documented one."""
    family = claude_family(model)
    if family is None:
        return BEDROCK_BETAS
    line, major, minor = family
    if (major, minor) >= (4, 7):
        return set()
    if family in BETAS_BY_FAMILY:
        return BETAS_BY_FAMILY[family]
    return CLAUDE_4 if major == 4 else set()


def anthropic_body_error(body, model=""):
    """What Bedrock says about an Anthropic Messages body for InvokeModel on `model`, or None when
    it takes it. Only Messages-shaped bodies are judged (other tests send "{}" to check paths)."""
    if not isinstance(body, dict) or "messages" not in body:
        return None
    for key in ("model", "stream", "service_tier"):
        if key in body:
            return ("Malformed input request: #: extraneous key [%s] is not permitted, please reformat your "
                    "input and try again." % key)
    if body.get("anthropic_version") != "bedrock-2023-05-31":
        return "Malformed input request: #/anthropic_version: bedrock-2023-05-31 is the only accepted value"
    if not isinstance(body.get("max_tokens"), int):
        return "Malformed input request: #: required key [max_tokens] not found"
    for i, m in enumerate(body.get("messages") or []):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            return "The model returned the following errors: messages.%d.role: Input should be 'user' or 'assistant'" % i
    betas = body.get("anthropic_beta")
    allowed = betas_for(model)
    if betas is not None and (not isinstance(betas, list) or not betas or
                              any(not isinstance(b, str) or b not in allowed for b in betas)):
        return "The model returned the following errors: invalid beta flag"
    return None


# Bedrock's x-amzn-ErrorType for a ValidationException, whole, as rest-json services send it.
VALIDATION = "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"


def counts_tokens(model):
    """Whether CountTokens counts for `model`: foundation model IDs of Claude 3 to 4.6 only.
    Cross-Region and global profiles, ARNs, other providers' models and Claude Opus 4.7 and
    later (CRIS-only on bedrock-runtime) are refused, as users report Bedrock does."""
    family = claude_family(model)
    if not model.startswith("anthropic.") or family is None:
        return False
    return (3, 0) <= family[1:] < (4, 7)


# X-Amzn-Bedrock-Service-Tier: Bedrock's values, and the models that take priority and flex
# (AWS's service-tiers page, 2026-02-15); Claude takes only its default.
SERVICE_TIERS = {"priority", "default", "flex", "reserved"}
TIERED_MODELS = ("amazon.nova-pro", "amazon.nova-premier", "amazon.nova-2-lite", "openai.gpt-oss", "qwen.",
                 "deepseek.", "google.gemma-3", "minimax.", "moonshot.", "mistral.magistral", "mistral.ministral",
                 "mistral.mistral-large-3", "mistral.voxtral", "nvidia.nemotron")


def service_tier_error(model, tier):
    """Bedrock's 400 message for the tier header on `model`, or None when it takes it."""
    if tier is None or tier == "default":
        return None
    if tier not in SERVICE_TIERS:
        return "service tier provided is invalid"
    if tier == "reserved":
        return "Reservation not found."
    base = model.split(".", 1)[1] if model.split(".", 1)[0] in ("us", "eu", "apac", "global", "jp", "au") else model
    if not base.startswith(TIERED_MODELS):
        return "The provided service tier is not supported for this model."
    return None


def _count_tokens(handler, model, body):
    """CountTokens: {"input":{"invokeModel":{"body": base64}}} or {"input":{"converse":{...}}}.
    The count is the length of the messages' JSON over four, so a test can tell bodies apart."""
    try:
        request = json.loads(body or b"{}")
        union = request["input"]
        if not isinstance(union, dict) or len(union) != 1:
            raise ValueError("input must have exactly one member")
        if "invokeModel" in union:
            inner = json.loads(base64.b64decode(union["invokeModel"]["body"], validate=True))
        elif "converse" in union:
            inner = union["converse"]
        else:
            raise ValueError("input has an unknown member")
    except (ValueError, KeyError, TypeError) as e:
        return handler._error(400, "ValidationException", "Malformed CountTokens request: %s" % e)
    if not counts_tokens(model):
        handler.server.count("count_tokens_refused")
        return handler._error(400, VALIDATION, "The provided model doesn't support counting tokens.")
    if "invokeModel" in union and "anthropic." in model:
        # Claude Code's own CountTokens bodies carry anthropic_beta ["claude-code-20250219"]:
        # whether Bedrock judges betas here is not documented, so only the shape is checked.
        shape = dict(inner if "messages" in inner else dict(inner, messages=None))
        shape.pop("anthropic_beta", None)
        problem = anthropic_body_error(shape)
        if problem:
            return handler._error(400, "ValidationException", problem)
    with handler.server._lock:
        handler.server.last_count_tokens = inner
    return handler._send(200, json.dumps({"inputTokens": len(json.dumps(inner.get("messages"))) // 4 + 1}))


def _hostile_answer(handler, operation, model):
    """What a hostile or prompt-injected model can make Bedrock return: JSON nested 300,000
    deep (built as text: Python's json cannot), and text that looks like Bedrock's metrics."""
    deep = "[" * 300000 + "]" * 300000
    if operation == "converse":
        return handler._send(200, '{"output":{"message":{"role":"assistant","content":[{"toolUse":{"toolUseId":"t",'
                                  '"name":"f","input":' + deep + '}}]}},"stopReason":"tool_use",'
                                  '"usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2}}')
    if operation == "invoke-with-response-stream":
        lookalike = {"type": "content_block_delta", "index": 0,
                     "delta": {"type": "text_delta", "text": "amazon-bedrock-invocationMetrics"}}
        nested = ('{"type":"content_block_delta","index":0,"delta":' + deep +
                  ',"amazon-bedrock-invocationMetrics":{"inputTokenCount":1}}')
        frames = [event_frame("chunk", {"bytes": base64.b64encode(json.dumps(lookalike).encode()).decode()}),
                  event_frame("chunk", {"bytes": base64.b64encode(nested.encode()).decode()})]
        return handler._stream(frames, model)
    return handler._error(400, "ValidationException", "hostile models answer converse and invoke streams")


def version_ok(form):
    return form.get("Version") == ["2011-06-15"]


def iso(t):
    return datetime.datetime.utcfromtimestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def _wait_unless_gone(handler, seconds):
    """Waits `seconds`, as a model thinking would; False as soon as the caller closes the
    connection (counted as "caller_gone"). "waiting" counts the waits begun."""
    handler.server.count("waiting")
    deadline = time.monotonic() + seconds
    raw = handler.connection
    while time.monotonic() < deadline:
        readable, _, _ = select.select([raw], [], [], 0.05)
        if not readable:
            continue
        try:
            peeked = socket.socket.recv(raw, 1, socket.MSG_PEEK)  # the TCP bytes, under any TLS
        except OSError:
            peeked = b""
        if not peeked or isinstance(raw, ssl.SSLSocket):  # EOF, or TLS's close_notify arriving
            handler.server.count("caller_gone")
            handler.close_connection = True
            return False
        time.sleep(0.05)  # a pipelined request: not this wait's business
    return True


def _stream_body(handler, frames, model):
    """Sends event-stream frames one chunk each; a model named *.reset-* breaks off after two."""
    if getattr(handler, "_runtime", False):
        handler._served()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/vnd.amazon.eventstream")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.send_header("x-amzn-RequestId", "fake-stream-%d" % (time.time_ns() % 10**9))
    if getattr(handler, "_tier", None):
        handler.send_header("X-Amzn-Bedrock-Service-Tier", handler._tier)
    handler.end_headers()
    if handler.server.corrupt_streams:  # flip a payload byte of the second frame
        bad = bytearray(frames[1])
        bad[-8] ^= 0x01
        frames[1] = bytes(bad)
    reset, stall, fault = ".reset-" in model, ".stall-" in model, ".streamfault-" in model
    for i, frame in enumerate(frames):
        if fault and i == 2:  # two frames, then Bedrock's exception naming an ARN and the account
            frame = exception_frame("validationException", "The inference profile arn:aws:bedrock:us-east-1:"
                                    "111122223333:inference-profile/us.%s is not usable by arn:aws:sts::111122223333:"
                                    "assumed-role/flashback-bedrock/signgate-c in account 111122223333" % model)
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            break
        if stall and i == 2 and not _wait_unless_gone(handler, 30):  # two frames, then 30 s of silence
            return None
        if reset and i == 2:
            handler.wfile.write(b"%x\r\n%s" % (len(frame), frame[:len(frame) // 2]))  # half a frame, then gone
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return None
        try:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the reader went away: that is allowed
            handler.close_connection = True
            return None
        time.sleep(handler.server.frame_delay)
    handler.wfile.write(b"0\r\n\r\n")
    return None


# The errors Bedrock's runtime answers with, by x-amzn-ErrorType: status and Bedrock's wording.
FAILURES = {
    "ThrottlingException": (429, "Too many requests, please wait before trying again."),
    "ServiceQuotaExceededException": (400, "Your request exceeds the service quota for your account. You can view "
                                           "your quotas at https://console.aws.amazon.com/servicequotas. You can "
                                           "resubmit your request later."),
    "ServiceUnavailableException": (503, "Bedrock is unable to process your request."),
    "ModelNotReadyException": (429, "Model is not ready to serve inference requests. The AWS SDK will automatically "
                                    "retry the operation up to 5 times."),
    "InternalServerException": (500, "The system encountered an unexpected error during processing. Try your "
                                     "request again."),
    "ModelErrorException": (424, "The system encountered an unexpected error during processing. Try your request "
                                 "again."),
    "ModelTimeoutException": (408, "Model has timed out in processing the request. Try your request again."),
    "ValidationException": (400, "Malformed input request, please reformat your input and try again."),
    "AccessDeniedException": (403, "You don't have access to the model with the specified model ID."),
    "ResourceNotFoundException": (404, "Could not resolve the foundation model from the provided model identifier."),
}
STREAM_MODES = ("stream_throttle_first", "stream_throttle_after")
STREAMS = ("converse-stream", "invoke-with-response-stream")


def scope_region(headers):
    """The region of the Authorization header's credential scope, verified or not."""
    for name, value in headers:
        if name.lower() == "authorization" and "Credential=" in value:
            scope = value.split("Credential=", 1)[1].split(",", 1)[0].split("/")
            return scope[2] if len(scope) == 5 else None
    return None


def _injected_failure(handler, failure, model, operation):
    """Answers as server.fail says; False when the call should go on (a hang its caller sat out)."""
    srv = handler.server
    mode = failure.get("mode") or "error"
    kind = mode if mode != "error" else failure.get("type", "ThrottlingException")
    srv.count("failed")
    srv.count("failed_" + kind)
    handler._entry["outcome"] = "failed_" + kind
    if mode == "hang":
        return not _wait_unless_gone(handler, 30)
    if mode in STREAM_MODES:
        throttle = exception_frame("throttlingException", FAILURES["ThrottlingException"][1])
        frames = []
        if mode == "stream_throttle_after" and operation == "converse-stream":
            frames = [event_frame("messageStart", {"role": "assistant"}),
                      event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}})]
        elif mode == "stream_throttle_after":
            events = [{"type": "message_start", "message": {
                          "id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [],
                          "stop_reason": None, "usage": {"input_tokens": 12, "output_tokens": 1}}},
                      {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                      {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}]
            frames = [event_frame("chunk", {"bytes": base64.b64encode(json.dumps(e).encode()).decode()})
                      for e in events]
        _send_frames(handler, frames + [throttle])
        return True
    status, message = FAILURES.get(kind, (500, "The system encountered an unexpected error during processing."))
    extra = [("x-amzn-ErrorType", kind)]
    if failure.get("retry_after") is not None:
        extra.append(("Retry-After", str(failure["retry_after"])))
    handler._send(failure.get("status", status), json.dumps({"message": failure.get("message", message)}),
                  extra=extra)
    return True


def _send_frames(handler, frames):
    """A 200 event stream of these frames, then its end."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/vnd.amazon.eventstream")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.send_header("x-amzn-RequestId", "fake-stream-%d" % (time.time_ns() % 10**9))
    if getattr(handler, "_tier", None):
        handler.send_header("X-Amzn-Bedrock-Service-Tier", handler._tier)
    handler.end_headers()
    try:
        for frame in frames:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            handler.wfile.flush()
            time.sleep(handler.server.frame_delay)
        handler.wfile.write(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True


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
        self.roles = {}                 # role ARN -> required External ID (None: none required)
        self.web_identity_tokens = set()
        self.sts_lifetime = 3600
        self.sts_down = False
        self.sts_bad_xml = False
        self.imds = False
        self.imds_token = "imds-session-" + secrets.token_hex(8)
        self.ecs_token = None
        self.issued = {}                # access key -> (secret, token, expires_at)
        self.counts = {}
        self.throttle_next = 0          # answer this many Bedrock calls with 429 first
        self.fail = None                # fail Bedrock runtime calls so (see the module's docstring)
        self.region = None              # refuse Bedrock calls signed for another region
        self.seen_models = []           # decoded model IDs, in order
        self.last_assume_role = None
        self.last_invoke_body = None  # the last Anthropic InvokeModel body, as Bedrock got it
        self.last_converse_body = None  # the last Converse request, as Bedrock got it
        self.cache_prefixes = set()  # prompt prefixes written to the cache
        self.last_count_tokens = None  # the last CountTokens request's inner body
        self.last_control_query = None  # the query of the last control-plane call
        self.last_guardrail = None  # the guardrail of the last ApplyGuardrail, Converse or InvokeModel
        self.async_invocations = {}  # invocationArn -> record
        self.async_tokens = {}  # clientRequestToken -> invocationArn
        self.openai = mantle_fake.OpenAIAPI(runtime=True)  # bedrock-runtime's /openai/v1
        self.next_async_arn = None  # the next new invocation's ARN, when a test sets one
        self.invoke_answer = None  # usage shapes a test chose (the module's docstring)
        self.invoke_stream_answer = None
        self.converse_usage = None
        self._lock = threading.Lock()

    def take_failure(self, operation):
        """The failure this runtime call gets from server.fail, if any, counted off."""
        with self._lock:
            fail = self.fail
            if not fail:
                return None
            if fail.get("mode") in STREAM_MODES and operation not in STREAMS:
                return None
            if fail.get("count") is not None:
                if fail["count"] <= 0:
                    self.fail = None
                    return None
                fail["count"] -= 1
                if fail["count"] == 0:
                    self.fail = None
            return dict(fail)

    def join_account(self, other):
        """Accepts the credentials `other` issued (and issues into the same table): another
        region of the same account."""
        self.issued = other.issued
        self._lock = other._lock

    def requests_to(self, operation=None):
        """The runtime calls received (entries of `requests` with a model), of one operation or all."""
        with self._lock:
            return [r for r in self.requests if r.get("model") is not None and
                    (operation is None or r.get("operation") == operation)]

    def record(self, entry):
        with self._lock:
            self.requests.append(entry)
            del self.requests[:-1000]   # a soak must not grow the fake without bound

    def count(self, name):
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + 1

    def issue(self, source, role_arn=None):
        """New temporary credentials, accepted until they expire."""
        akid = "ASIA" + secrets.token_hex(8).upper()
        secret = secrets.token_urlsafe(30)
        token = "FwoG" + secrets.token_urlsafe(60)
        expires = time.time() + self.sts_lifetime
        with self._lock:
            self.issued[akid] = (secret, token, expires)
            self.counts["issued_" + source] = self.counts.get("issued_" + source, 0) + 1
        return {"AccessKeyId": akid, "SecretAccessKey": secret, "Token": token, "Expiration": iso(expires)}

    def accepted(self):
        with self._lock:
            now = time.time()
            out = dict(self.credentials)
            out.update({k: (v[0], v[1]) for k, v in self.issued.items() if v[2] > now})
            return out

    def expired_keys(self):
        with self._lock:
            now = time.time()
            return {k for k, v in self.issued.items() if v[2] <= now}

    @staticmethod
    def access_key_of(headers):
        for name, value in headers:
            if name.lower() == "authorization" and "Credential=" in value:
                return value.split("Credential=", 1)[1].split("/", 1)[0]
        return None


def parse_credentials(values):
    out = {}
    for v in values:
        parts = v.split(":", 2)
        if len(parts) < 2:
            raise SystemExit("--credentials wants AK:SK[:TOKEN]")
        out[parts[0]] = (parts[1], parts[2] if len(parts) == 3 else None)
    return out


def start(credentials, port=0, tls_cert=None, tls_key=None, max_skew=900, frame_delay=0.0, verbose=False,
          roles=None, sts_lifetime=3600, web_identity_tokens=(), imds=False, ecs_token=None, host="127.0.0.1",
          region=None, same_account_as=None):
    """Starts the server on a thread; returns (server, base_url)."""
    scheme = "https" if tls_cert else "http"
    server = FakeServer((host, port), credentials, scheme, max_skew, frame_delay, verbose)
    server.region = region
    if same_account_as is not None:
        server.join_account(same_account_as)
    server.roles = dict(roles or {})
    server.sts_lifetime = sts_lifetime
    server.web_identity_tokens = set(web_identity_tokens)
    server.imds = imds
    server.ecs_token = ecs_token
    if tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls_cert, tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "%s://%s:%d" % (scheme, host, server.server_address[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--credentials", action="append", default=[], help="AK:SK[:TOKEN] accepted (repeatable)")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--max-skew", type=int, default=900)
    ap.add_argument("--frame-delay", type=float, default=0.05)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--role", action="append", default=[],
                    help="ROLE_ARN[=EXTERNAL_ID] that AssumeRole accepts (repeatable)")
    ap.add_argument("--sts-lifetime", type=float, default=3600, help="seconds issued credentials live")
    ap.add_argument("--web-identity-token", action="append", default=[])
    ap.add_argument("--imds", action="store_true", help="answer as EC2 instance metadata (IMDSv2)")
    ap.add_argument("--ecs-token", help="Authorization value the ECS endpoint wants")
    args = ap.parse_args()
    roles = {}
    for r in args.role:
        arn, _, external = r.partition("=")
        roles[arn] = external or None
    server, url = start(parse_credentials(args.credentials), args.port, args.tls_cert, args.tls_key,
                        args.max_skew, args.frame_delay, args.verbose, roles, args.sts_lifetime,
                        args.web_identity_token, args.imds, args.ecs_token)
    lifecycle.serve_until_stopped(server, url)


if __name__ == "__main__":
    main()
