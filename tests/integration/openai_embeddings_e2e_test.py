#!/usr/bin/python3
"""POST /v1/embeddings through signgate with `openai` v6, the AI SDK and LangChain, unchanged,
against the emulator's Titan v2, Cohere Embed v3 and Nova embeddings: every vector is the one
the model made for that text, in input order (arrays fan out one call per text on Titan and
Nova, 96 per call on Cohere), base64 or floats as asked, with the tokens Bedrock counted."""
import json
import os
import subprocess
import unittest
from urllib.request import urlopen

from common import ROOT  # noqa: F401  (puts tests/fakes on the path)
import aws_fake
import embeddings_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway

E2E = os.path.join(ROOT, "tests", "e2e")
SECRET = "sgk_embeddings_TEST_0123456789abcdefghijk"
MODELS = "models:\n  titan-v2: amazon.titan-embed-text-v2:0\n  cohere: cohere.embed-english-v3\n" \
         "  nova-embed: amazon.nova-2-multimodal-embeddings-v1:0\n"


def head(text, size):
    v = embeddings_fake.vector(text, size)
    return {"length": size, "first": v[:3]}


class Embeddings(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        cls.gw = Gateway(url, [{"name": "rag", "secret": SECRET,
                                "models": '["amazon.titan-embed-*", "cohere.embed-*", "amazon.nova-*"]'}],
                         extra=MODELS)
        env = dict(os.environ, SIGNGATE_URL=cls.gw.url, SIGNGATE_SECRET=SECRET, NODE_NO_WARNINGS="1")
        for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            env.pop(k, None)
        p = subprocess.run(["node", "openai_embeddings.mjs"], cwd=E2E, env=env, capture_output=True, timeout=120)
        cls.stderr = p.stderr.decode()
        cls.fake_stats = json.loads(urlopen(url + "/_fake/stats").read())
        cls.results = {r["name"]: r for r in map(json.loads, p.stdout.decode().splitlines())}
        cls.gw.stop()
        cls.audit = cls.gw.audit()
        cls.fake.shutdown()

    def ok(self, name):
        self.assertIn(name, self.results, self.stderr)
        r = self.results[name]
        self.assertTrue(r["ok"], r)
        return r

    def assertVector(self, got, text, size):
        self.assertEqual(got["length"], size)
        for a, b in zip(got["first"], embeddings_fake.vector(text, size)[:3]):
            self.assertAlmostEqual(a, b, places=5)  # float32 on the wire

    def test_openai_default_base64(self):
        r = self.ok("openai.base64")
        self.assertVector(r["vectors"][0], "hello world", 1024)
        self.assertEqual(r["usage"], {"prompt_tokens": 2, "total_tokens": 2})
        self.assertEqual(r["model"], "titan-v2")

    def test_openai_array_in_order_with_dimensions(self):
        r = self.ok("openai.float.dimensions")
        self.assertEqual(r["indexes"], [0, 1, 2])
        for got, text in zip(r["vectors"], ["one", "two", "three"]):
            self.assertVector(got, text, 256)
        self.assertEqual(r["usage"]["prompt_tokens"], 3)

    def test_cohere_batches_of_96(self):
        r = self.ok("openai.cohere")
        self.assertEqual(r["count"], 100)
        self.assertVector(r["last"], "text 99", 1024)
        self.assertEqual(r["usage"]["prompt_tokens"], 200)

    def test_nova(self):
        self.assertVector(self.ok("openai.nova")["vectors"][0], "hello world", 1024)

    def test_refusals(self):
        r = self.results["openai.tokens"]
        self.assertEqual((r["ok"], r["status"], r["param"]), (False, 400, "input[0]"))
        r = self.results["openai.not-an-embedder"]
        self.assertEqual((r["ok"], r["status"], r["param"]), (False, 400, "model"))

    def test_ai_sdk(self):
        self.assertVector(self.ok("ai.embed")["vector"], "hello world", 1024)
        for got, text in zip(self.ok("ai.embedMany")["vectors"], ["one", "two", "three"]):
            self.assertVector(got, text, 1024)

    def test_langchain(self):
        self.assertVector(self.ok("langchain.query")["vector"], "hello world", 1024)
        for got, text in zip(self.ok("langchain.documents")["vectors"], ["one", "two", "three"]):
            self.assertVector(got, text, 1024)

    def test_fan_out_and_audit(self):
        # Titan: one call per text; Cohere: 100 texts in 2 calls; Nova: 1.
        calls = 1 + 3 + 2 + 1 + 1 + 3 + 1 + 3
        self.assertEqual(self.fake_stats["counts"].get("embeddings"), calls)
        self.assertNotIn("rejected", self.fake_stats["counts"])
        lines = [l for l in self.audit if l["operation"] == "invoke"]
        self.assertEqual(len(lines), 8)
        self.assertTrue(all(l["status"] == 200 and l["client"] == "rag" for l in lines))
        self.assertEqual(sorted(l["input_tokens"] for l in lines), [2, 2, 2, 2, 3, 3, 3, 200])


if __name__ == "__main__":
    unittest.main()
