"""Bedrock's per-request metadata, checked as Bedrock checks it and recorded for the tests.

InvokeModel and InvokeModelWithResponseStream carry it in the X-Amzn-Bedrock-Request-Metadata
header, a JSON object of string keys and values (Bedrock's user guide, "Per-request metadata
tagging", cost-mgmt-request-metadata.html); Converse and ConverseStream in the body's top-level
requestMetadata. botocore's bedrock-runtime model: RequestMetadata is a map of at most 16 entries,
RequestMetadataKeyString 1-256 and RequestMetadataValueString 0-256 characters matching
[a-zA-Z0-9\\s:_@$#=/+,-.]. A request that breaks one of these is refused, 400 ValidationException.

Stricter than Bedrock may be, so that signgate's own mistakes show: a key given twice (in the
header's object, in requestMetadata, or requestMetadata itself twice) is refused too.

What a runtime call carried is kept in server.metadata_log (the last 500 entries, each
{"seq", "operation", "model", "metadata"}: the pairs, or None when the call carried none) and
server.last_metadata (operation -> metadata), read in process or with GET /_fake/metadata.
"""
import json
import re

MAX_PAIRS = 16
# Java's \s is [ \t\n\x0B\f\r]; fullmatch, so a trailing newline is not let through by '$'.
_TEXT = r"[a-zA-Z0-9 \t\n\x0b\f\r:_@$#=/+,\-.]"
KEY = re.compile(_TEXT + "{1,256}", re.ASCII)
VALUE = re.compile(_TEXT + "{0,256}", re.ASCII)
HEADER = "X-Amzn-Bedrock-Request-Metadata"
LOG_SIZE = 500


class Invalid(Exception):
    """What Bedrock says about metadata it refuses."""


class _Object(list):
    """A JSON object as its list of pairs, duplicates kept."""


def _pairs(value, where):
    """The dict of a JSON object of strings (an _Object), checked against Bedrock's limits."""
    if not isinstance(value, _Object):
        raise Invalid("%s must be a map of strings to strings" % where)
    if len(value) > MAX_PAIRS:
        raise Invalid("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must "
                      "have length less than or equal to %d" % (where, MAX_PAIRS))
    out = {}
    for key, item in value:
        if key in out:
            raise Invalid("%s has the key '%s' twice" % (where, key))
        if not isinstance(item, str):
            raise Invalid("%s.%s must be a string" % (where, key))
        if not KEY.fullmatch(key):
            raise Invalid("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member "
                          "must satisfy regular expression pattern: [a-zA-Z0-9\\s:_@$#=/+,-.]{1,256}" % (key, where))
        if not VALUE.fullmatch(item):
            raise Invalid("1 validation error detected: Value '%s' at '%s.%s' failed to satisfy constraint: "
                          "Member must satisfy regular expression pattern: [a-zA-Z0-9\\s:_@$#=/+,-.]{0,256}"
                          % (item, where, key))
        out[key] = item
    return out


def _load(text):
    return json.loads(text, object_pairs_hook=_Object)


def from_header(headers):
    """The metadata of an InvokeModel call's headers (an email.message.Message), or None."""
    values = headers.get_all(HEADER) or []
    if not values:
        return None
    if len(values) > 1:
        raise Invalid("%s was sent %d times" % (HEADER, len(values)))
    try:
        value = _load(values[0])
    except ValueError:
        raise Invalid("%s is not valid JSON" % HEADER)
    return _pairs(value, HEADER)


def from_converse(body):
    """The metadata of a Converse body (bytes), or None. A body that is not JSON is left to the
    Converse emulator to refuse."""
    try:
        request = _load(body or b"{}")
    except ValueError:
        return None
    if not isinstance(request, _Object):
        return None
    found = [value for key, value in request if key == "requestMetadata"]
    if not found:
        return None
    if len(found) > 1:
        raise Invalid("requestMetadata was given %d times" % len(found))
    return _pairs(found[0], "requestMetadata")


def check(handler, operation, model, body):
    """Bedrock's refusal of this runtime call's metadata (a message), or None once recorded."""
    try:
        if operation in ("invoke", "invoke-with-response-stream"):
            metadata = from_header(handler.headers)
        elif operation in ("converse", "converse-stream"):
            if handler.headers.get(HEADER) is not None:
                raise Invalid("Converse takes requestMetadata in its body, not %s" % HEADER)
            metadata = from_converse(body)
        else:
            # CountTokens and the rest take none: a stamp there is signgate's mistake.
            if handler.headers.get(HEADER) is not None:
                raise Invalid("%s is not an input of %s" % (HEADER, operation))
            metadata = None
    except Invalid as e:
        record(handler.server, operation, model, None, refused=str(e))
        return str(e)
    record(handler.server, operation, model, metadata)
    return None


def record(server, operation, model, metadata, refused=None):
    with server._lock:
        log = server.__dict__.setdefault("metadata_log", [])
        last = server.__dict__.setdefault("last_metadata", {})
        seq = server.__dict__.get("metadata_seq", 0) + 1
        server.metadata_seq = seq
        entry = {"seq": seq, "operation": operation, "model": model, "metadata": metadata}
        if refused:
            entry["refused"] = refused
        log.append(entry)
        del log[:-LOG_SIZE]
        if not refused:
            last[operation] = metadata


def seen(server):
    """What GET /_fake/metadata answers."""
    with server._lock:
        return {"last": dict(server.__dict__.get("last_metadata", {})),
                "log": list(server.__dict__.get("metadata_log", []))}
