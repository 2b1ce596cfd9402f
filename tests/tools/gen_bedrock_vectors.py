#!/usr/bin/python3
"""Writes tests/data/bedrock-sigv4-vectors.json: requests signgate must sign, with the
expected stages computed by botocore (not by signgate). Re-run after adding a case;
tests/integration/bedrock_vectors_botocore_test.py checks the file still matches botocore."""
import json
import os
import sys
from urllib.parse import urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))
import botocore_sigv4  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "bedrock-sigv4-vectors.json")

AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+token/with+slash=="
BR = "https://bedrock-runtime.us-east-1.amazonaws.com"
JSON = [("Content-Type", "application/json")]
BODY = '{"messages":[{"role":"user","content":[{"text":"Hello, caf\\u00e9!"}]}],"inferenceConfig":{"maxTokens":16}}'
ARN = "arn%3Aaws%3Abedrock%3Aus-east-1%3A111122223333%3Ainference-profile%2Fus.anthropic.claude-3-5-sonnet-20241022-v2%3A0"
APP_ARN = "arn%3Aaws%3Abedrock%3Aus-west-2%3A111122223333%3Aapplication-inference-profile%2Fa1b2c3d4e5f6"

CASES = [
    ("converse-model-id-encoded-colon", "POST", BR + "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
     JSON, BODY, "us-east-1", "bedrock", None),
    ("converse-stream-model-id-raw-colon", "POST", BR + "/model/anthropic.claude-3-haiku-20240307-v1:0/converse-stream",
     JSON + [("Accept", "application/vnd.amazon.eventstream")], BODY, "us-east-1", "bedrock", None),
    ("invoke-inference-profile-arn", "POST", BR + "/model/" + ARN + "/invoke",
     JSON + [("Accept", "application/json")], '{"anthropic_version":"bedrock-2023-05-31","max_tokens":8,"messages":[]}',
     "us-east-1", "bedrock", TOKEN),
    ("invoke-stream-cross-region-profile", "POST",
     BR + "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke-with-response-stream",
     JSON + [("X-Amzn-Bedrock-Accept", "*/*"), ("X-Amzn-Bedrock-Trace", "ENABLED")], "{}", "us-east-1", "bedrock", TOKEN),
    ("count-tokens-application-profile-arn", "POST",
     "https://bedrock-runtime.us-west-2.amazonaws.com/model/" + APP_ARN + "/count-tokens",
     JSON, '{"input":{"converse":{"messages":[]}}}', "us-west-2", "bedrock", None),
    ("unicode-path-percent-encoded", "POST", BR + "/model/caf%C3%A9-%E1%88%B4/invoke", JSON, "{}", "us-east-1", "bedrock", None),
    ("unicode-path-raw-utf8", "POST", BR + "/model/caf\u00e9-\u1234/invoke", JSON, "{}", "us-east-1", "bedrock", None),
    ("reserved-characters-encoded", "GET", BR + "/model/a%21b%2Ac%27d%28e%29f%24g%26h%2Bi%2Cj%3Bk%3Dl%40m%20n%7E/x",
     [], "", "us-east-1", "bedrock", None),
    ("reserved-characters-raw", "GET", BR + "/model/a!b*c'd(e)f$g&h+i,j;k=l@m~/x", [], "", "us-east-1", "bedrock", None),
    ("repeated-query-keys", "GET", "https://example.amazonaws.com/path?b=2&a=3&a=1&c=&a=10",
     [], "", "us-east-1", "service", None),
    ("query-reserved-encoded", "GET", "https://example.amazonaws.com/?list-type=2&prefix=a%2Fb%3Ac&marker=%E1%88%B4",
     [], "", "eu-west-1", "service", TOKEN),
    ("headers-with-odd-spacing", "POST", BR + "/model/amazon.titan-text-express-v1/invoke",
     [("Content-Type", "application/json"), ("X-Amzn-Bedrock-GuardrailIdentifier", "  gr-1   abc  "),
      ("X-Custom", "a   b\t c"), ("x-custom", "second"), ("X-Empty", "")],
     "{}", "us-east-1", "bedrock", None),
    ("sts-assume-role-form", "POST", "https://sts.us-east-1.amazonaws.com/",
     [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
     "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fflashback-bedrock"
     "&RoleSessionName=signgate&ExternalId=ext-123&DurationSeconds=3600", "us-east-1", "sts", TOKEN),
    ("sts-get-caller-identity", "POST", "https://sts.amazonaws.com/",
     [("Content-Type", "application/x-www-form-urlencoded")], "Action=GetCallerIdentity&Version=2011-06-15",
     "us-east-1", "sts", None),
    ("generic-get-with-port", "GET", "https://abc123.execute-api.eu-central-1.amazonaws.com:8443/prod/items/42?q=x",
     [("Accept", "application/json")], "", "eu-central-1", "execute-api", None),
    ("dot-segments-normalized", "GET", "https://example.amazonaws.com/a/./b/../c//d/", [], "", "us-east-1", "service", None),
]


def host_of(url):
    parts = urlsplit(url)
    host = parts.hostname
    if parts.port and parts.port != {"https": 443, "http": 80}[parts.scheme]:
        host += ":%d" % parts.port
    return host


def build():
    out = []
    for name, method, url, headers, body, region, service, token in CASES:
        signed_headers = list(headers) + [("Host", host_of(url))]
        expected = botocore_sigv4.sign(method, url, signed_headers, body, region, service, AK, SK, token)
        out.append({"name": name, "method": method, "url": url, "headers": [list(h) for h in headers],
                    "body": body, "region": region, "service": service, "access_key": AK, "secret_key": SK,
                    "session_token": token or "", "time": "2015-08-30T12:36:00Z", "expected": expected})
    return {"generated_by": "botocore " + botocore_sigv4.botocore.__version__ if hasattr(botocore_sigv4, "botocore")
            else "botocore", "cases": out}


if __name__ == "__main__":
    data = build()
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote %d cases to %s" % (len(data["cases"]), os.path.relpath(OUT)))
