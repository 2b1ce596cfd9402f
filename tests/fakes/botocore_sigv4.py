"""SigV4 by botocore (Debian's python3-botocore): the implementation that is not ours.

Tests use it to produce expected values and to verify what signgate sends, so a signer
that is consistently wrong cannot pass. Run with /usr/bin/python3 (the Python that owns
Debian's python3-* packages).
"""
import datetime
import threading
from unittest import mock

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

_lock = threading.Lock()


class _FrozenDateTime(datetime.datetime):
    frozen = None

    @classmethod
    def utcnow(cls):
        return cls.frozen


def sign(method, url, headers, body, region, service, access_key, secret_key,
         session_token=None, amz_date="20150830T123600Z"):
    """Signs like an AWS SDK would. `headers` is a list of (name, value), repeats allowed.

    Returns the stages: canonical_request, string_to_sign, signature, authorization,
    signed_headers."""
    request = AWSRequest(method=method, url=url, data=body.encode() if isinstance(body, str) else body)
    for name, value in headers:
        request.headers[name] = value  # email.message semantics: a repeat appends
    creds = Credentials(access_key, secret_key, session_token or None)
    signer = botocore.auth.SigV4Auth(creds, service, region)
    with _lock, mock.patch.object(botocore.auth.datetime, "datetime", _FrozenDateTime):
        _FrozenDateTime.frozen = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        signer.add_auth(request)
        auth = request.headers["Authorization"]
        del request.headers["Authorization"]  # else the stages below would include it
        canonical = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical)
    if signer.signature(string_to_sign, request) != auth.rsplit("Signature=", 1)[1]:
        raise AssertionError("botocore's stages disagree with its own Authorization header")
    return {
        "canonical_request": canonical,
        "string_to_sign": string_to_sign,
        "signature": auth.rsplit("Signature=", 1)[1],
        "authorization": auth,
        "signed_headers": auth.split("SignedHeaders=", 1)[1].split(",", 1)[0],
    }


def verify(method, url, headers, body, credentials_by_key, max_skew_seconds=None):
    """Verifies a received request the way an AWS endpoint does: recompute the signature
    over the headers the client said it signed and compare.

    `headers` is the list of (name, value) as received; `credentials_by_key` maps access key
    id -> (secret, session_token or None). Returns (ok, reason, details)."""
    auth = [v for n, v in headers if n.lower() == "authorization"]
    if len(auth) != 1 or not auth[0].startswith("AWS4-HMAC-SHA256 "):
        return False, "missing or malformed SigV4 Authorization header", {}
    try:
        fields = dict(part.strip().split("=", 1) for part in auth[0][len("AWS4-HMAC-SHA256 "):].split(","))
        access_key, date8, region, service, terminator = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
    except (ValueError, KeyError):
        return False, "malformed Authorization header", {}
    if terminator != "aws4_request":
        return False, "credential scope must end in aws4_request", {}
    if access_key not in credentials_by_key:
        return False, "unknown access key id", {}
    secret, token = credentials_by_key[access_key]
    amz_date = [v for n, v in headers if n.lower() == "x-amz-date"]
    if len(amz_date) != 1 or not amz_date[0].startswith(date8):
        return False, "X-Amz-Date missing or not matching the credential scope", {}
    if "host" not in signed:
        return False, "host is not signed", {}
    if token:
        sent = [v for n, v in headers if n.lower() == "x-amz-security-token"]
        if sent != [token] or "x-amz-security-token" not in signed:
            return False, "session token missing, wrong or unsigned", {}
    if max_skew_seconds is not None:
        when = datetime.datetime.strptime(amz_date[0], "%Y%m%dT%H%M%SZ")
        skew = abs((datetime.datetime.utcnow() - when).total_seconds())
        if skew > max_skew_seconds:
            return False, "Signature expired: X-Amz-Date is %ds away from now" % skew, {}
    to_sign = [(n, v) for n, v in headers
               if n.lower() in signed and n.lower() not in ("x-amz-date", "x-amz-security-token")]
    expected = sign(method, url, to_sign, body, region, service, access_key, secret, token, amz_date[0])
    details = {"service": service, "region": region, "signed_headers": fields["SignedHeaders"],
               "canonical_request": expected["canonical_request"]}
    if expected["signed_headers"] != fields["SignedHeaders"]:
        return False, "SignedHeaders differ: botocore signs %s" % expected["signed_headers"], details
    if expected["signature"] != fields["Signature"]:
        return False, ("The request signature we calculated does not match the signature you provided. "
                       "Canonical request (botocore):\n" + expected["canonical_request"]), details
    return True, "ok", details
