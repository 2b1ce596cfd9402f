#!/usr/bin/python3
"""`signgate sign --send` against a local AWS endpoint that verifies signatures with
botocore: plain http on loopback, TLS with a test CA (and its refusal without it),
streamed event-stream answers, a wrong secret, and a closed port."""
import json
import socket
import struct
import unittest
import zlib

from common import make_ca, run, tempdir
import aws_fake

AK, SK, TOKEN = "ASIAEXAMPLE", "secret/with+chars", "session-token-xyz"
CREDS = ["--access-key", AK, "--secret-key", SK, "--session-token", TOKEN]
CONVERSE = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})


def split_response(raw):
    head, _, body = raw.partition(b"\n\n")
    lines = head.decode().splitlines()
    return int(lines[0].split()[1]), dict(line.split(": ", 1) for line in lines[1:]), body


def decode_frames(data):
    """Event-stream frames, decoded here independently of signgate's decoder."""
    frames = []
    while data:
        total, hlen = struct.unpack(">II", data[:8])
        assert zlib.crc32(data[:8]) == struct.unpack(">I", data[8:12])[0]
        assert zlib.crc32(data[:total - 4]) == struct.unpack(">I", data[total - 4:total])[0]
        frames.append(json.loads(data[12 + hlen:total - 4]))
        data = data[total:]
    return frames


# A Converse body the emulator accepts (it checks bodies as Bedrock does).
CONVERSE = '{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'


class SendOverHttp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server, cls.url = aws_fake.start({AK: (SK, TOKEN)}, frame_delay=0.01)

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()

    def send(self, *args, **kw):
        return run("sign", "--send", "--region", "us-east-1", *args, **kw)

    def test_credentials_from_the_chain(self):
        """Without key flags, sign takes the chain's credentials (here: a profile named by AWS_PROFILE)."""
        with tempdir() as home:
            with open(home + "/credentials", "w") as f:
                f.write("[team]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n"
                        % (AK, SK, TOKEN))
            p = self.send("--service", "bedrock", "-H", "Content-Type: application/json", "--data", CONVERSE,
                          self.url + "/model/m/converse", clear_aws=True,
                          env={"HOME": home, "AWS_PROFILE": "team", "AWS_SHARED_CREDENTIALS_FILE": home + "/credentials",
                               "AWS_EC2_METADATA_DISABLED": "true"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(split_response(p.stdout)[0], 200, p.stdout)

    def test_converse_is_accepted(self):
        """A Converse call with ':' in the model ID passes botocore's verification."""
        p = self.send("--service", "bedrock", *CREDS, "-H", "Content-Type: application/json", "--data", CONVERSE,
                      self.url + "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse")
        self.assertEqual(p.returncode, 0, p.stderr)
        status, headers, body = split_response(p.stdout)
        self.assertEqual(status, 200, body)
        answer = json.loads(body)
        self.assertEqual(answer["output"]["message"]["content"][0]["text"],
                         "Hello from anthropic.claude-3-haiku-20240307-v1:0")
        self.assertEqual(headers["X-Amzn-Bedrock-Input-Token-Count"], "12")

    def test_stream_arrives_whole(self):
        """ConverseStream's chunked event-stream body is printed byte for byte."""
        p = self.send("--service", "bedrock", *CREDS, "-H", "Content-Type: application/json",
                      "-H", "Accept: application/vnd.amazon.eventstream", "--data", CONVERSE,
                      self.url + "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A111122223333%3Ainference-profile%2F"
                                 "us.anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream")
        self.assertEqual(p.returncode, 0, p.stderr)
        status, _, body = split_response(p.stdout)
        self.assertEqual(status, 200, body)
        frames = decode_frames(body)
        self.assertEqual(frames[0], {"role": "assistant"})
        self.assertEqual(frames[-1]["usage"]["outputTokens"], 5)

    def test_events_are_decoded_as_they_arrive(self):
        """--events prints one line per event-stream message, decoded and CRC-checked by signgate."""
        p = self.send("--service", "bedrock", *CREDS, "--events", "--data", CONVERSE,
                      self.url + "/model/m%3A0/converse-stream")
        self.assertEqual(p.returncode, 0, p.stderr)
        _, _, body = split_response(p.stdout)
        lines = body.decode().splitlines()
        self.assertEqual(lines[0], 'messageStart {"role":"assistant"}')
        self.assertEqual(lines[1], 'contentBlockDelta {"contentBlockIndex":0,"delta":{"text":"Hello"}}')
        self.assertTrue(lines[-1].startswith("metadata "))
        self.assertEqual(len(lines), 7)

    def test_corrupted_stream_is_reported(self):
        """A frame whose CRC does not match ends the command with exit 1 and the reason."""
        self.server.corrupt_streams = True
        try:
            p = self.send("--service", "bedrock", *CREDS, "--events", "--data", CONVERSE,
                          self.url + "/model/m/converse-stream")
        finally:
            self.server.corrupt_streams = False
        self.assertEqual(p.returncode, 1)
        self.assertIn("Message checksum mismatch", p.stderr.decode())

    def test_sts_form_post(self):
        """An STS Query API call (form body) verifies with service sts."""
        p = self.send("--service", "sts", *CREDS, "-H", "Content-Type: application/x-www-form-urlencoded",
                      "--data", "Action=GetCallerIdentity&Version=2011-06-15", self.url + "/")
        status, _, body = split_response(p.stdout)
        self.assertEqual(status, 200, body)
        self.assertIn(b"<Account>111122223333</Account>", body)

    def test_wrong_secret_is_refused_by_the_verifier(self):
        """A signature the verifier does not accept comes back as AWS's 403; the exchange itself worked."""
        p = self.send("--service", "bedrock", "--access-key", AK, "--secret-key", "wrong", "--session-token", TOKEN,
                      "--data", CONVERSE, self.url + "/model/m/converse")
        self.assertEqual(p.returncode, 0, p.stderr)
        status, headers, _ = split_response(p.stdout)
        self.assertEqual(status, 403)
        self.assertEqual(headers["x-amzn-ErrorType"], "SignatureDoesNotMatch")

    def test_query_and_odd_headers(self):
        """Repeated query keys, a repeated header and odd spacing verify end to end."""
        p = self.send("--service", "execute-api", *CREDS, "-H", "X-Odd:   a    b  ", "-H", "X-Odd: c",
                      self.url + "/items/%E1%88%B4?b=2&a=1&a=0")
        status, _, body = split_response(p.stdout)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["signed_headers"], "host;x-amz-date;x-amz-security-token;x-odd")

    def test_closed_port_is_a_one_line_failure(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        p = self.send("--service", "bedrock", *CREDS, "http://127.0.0.1:%d/model/m/converse" % port)
        self.assertEqual(p.returncode, 1)
        self.assertIn("connecting to 127.0.0.1", p.stderr.decode())
        self.assertEqual(len(p.stderr.decode().strip().splitlines()), 1)

    def test_plain_http_to_a_remote_host_is_refused(self):
        p = self.send("--service", "bedrock", *CREDS, "http://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse")
        self.assertEqual(p.returncode, 2)
        self.assertIn("plain http", p.stderr.decode())


class SendOverTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempdir()
        cls.pki = make_ca(cls.dir.name)
        cls.server, url = aws_fake.start({AK: (SK, TOKEN)}, tls_cert=cls.pki["cert"], tls_key=cls.pki["key"])
        cls.url = url.replace("127.0.0.1", "localhost")

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.dir.cleanup()

    def args(self, *extra):
        return ["sign", "--send", "--region", "us-east-1", "--service", "bedrock", *CREDS, "--data", CONVERSE, *extra,
                self.url + "/model/m%3A0/converse"]

    def test_verified_with_the_given_ca(self):
        p = run(*self.args("--ca-file", self.pki["ca"]))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(split_response(p.stdout)[0], 200)

    def test_verified_with_ssl_cert_file(self):
        p = run(*self.args(), env={"SSL_CERT_FILE": self.pki["ca"]})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(split_response(p.stdout)[0], 200)

    def test_unknown_ca_is_refused(self):
        """Without the test CA the certificate does not verify and nothing is sent."""
        before = len(self.server.requests)
        p = run(*self.args())
        self.assertEqual(p.returncode, 1)
        self.assertIn("certificate verify failed", p.stderr.decode())
        self.assertEqual(len(self.server.requests), before)

    def test_wrong_host_name_is_refused(self):
        """The certificate names localhost/127.0.0.1; another name for the same server fails."""
        p = run("sign", "--send", "--region", "us-east-1", "--service", "bedrock", *CREDS, "--ca-file",
                self.pki["ca"], "-H", "Host: bedrock-runtime.us-east-1.amazonaws.com",
                self.url.replace("localhost", "127.0.0.2") + "/model/m/converse")
        self.assertEqual(p.returncode, 1, p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
