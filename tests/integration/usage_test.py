#!/usr/bin/python3
"""Every answered call's token usage, as Bedrock reported it, in its audit line (SPEC §8): one
real request through `signgate serve` to the emulator (aws_fake.py, every signature verified by
botocore) per surface and usage shape, the answer's shape chosen by the test (aws_fake's
invoke_answer, invoke_stream_answer, converse_usage, openai_usage), then the audit line's
input_tokens (Bedrock's meaning: without cache tokens), output_tokens, cache_read_tokens,
cache_write_tokens, cache_write_1h_tokens and service_tier asserted exactly, and the cost_usd
signgate computed from them against a hand-computed value at the prices of the `pricing:` block
below (every entry complete, so nothing is taken from the shipped table): input, output, cache
reads, 5-minute writes (cache_write less cache_write_1h) and 1-hour writes times their prices per
million tokens, times the tier's multiplier, times 1 + the regional premium."""
import http.client
import json
import unittest
import urllib.parse

from common import ROOT, frames_of  # noqa: F401  (ROOT puts tests/fakes on the path)
import aws_fake
import embeddings_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway

SECRET = "sgk_usage_TEST_secret_0123456789abcdef"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "amazon.nova-pro-v1:0"
LLAMA = "meta.llama3-8b-instruct-v1:0"
TITAN = "amazon.titan-text-express-v1"
TITAN_EMBED = "amazon.titan-embed-text-v2:0"
COHERE = "cohere.command-r-v1:0"
MISTRAL = "mistral.mistral-large-2402-v1:0"
SONNET_US = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
UNPRICED = "acme.unpriced-model-v1:0"
MODELS = "models:\n  gpt-oss: {id: openai.gpt-oss-120b-1:0, api: openai, endpoint: runtime}\n"
TIERS = "tiers: {priority: 1.75, flex: 0.5}"
PRICING = """pricing:
  "anthropic.claude-3-haiku-*": {input: 3, output: 15, cache_read: 0.3, cache_write: 3.75, cache_write_1h: 6, \
regional_premium: 0, %(t)s}
  "anthropic.claude-sonnet-4-5-*": {input: 3, output: 15, cache_read: 0.3, cache_write: 3.75, cache_write_1h: 6, \
regional_premium: 0.1, %(t)s}
  "amazon.nova-pro-*": {input: 0.8, output: 3.2, cache_read: 0.2, cache_write: 1, cache_write_1h: 2, \
regional_premium: 0, %(t)s}
  "meta.llama3-8b-*": {input: 0.3, output: 0.6, cache_read: 0, cache_write: 0, cache_write_1h: 0, regional_premium: 0}
  "amazon.titan-text-express-*": {input: 0.2, output: 0.6, cache_read: 0, cache_write: 0, regional_premium: 0}
  "cohere.command-r-v1*": {input: 0.5, output: 1.5, cache_read: 0, cache_write: 0, regional_premium: 0}
  "mistral.mistral-large-2402-*": {input: 4, output: 12, cache_read: 0, cache_write: 0, regional_premium: 0}
  "amazon.titan-embed-text-v2*": {input: 0.02, output: 0, cache_read: 0, cache_write: 0, regional_premium: 0}
  "cohere.embed-english-v3*": {input: 0.1, output: 0, cache_read: 0, cache_write: 0, regional_premium: 0}
  "openai.gpt-oss-120b*": {input: 0.15, output: 0.6, cache_read: 0.075, cache_write: 0, regional_premium: 0, %(t)s}
""" % {"t": TIERS}

# Converse's usage with 1,000 tokens read from the cache and 2,000 written, 1,500 of them for an hour.
CONVERSE_USAGE = {"inputTokens": 21, "outputTokens": 9, "totalTokens": 3030, "cacheReadInputTokens": 1000,
                  "cacheWriteInputTokens": 2000,
                  "cacheDetails": [{"ttl": "1h", "inputTokens": 1500}, {"ttl": "5m", "inputTokens": 500}]}
CONVERSE_AUDIT = (21, 9, 1000, 2000, 1500)
# Its cost at the prices below, in USD × 1e6, before the tier: input, output, cache reads,
# 5-minute writes (2000 − 1500) and 1-hour writes.
NOVA_CONVERSE = 21 * 0.8 + 9 * 3.2 + 1000 * 0.2 + 500 * 1 + 1500 * 2
CLAUDE_CONVERSE = 21 * 3 + 9 * 15 + 1000 * 0.3 + 500 * 3.75 + 1500 * 6

# Claude's usage with a 5-minute and a 1-hour cache write.
ANTHROPIC_USAGE = {"input_tokens": 30, "cache_creation_input_tokens": 3000, "cache_read_input_tokens": 500,
                   "output_tokens": 12,
                   "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000}}
ANTHROPIC_HEADERS = {"X-Amzn-Bedrock-Input-Token-Count": "30", "X-Amzn-Bedrock-Output-Token-Count": "12",
                     "X-Amzn-Bedrock-Cache-Read-Input-Token-Count": "500",
                     "X-Amzn-Bedrock-Cache-Write-Input-Token-Count": "3000"}
ANTHROPIC_AUDIT = (30, 12, 500, 3000, 2000)


def anthropic_answer(model=CLAUDE):
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": "cached"}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": ANTHROPIC_USAGE}


def anthropic_chunks(output=13):
    return [{"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                                  "model": CLAUDE, "content": [], "stop_reason": None,
                                                  "usage": dict(ANTHROPIC_USAGE, output_tokens=1)}},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "cached"}},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
             "usage": {"output_tokens": output}},
            {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": 30, "outputTokenCount": output, "invocationLatency": 10, "firstByteLatency": 5,
                "cacheReadInputTokenCount": 500, "cacheWriteInputTokenCount": 3000}}]


def request(url, path, body, headers=None):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    h = {"Authorization": "Bearer " + SECRET, "Content-Type": "application/json"}
    h.update(headers or {})
    conn.request("POST", path, body=json.dumps(body) if not isinstance(body, (str, bytes)) else body, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data



def sse_data(text):
    return [json.loads(line[6:]) for line in text.decode().splitlines()
            if line.startswith("data: ") and line != "data: [DONE]"]


class UsageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake, cls.fake_url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        cls.gw = Gateway(cls.fake_url, [{"name": "usage", "secret": SECRET}], extra=MODELS + PRICING)

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.fake.shutdown()

    def tearDown(self):
        for name in ("invoke_answer", "invoke_stream_answer", "converse_usage"):
            setattr(self.fake, name, None)
        self.fake.openai.usage = None
        self.fake.openai.service_tier = "default"

    def audited(self, headers, expected, tier="", cost=None):
        """The request's audit line, its usage asserted: (input, output, cache read, cache write,
        1-hour writes), the service tier, and cost_usd (USD: a sum of tokens × USD per million,
        / 1e6) when given."""
        line = self.gw.audit_line_of(headers["x-request-id"])
        self.assertIsNotNone(line, self.gw.logs())
        # The audit writes cache_write_1h_tokens only when there are any, and an empty tier as null.
        got = tuple(line.get(k, 0) for k in ("input_tokens", "output_tokens", "cache_read_tokens",
                                             "cache_write_tokens", "cache_write_1h_tokens"))
        self.assertEqual(got, expected, line)
        self.assertEqual(line["service_tier"], tier or None, line)
        self.assertEqual(line["tokens_from"], "bedrock", line)
        if cost is not None:
            self.assertIsNotNone(line["cost_usd"], line)
            self.assertAlmostEqual(line["cost_usd"], cost / 1e6, places=12, msg=line)
        return line

    def invoke(self, model, body=None, headers=None):
        status, h, data = request(self.gw.url, "/model/%s/invoke" % model, body or {"prompt": "hi"}, headers)
        self.assertEqual(status, 200, data)
        return h, data

    # ---- native InvokeModel, family by family

    def test_native_invoke_anthropic_with_5m_and_1h_cache_writes(self):
        self.fake.invoke_answer = {"body": anthropic_answer(), "headers": ANTHROPIC_HEADERS}
        h, data = self.invoke(CLAUDE, {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 9,
                                       "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(json.loads(data)["usage"], ANTHROPIC_USAGE)  # passed through untouched
        # 30 × 3 + 12 × 15 + 500 × 0.3 + (3000 − 2000) × 3.75 + 2000 × 6
        self.audited(h, ANTHROPIC_AUDIT, cost=30 * 3 + 12 * 15 + 500 * 0.3 + 1000 * 3.75 + 2000 * 6)

    def test_native_invoke_anthropic_cache_from_the_body_when_headers_lack_it(self):
        self.fake.invoke_answer = {"body": anthropic_answer(), "headers": {
            "X-Amzn-Bedrock-Input-Token-Count": "30", "X-Amzn-Bedrock-Output-Token-Count": "12"}}
        h, _ = self.invoke(CLAUDE, {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 9, "messages": []})
        self.audited(h, ANTHROPIC_AUDIT, cost=16170)

    def test_native_invoke_nova(self):
        self.fake.invoke_answer = {"body": {
            "output": {"message": {"role": "assistant", "content": [{"text": "x"}]}}, "stopReason": "end_turn",
            "usage": {"inputTokens": 40, "outputTokens": 7, "totalTokens": 1047, "cacheReadInputTokenCount": 600,
                      "cacheWriteInputTokenCount": 400}},
            "headers": {"X-Amzn-Bedrock-Input-Token-Count": "40", "X-Amzn-Bedrock-Output-Token-Count": "7"}}
        h, _ = self.invoke(NOVA, {"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
        self.audited(h, (40, 7, 600, 400, 0), cost=40 * 0.8 + 7 * 3.2 + 600 * 0.2 + 400 * 1)

    def test_native_invoke_llama(self):
        self.fake.invoke_answer = {"body": {"generation": "x", "prompt_token_count": 17,
                                            "generation_token_count": 33, "stop_reason": "stop"}}
        h, _ = self.invoke(LLAMA)
        self.audited(h, (17, 33, 0, 0, 0), cost=17 * 0.3 + 33 * 0.6)

    def test_native_invoke_titan_text_sums_its_results(self):
        self.fake.invoke_answer = {"body": {"inputTextTokenCount": 8, "results": [
            {"tokenCount": 20, "outputText": "a", "completionReason": "FINISH"},
            {"tokenCount": 22, "outputText": "b", "completionReason": "FINISH"}]}}
        h, _ = self.invoke(TITAN, {"inputText": "hi"})
        self.audited(h, (8, 42, 0, 0, 0), cost=8 * 0.2 + 42 * 0.6)

    def test_native_invoke_cohere_command_r(self):
        self.fake.invoke_answer = {"body": {"response_id": "r", "text": "x", "generation_id": "g",
                                            "finish_reason": "COMPLETE", "meta": {
                                                "api_version": {"version": "1"},
                                                "billed_units": {"input_tokens": 25, "output_tokens": 11}}}}
        h, _ = self.invoke(COHERE, {"message": "hi"})
        self.audited(h, (25, 11, 0, 0, 0), cost=25 * 0.5 + 11 * 1.5)

    def test_native_invoke_mistral_headers_only(self):
        self.fake.invoke_answer = {"body": {"outputs": [{"text": "x", "stop_reason": "stop"}]}, "headers": {
            "X-Amzn-Bedrock-Input-Token-Count": "9", "X-Amzn-Bedrock-Output-Token-Count": "4"}}
        h, _ = self.invoke(MISTRAL)
        self.audited(h, (9, 4, 0, 0, 0), cost=9 * 4 + 4 * 12)

    def test_native_invoke_priority_tier_from_bedrocks_header(self):
        h, _ = self.invoke(NOVA, {"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
                           {"X-Amzn-Bedrock-Service-Tier": "priority"})
        self.audited(h, (12, 5, 0, 0, 0), "priority", cost=(12 * 0.8 + 5 * 3.2) * 1.75)

    def test_native_invoke_stream_anthropic(self):
        self.fake.invoke_stream_answer = {"chunks": anthropic_chunks()}
        status, h, data = request(self.gw.url, "/model/%s/invoke-with-response-stream" % CLAUDE,
                                  {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 9, "messages": []})
        self.assertEqual(status, 200, data)
        self.assertEqual(len(frames_of(data)), 6)
        self.audited(h, (30, 13, 500, 3000, 2000), cost=30 * 3 + 13 * 15 + 500 * 0.3 + 1000 * 3.75 + 2000 * 6)

    def test_native_invoke_stream_nova_flex(self):
        self.fake.invoke_stream_answer = {"chunks": [
            {"contentBlockDelta": {"delta": {"text": "x"}, "contentBlockIndex": 0}},
            {"metadata": {"usage": {"inputTokens": 40, "outputTokens": 7}},
             "amazon-bedrock-invocationMetrics": {"inputTokenCount": 40, "outputTokenCount": 7,
                                                  "cacheReadInputTokenCount": 600, "cacheWriteInputTokenCount": 0,
                                                  "invocationLatency": 3, "firstByteLatency": 1}}]}
        status, h, data = request(self.gw.url, "/model/%s/invoke-with-response-stream" % NOVA,
                                  {"messages": []}, {"X-Amzn-Bedrock-Service-Tier": "flex"})
        self.assertEqual(status, 200, data)
        self.audited(h, (40, 7, 600, 0, 0), "flex", cost=(40 * 0.8 + 7 * 3.2 + 600 * 0.2) * 0.5)

    # ---- native Converse and ConverseStream

    def test_native_converse_with_cache_details(self):
        self.fake.converse_usage = {"usage": CONVERSE_USAGE, "serviceTier": "priority"}
        status, h, data = request(self.gw.url, "/model/%s/converse" % NOVA,
                                  {"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
        self.assertEqual(status, 200, data)
        self.assertEqual(json.loads(data)["usage"]["cacheDetails"], CONVERSE_USAGE["cacheDetails"])
        self.audited(h, CONVERSE_AUDIT, "priority", cost=NOVA_CONVERSE * 1.75)

    def test_native_converse_stream_with_cache_details(self):
        self.fake.converse_usage = {"usage": CONVERSE_USAGE, "serviceTier": "flex"}
        status, h, data = request(self.gw.url, "/model/%s/converse-stream" % NOVA,
                                  {"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
        self.assertEqual(status, 200, data)
        self.audited(h, CONVERSE_AUDIT, "flex", cost=NOVA_CONVERSE * 0.5)

    def test_native_converse_tier_asked_when_bedrock_names_none(self):
        status, h, data = request(self.gw.url, "/model/%s/converse" % NOVA,
                                  {"messages": [{"role": "user", "content": [{"text": "hi"}]}],
                                   "serviceTier": {"type": "flex"}})
        self.assertEqual(status, 200, data)
        self.audited(h, (12, 5, 0, 0, 0), "flex", cost=(12 * 0.8 + 5 * 3.2) * 0.5)

    # ---- OpenAI chat completions and Responses (Converse behind them)

    def test_openai_chat_keeps_the_callers_total_and_audits_bedrocks(self):
        self.fake.converse_usage = {"usage": CONVERSE_USAGE}
        status, h, data = request(self.gw.url, "/v1/chat/completions",
                                  {"model": CLAUDE, "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(status, 200, data)
        usage = json.loads(data)["usage"]
        self.assertEqual((usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"]), (3021, 1000))
        self.audited(h, CONVERSE_AUDIT, "default", cost=CLAUDE_CONVERSE)

    def test_openai_chat_stream(self):
        self.fake.converse_usage = {"usage": CONVERSE_USAGE, "serviceTier": "priority"}
        status, h, data = request(self.gw.url, "/v1/chat/completions",
                                  {"model": NOVA, "stream": True, "stream_options": {"include_usage": True},
                                   "service_tier": "priority", "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(status, 200, data)
        self.assertEqual(sse_data(data)[-1]["usage"]["prompt_tokens"], 3021)
        self.audited(h, CONVERSE_AUDIT, "priority", cost=NOVA_CONVERSE * 1.75)

    def test_openai_responses(self):
        self.fake.converse_usage = {"usage": CONVERSE_USAGE}
        status, h, data = request(self.gw.url, "/v1/responses", {"model": CLAUDE, "input": "hi", "store": False})
        self.assertEqual(status, 200, data)
        self.assertEqual(json.loads(data)["usage"]["input_tokens"], 3021)
        self.audited(h, CONVERSE_AUDIT, "default", cost=CLAUDE_CONVERSE)

    def test_openai_responses_stream(self):
        self.fake.converse_usage = {"usage": CONVERSE_USAGE, "serviceTier": "flex"}
        status, h, data = request(self.gw.url, "/v1/responses",
                                  {"model": NOVA, "input": "hi", "stream": True, "store": False,
                                   "service_tier": "flex"})
        self.assertEqual(status, 200, data)
        self.audited(h, CONVERSE_AUDIT, "flex", cost=NOVA_CONVERSE * 0.5)

    # ---- Anthropic Messages (InvokeModel behind it)

    def test_anthropic_messages_with_a_1h_cache_write(self):
        self.fake.invoke_answer = {"body": anthropic_answer(), "headers": ANTHROPIC_HEADERS}
        status, h, data = request(self.gw.url, "/v1/messages", {"model": CLAUDE, "max_tokens": 9,
                                                                "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(status, 200, data)
        self.assertEqual(json.loads(data)["usage"]["cache_creation"]["ephemeral_1h_input_tokens"], 2000)
        self.audited(h, ANTHROPIC_AUDIT, "default", cost=16170)

    def test_anthropic_messages_stream_with_a_1h_cache_write(self):
        self.fake.invoke_stream_answer = {"chunks": anthropic_chunks()}
        status, h, data = request(self.gw.url, "/v1/messages",
                                  {"model": CLAUDE, "max_tokens": 9, "stream": True,
                                   "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(status, 200, data)
        self.assertIn(b"event: message_stop", data)
        self.audited(h, (30, 13, 500, 3000, 2000), "default", cost=16185)

    # ---- embeddings: one InvokeModel per text, summed

    def test_embeddings_of_several_texts(self):
        texts = ["one", "a somewhat longer text to embed", "three words here"]
        status, h, data = request(self.gw.url, "/v1/embeddings", {"model": TITAN_EMBED, "input": texts})
        self.assertEqual(status, 200, data)
        expected = sum(embeddings_fake.tokens(t) for t in texts)
        self.assertEqual(json.loads(data)["usage"]["prompt_tokens"], expected)
        self.audited(h, (expected, 0, 0, 0, 0), cost=expected * 0.02)

    def test_embeddings_from_bedrocks_headers(self):
        # Cohere Embed says no count in its body: each call's header does.
        self.fake.invoke_answer = {"body": {"id": "e", "texts": ["a", "b"], "embeddings": [[0.5, 0.25], [0.5, 0.25]],
                                            "response_type": "embeddings_floats"},
                                   "headers": {"X-Amzn-Bedrock-Input-Token-Count": "7"}}
        status, h, data = request(self.gw.url, "/v1/embeddings",
                                  {"model": "cohere.embed-english-v3", "input": ["a", "b"]})
        self.assertEqual(status, 200, data)
        line = self.gw.audit_line_of(h["x-request-id"])
        # Cohere Embed takes up to 96 texts a call: one call, one header.
        self.assertEqual((line["input_tokens"], line["output_tokens"], line["cache_read_tokens"]), (7, 0, 0), line)
        self.assertAlmostEqual(line["cost_usd"], 7 * 0.1 / 1e6, places=12, msg=line)

    # ---- prices: a geographic profile's regional premium, a model with none

    def test_geographic_profile_pays_the_regional_premium(self):
        self.fake.invoke_answer = {"body": {"id": "m", "type": "message", "role": "assistant", "content": [],
                                            "usage": {"input_tokens": 100, "output_tokens": 10}}}
        h, _ = self.invoke(SONNET_US, {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 9,
                                       "messages": [{"role": "user", "content": "hi"}]})
        self.audited(h, (100, 10, 0, 0, 0), cost=(100 * 3 + 10 * 15) * 1.1)

    def test_unpriced_model_is_served_with_a_null_cost(self):
        self.fake.invoke_answer = {"body": {"outputs": [{"text": "x"}]}, "headers": {
            "X-Amzn-Bedrock-Input-Token-Count": "9", "X-Amzn-Bedrock-Output-Token-Count": "4"}}
        h, data = self.invoke(UNPRICED)
        self.assertEqual(json.loads(data)["outputs"][0]["text"], "x")
        line = self.audited(h, (9, 4, 0, 0, 0))
        self.assertIsNone(line["cost_usd"], line)
        self.assertIn("no price is known for model " + UNPRICED, self.gw.logs())

    # ---- Bedrock's OpenAI-compatible API (bedrock-runtime's /openai/v1)

    def test_openai_api_model_cached_tokens_are_cache_reads(self):
        self.fake.openai.usage = {"prompt_tokens": 1200, "completion_tokens": 30,
                                  "prompt_tokens_details": {"cached_tokens": 1024}}
        status, h, data = request(self.gw.url, "/v1/chat/completions",
                                  {"model": "gpt-oss", "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(status, 200, data)
        self.assertEqual(json.loads(data)["usage"]["prompt_tokens"], 1200)  # the caller's, as OpenAI counts
        self.audited(h, (176, 30, 1024, 0, 0), "default", cost=176 * 0.15 + 30 * 0.6 + 1024 * 0.075)

    def test_openai_api_model_stream_and_tier(self):
        self.fake.openai.usage = {"prompt_tokens": 1200, "completion_tokens": 30,
                                  "prompt_tokens_details": {"cached_tokens": 1024}}
        self.fake.openai.service_tier = "priority"
        status, h, data = request(self.gw.url, "/v1/chat/completions",
                                  {"model": "gpt-oss", "stream": True,
                                   "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(status, 200, data)
        self.audited(h, (176, 30, 1024, 0, 0), "priority", cost=(176 * 0.15 + 30 * 0.6 + 1024 * 0.075) * 1.75)


if __name__ == "__main__":
    unittest.main()
