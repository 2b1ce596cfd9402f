#!/usr/bin/python3
"""Three signgate replicas sharing one Redis (Debian's redis-server, with a password, on
loopback) enforce one limit per client, not one per replica: requests a minute exactly across
the fleet, a daily token budget spent on one replica refused on all, tokens a minute likewise.
A key revoked with `signgate revoke` is refused by every replica within a second, also after a
restart, and a new secret for the client works. Stored Responses and async invocations
are the fleet's: a conversation continues on any replica. Redis paused, killed and restarted under traffic: with `on_failure: local` every request is
still answered (each replica falls back to its own limits) within the command timeout and
sharing resumes by itself; with `on_failure: deny` the callers get 503 in their dialect. Every
request has its audit line. Behind the replicas, the Bedrock/STS fake checks every signature
with botocore."""
import concurrent.futures
import http.client
import json
import os
import signal
import time
import unittest
import urllib.parse

from common import ROOT, run, wait_for  # noqa: F401  (ROOT puts tests/fakes on the path)
import aws_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway
from redis_server import PASSWORD, RedisServer

SLOWDOWN = float(os.environ.get("SIGNGATE_TEST_SLOWDOWN", "1"))  # the ASan build is slower

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
CONVERSE = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).encode()
CLIENTS = [
    {"name": "limited", "secret": "sgk_fleet_limited_TEST_0123456789abcdef", "models": '["anthropic.*"]',
     "rate_limit": "{ requests_per_minute: 6 }"},
    {"name": "budgeted", "secret": "sgk_fleet_budgeted_TEST_0123456789abcde", "models": '["anthropic.*"]',
     "budget": "{ tokens_per_day: 30 }"},
    {"name": "tokened", "secret": "sgk_fleet_tokened_TEST_0123456789abcdef", "models": '["anthropic.*"]',
     "rate_limit": "{ tokens_per_minute: 20 }"},
    {"name": "free", "secret": "sgk_fleet_free_TEST_0123456789abcdefghij", "models": '["anthropic.*"]'},
    {"name": "counted", "secret": "sgk_fleet_counted_TEST_0123456789abcdef", "models": '["anthropic.*"]',
     "rate_limit": "{ requests_per_minute: 1000000, tokens_per_minute: 1000000000 }",
     "budget": "{ tokens_per_day: 1000000000000 }"},
    {"name": "media", "secret": "sgk_fleet_media_TEST_0123456789abcdefghi", "models": '["anthropic.*", "amazon.*"]',
     "operations": "[converse, async-invoke]"},
    {"name": "studio", "secret": "sgk_fleet_studio_TEST_0123456789abcdefgh", "models": '["amazon.*"]',
     "operations": "[async-invoke]"},
    {"name": "studio2", "secret": "sgk_fleet_studio2_TEST_0123456789abcdefg", "models": '["anthropic.*"]'},
    {"name": "longtalk", "secret": "sgk_fleet_longtalk_TEST_0123456789abcdef", "models": '["anthropic.*"]'},
    {"name": "alice", "secret": "sgk_fleet_alice_TEST_0123456789abcdefghi", "models": '["amazon.*"]',
     "operations": "[async-invoke]"},
    {"name": "bob", "secret": "sgk_fleet_bob_TEST_0123456789abcdefghijk", "models": '["amazon.*"]',
     "operations": "[async-invoke]"},
    {"name": "dollars", "secret": "sgk_fleet_dollars_TEST_0123456789abcdef", "models": '["anthropic.*"]',
     "budget": "{ usd_per_day: 0.05 }"},
    {"name": "monthly", "secret": "sgk_fleet_monthly_TEST_0123456789abcdef", "models": '["anthropic.*"]',
     "budget": "{ usd_per_day: 100, usd_per_month: 0.03 }"},
]
# Prices chosen so one answer (12 input and 5 output tokens) costs 12 * 1000 / 1e6 + 5 * 2000 / 1e6
# = $0.022, 22,000,000 nano-dollars.
PRICING = 'pricing:\n  "anthropic.claude-3-haiku-*": { input: 1000, output: 2000 }\n'
CALL_NANO_USD = 22_000_000
SECRET = {c["name"]: c["secret"] for c in CLIENTS}


def converse(gw, client, path="/model/%s/converse" % MODEL):
    u = urllib.parse.urlsplit(gw.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("POST", path, body=CONVERSE,
                 headers={"Authorization": "Bearer " + SECRET[client], "Content-Type": "application/json"})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


class Fleet(unittest.TestCase):
    on_failure = "local"
    more = ""  # more config lines

    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer()
        cls.fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        cls.fake_url = url
        # Scaled under ASan: a stall past the timeout would fall back to per-replica limits.
        cls.extra = "redis: { url: \"%s\", on_failure: %s, command_timeout_ms: %d }\n" % (
            cls.redis.url, cls.on_failure, int(250 * SLOWDOWN)) + PRICING + cls.more
        cls.replicas = [Gateway(url, CLIENTS, extra=cls.extra) for _ in range(3)]
        # Every client's identity (a role session each) fetched before the tests: a first
        # request while its identity is still being fetched is a 503.
        for gw in cls.replicas:
            assert wait_for(lambda: identities_fetched(gw) == len(CLIENTS), seconds=30), gw.logs()

    @classmethod
    def tearDownClass(cls):
        codes = [gw.stop() for gw in cls.replicas]
        cls.fake.shutdown()
        cls.fake.server_close()
        cls.redis.stop()
        assert codes == [0, 0, 0], codes

    def day_spent(self, client):
        keys = self.redis.cli("--scan", "--pattern", "signgate:{%s}:day:*" % client).split()
        return int(self.redis.cli("GET", keys[0]) or 0) if keys else 0

    def audit_lines(self):
        return sum(len(gw.audit()) for gw in self.replicas)

    def script_calls(self):
        stats = self.redis.cli("INFO", "commandstats")
        return sum(int(line.split("calls=")[1].split(",")[0]) for line in stats.splitlines()
                   if line.startswith(("cmdstat_evalsha:", "cmdstat_eval:")))


class SharedLimits(Fleet):
    def test_requests_a_minute_are_one_limit_across_the_replicas(self):
        """18 requests at once, 6 to each replica, for a client allowed 6 a minute: 6 are served
        in all (a replica each would serve 18)."""
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=18) as pool:
            statuses = list(pool.map(lambda i: converse(self.replicas[i % 3], "limited")[0], range(18)))
        elapsed = time.monotonic() - started
        served = statuses.count(200)
        # The bucket refills at one request every 10 s: a slow machine may earn one more.
        self.assertGreaterEqual(served, 6, statuses)
        self.assertLessEqual(served, 6 + int(elapsed / 10), (statuses, elapsed))
        self.assertEqual(statuses.count(429), 18 - served, statuses)
        status, headers, _ = converse(self.replicas[0], "limited")
        self.assertEqual(status, 429)
        self.assertGreaterEqual(int(headers["retry-after"]), 1)

    def test_a_budget_spent_on_one_replica_is_spent_on_all(self):
        """Each answer uses 17 tokens; the budget is 30 a day: the first two calls are served
        (the second overdraws it), then every replica refuses, naming when it resets."""
        served = 0
        for i in range(6):
            before = self.day_spent("budgeted")
            status, headers, body = converse(self.replicas[i % 3], "budgeted")
            if status == 200:
                served += 1
                # The answer's tokens reach Redis once it has ended: wait for them, not a sleep.
                self.assertTrue(wait_for(lambda: self.day_spent("budgeted") > before), "the charge reached Redis")
            else:
                self.assertEqual(status, 429, body)
                self.assertIn(b"daily token budget of 30 tokens", body)
                self.assertIn(b"resets at", body)
        self.assertEqual(served, 2)
        self.assertEqual(self.day_spent("budgeted"), 34)
        text = self.replicas[2].wait_metrics('signgate_budget_remaining_tokens{client="budgeted"} 0')
        self.assertIn('signgate_budget_remaining_tokens{client="budgeted"} 0', text)

    def usd_spent(self, client, what):
        keys = self.redis.cli("--scan", "--pattern", "signgate:{%s}:%s:*" % (client, what)).split()
        return int(self.redis.cli("GET", keys[0]) or 0) if keys else 0

    def test_a_usd_budget_spent_on_one_replica_is_spent_on_all(self):
        """$0.022 an answer against $0.05 a day: admitted while spent < budget, so the third
        call (spent $0.044) is served and overdraws it; then every replica refuses with a 429
        naming usd_per_day and its reset. Redis holds the day's nano-dollars and the usage totals
        `signgate usage` reads; the audit lines and /metrics say what each call cost."""
        served = 0
        for i in range(6):
            before = self.usd_spent("dollars", "usd_day")
            status, headers, body = converse(self.replicas[i % 3], "dollars")
            if status == 200:
                served += 1
                self.assertTrue(wait_for(lambda: self.usd_spent("dollars", "usd_day") > before), "charged in Redis")
            else:
                self.assertEqual(status, 429, body)
                self.assertIn(b"daily budget of $0.05", body)
                self.assertIn(b"budget.usd_per_day", body)
                self.assertIn(b"resets at", body)
                self.assertGreaterEqual(int(headers["retry-after"]), 1)
        self.assertEqual(served, 3)
        self.assertEqual(self.usd_spent("dollars", "usd_day"), 3 * CALL_NANO_USD)
        self.assertEqual(self.usd_spent("dollars", "usd_month"), 3 * CALL_NANO_USD)
        day = time.strftime("%Y-%m-%d", time.gmtime())
        usage = self.redis.cli("HGETALL", "signgate:{dollars}:usage:" + day).split()
        totals = dict(zip(usage[0::2], usage[1::2]))
        self.assertEqual(totals, {MODEL + "|requests": "3", MODEL + "|input": "36", MODEL + "|output": "15",
                                  MODEL + "|nano_usd": str(3 * CALL_NANO_USD)})
        ttl = int(self.redis.cli("TTL", "signgate:{dollars}:usage:" + day))
        self.assertGreater(ttl, 399 * 86400)
        # Each replica writes its audit lines on its own thread, after the answer: wait for them.
        def served(gw):
            return [line for line in gw.audit() if line.get("client") == "dollars" and line["status"] == 200]
        self.assertTrue(wait_for(lambda: sum(len(served(gw)) for gw in self.replicas) == 3), "three audit lines")
        self.assertEqual([line["cost_usd"] for gw in self.replicas for line in served(gw)], [0.022] * 3)
        text = self.replicas[2].wait_metrics('signgate_budget_remaining_usd{client="dollars",budget="usd_per_day"} 0\n')
        self.assertIn('signgate_budget_remaining_usd{client="dollars",budget="usd_per_day"} 0\n', text)
        self.assertIn('signgate_cost_usd_total{client="dollars"} 0.022\n', text)

    def test_a_monthly_usd_budget_is_named_when_spent(self):
        """$0.03 a month, $100 a day: the second call overdraws the month; the 429 names
        usd_per_month and the first of next month."""
        statuses = []
        for i in range(3):
            before = self.usd_spent("monthly", "usd_month")
            status, _, body = converse(self.replicas[i % 3], "monthly")
            statuses.append(status)
            if status == 200:
                self.assertTrue(wait_for(lambda: self.usd_spent("monthly", "usd_month") > before), "charged")
        self.assertEqual(statuses, [200, 200, 429])
        self.assertIn(b"monthly budget of $0.03", body)
        self.assertIn(b"budget.usd_per_month", body)
        now = time.gmtime()
        first = "%04d-%02d-01T00:00:00Z" % ((now.tm_year + 1, 1) if now.tm_mon == 12 else (now.tm_year, now.tm_mon + 1))
        self.assertIn(first.encode(), body)

    def test_a_limited_request_costs_one_round_trip(self):
        """Requests, tokens a minute and a budget, all shared: each answer's tokens ride on the
        client's next admission instead of a script call of their own (issue 17), and none is
        lost: Redis counts every token the answers used."""
        u = urllib.parse.urlsplit(self.replicas[0].url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)  # one connection: one loop
        before = self.script_calls()
        n = 30
        for _ in range(n):
            conn.request("POST", "/model/%s/converse" % MODEL, body=CONVERSE,
                         headers={"Authorization": "Bearer " + SECRET["counted"], "Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
        conn.close()
        self.assertTrue(wait_for(lambda: self.day_spent("counted") == 17 * n), self.day_spent("counted"))
        calls = self.script_calls() - before
        # Admission carries the charge: n, plus the last answer's own; two a request before.
        self.assertLessEqual(calls, n + n // 3, "%d script calls for %d requests" % (calls, n))

    def test_what_is_owed_at_a_stop_reaches_redis(self):
        """Answers whose tokens wait for the client's next admission when the replica is told to
        stop (SIGTERM right after them) are still charged before it exits."""
        gw = Gateway(self.fake_url, CLIENTS, extra=self.extra)
        try:
            self.assertTrue(wait_for(lambda: identities_fetched(gw) == len(CLIENTS), seconds=30), gw.logs())
            before = self.day_spent("counted")
            for _ in range(5):
                self.assertEqual(converse(gw, "counted")[0], 200)
        finally:
            self.assertEqual(gw.stop(), 0)
        self.assertEqual(self.day_spent("counted") - before, 5 * 17)

    def test_a_stream_in_flight_at_a_stop_is_charged(self):
        """A stream still being answered when the replica is told to stop (SIGTERM after its
        first frame) runs to its end within the shutdown grace, and its tokens reach Redis
        before the replica exits: as many as the same stream is charged on a running replica."""
        fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID}, frame_delay=0.15)
        gw = Gateway(url, CLIENTS, extra=self.extra)
        path = "/model/%s/converse-stream" % MODEL

        def stream(after_first=None):
            u = urllib.parse.urlsplit(gw.url)
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            conn.request("POST", path, body=CONVERSE,
                         headers={"Authorization": "Bearer " + SECRET["counted"], "Content-Type": "application/json"})
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            body = r.read(1)
            if after_first is not None:
                after_first()
            body += r.read()
            conn.close()
            return body

        try:
            self.assertTrue(wait_for(lambda: identities_fetched(gw) == len(CLIENTS), seconds=30), gw.logs())
            before = self.day_spent("counted")
            self.assertIn(b"metadata", stream())
            self.assertTrue(wait_for(lambda: self.day_spent("counted") > before), "a whole stream is charged")
            time.sleep(0.2)  # nothing more comes
            one = self.day_spent("counted") - before
            before = self.day_spent("counted")
            body = stream(after_first=lambda: gw.proc.send_signal(signal.SIGTERM))
            self.assertIn(b"metadata", body, "the stream ran to its end after SIGTERM")
        finally:
            code = gw.stop()
            fake.shutdown()
            fake.server_close()
        self.assertEqual(code, 0)
        self.assertEqual(self.day_spent("counted") - before, one)

    def test_tokens_a_minute_are_one_limit_across_the_replicas(self):
        served = 0
        for i in range(4):
            before = int(float(self.redis.cli("HGET", "signgate:{tokened}:tokens", "level") or 20))
            status, _, body = converse(self.replicas[i % 3], "tokened")
            if status == 200:
                served += 1
                self.assertTrue(wait_for(lambda: float(self.redis.cli("HGET", "signgate:{tokened}:tokens", "level")
                                                        or 20) < before))
            else:
                self.assertEqual(status, 429, body)
                self.assertIn(b"20 tokens a minute", body)
        self.assertEqual(served, 2, "17 tokens, then 3 left: admitted, then overdrawn")



def post(gw, client, path, body, method="POST"):
    u = urllib.parse.urlsplit(gw.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data,
                 headers={"Authorization": "Bearer " + SECRET[client], "Content-Type": "application/json"})
    r = conn.getresponse()
    out = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, out


def completed_response(sse):
    """The response object of a streamed answer's response.completed event."""
    for block in sse.decode().split("\n\n"):
        lines = dict(l.split(": ", 1) for l in block.split("\n") if ": " in l)
        if lines.get("event") == "response.completed":
            return json.loads(lines["data"])["response"]
    raise AssertionError("no response.completed in %r" % sse[-400:])


class SharedMemory(Fleet):
    """What the gateway remembers is the fleet's: a Responses conversation begun on one replica
    continues on any other (streamed too, at once), an item of it is found by reference
    anywhere, and an async invocation started on one replica is its client's on all; another
    client sees none of it. With Redis paused, what a replica holds still works and the rest is
    a 503 to retry."""

    more = "responses: { max_mib: 1, max_mib_per_client: 1 }\n"

    def test_a_clients_share_of_redis_is_bounded(self):
        """1 MiB a client: six responses of about 300 KB each leave the newest three in Redis,
        the oldest evicted with their items, and the client's count of bytes within the share.
        Another client's responses are not touched."""
        status, _, body = post(self.replicas[0], "media", "/v1/responses", {"model": MODEL, "input": "Mine."})
        self.assertEqual(status, 200, body)
        other = json.loads(body)["id"]
        ids = []
        for i in range(6):
            big = "%d " % i + "x" * 300_000
            status, _, body = post(self.replicas[i % 3], "free", "/v1/responses", {"model": MODEL, "input": big})
            self.assertEqual(status, 200, body)
            ids.append(json.loads(body)["id"])
        kept = [i for i in ids if self.redis.cli("EXISTS", "signgate:{free}:r:" + i) == "1"]
        self.assertEqual(kept, ids[-3:])
        self.assertEqual(int(self.redis.cli("ZCARD", "signgate:{free}:responses")), 3)
        total = int(self.redis.cli("HGET", "signgate:{free}:response_bytes", ""))
        self.assertGreater(total, 900_000)
        self.assertLessEqual(total, 1 << 20)
        self.assertEqual(self.redis.cli("EXISTS", "signgate:{media}:r:" + other), "1")
        # An evicted response is gone on a replica that did not make it (replica 2 made ids[2]).
        status, _, body = post(self.replicas[1], "free", "/v1/responses",
                               {"model": MODEL, "input": "x", "previous_response_id": ids[2]})
        self.assertEqual(status, 400, body)

    def turns(self):
        return [m["role"] for m in self.fake.last_converse_body["messages"]]

    def test_a_conversation_continues_on_every_replica(self):
        first = {"model": MODEL, "input": "Say hi."}
        status, _, body = post(self.replicas[0], "free", "/v1/responses", first)
        self.assertEqual(status, 200, body)
        r1 = json.loads(body)
        status, _, body = post(self.replicas[1], "free", "/v1/responses",
                               {"model": MODEL, "input": "And then?", "previous_response_id": r1["id"]})
        self.assertEqual(status, 200, body)
        r2 = json.loads(body)
        self.assertEqual(self.turns(), ["user", "assistant", "user"], "replica 1 replayed replica 0's turn")
        # The chain: r2 (kept by replica 1) continues r1 (kept by replica 0); replica 2 has neither.
        status, _, body = post(self.replicas[2], "free", "/v1/responses",
                               {"model": MODEL, "input": "Once more.", "previous_response_id": r2["id"],
                                "stream": True})
        self.assertEqual(status, 200, body)
        r3 = completed_response(body)
        self.assertEqual(self.turns(), ["user", "assistant", "user", "assistant", "user"])
        # Streamed and continued at once on another replica: kept before it said completed.
        status, _, body = post(self.replicas[0], "free", "/v1/responses",
                               {"model": MODEL, "input": "Last.", "previous_response_id": r3["id"]})
        self.assertEqual(status, 200, body)
        self.assertEqual(len(self.turns()), 7)
        # An item of r1's output, by reference, on a replica that did not make it.
        item = next(i for i in r1["output"] if i.get("id"))
        status, _, body = post(self.replicas[2], "free", "/v1/responses",
                               {"model": MODEL, "input": [{"type": "item_reference", "id": item["id"]},
                                                          {"role": "user", "content": "Go on."}]})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.turns(), ["user", "assistant", "user"], "an opener, the item, the new turn")
        # Another client knows none of it, on any replica.
        for gw in self.replicas:
            status, _, body = post(gw, "media", "/v1/responses",
                                   {"model": MODEL, "input": "x", "previous_response_id": r1["id"]})
            self.assertEqual(status, 400, body)
            self.assertIn(b"previous response is not known", body)
        status, _, body = post(self.replicas[1], "free", "/v1/responses",
                               {"model": MODEL, "input": "x", "previous_response_id": "resp_never"})
        self.assertEqual(status, 400, body)
        self.assertIn(b"previous response is not known", body)
        # In Redis under the client's own keys, with a TTL.
        self.assertGreater(int(self.redis.cli("PTTL", "signgate:{free}:r:" + r1["id"])), 0)

    def test_everything_a_request_names_comes_in_one_round_trip(self):
        """Items of two responses and the conversation of a third, none held by the replica
        asked: one script call reads them all (one more keeps the answer)."""
        # Each answered call also adds to the client's usage totals in Redis, a script of its own
        # for a client without limits, sent a moment after the answer: counted once it landed.
        usage_key = "signgate:{studio2}:usage:" + time.strftime("%Y-%m-%d", time.gmtime())

        def requests_recorded():
            return int(self.redis.cli("HGET", usage_key, MODEL + "|requests") or 0)
        recorded = requests_recorded()
        made = []
        for gw, text in ((self.replicas[0], "A"), (self.replicas[0], "B"), (self.replicas[2], "C")):
            status, _, body = post(gw, "studio2", "/v1/responses", {"model": MODEL, "input": text})
            self.assertEqual(status, 200, body)
            made.append(json.loads(body))
        refs = [{"type": "item_reference", "id": next(i["id"] for i in r["output"] if i.get("id"))} for r in made[:2]]
        self.assertTrue(wait_for(lambda: requests_recorded() >= recorded + 3), (recorded, requests_recorded()))
        recorded = requests_recorded()
        before = self.script_calls()
        status, _, body = post(self.replicas[1], "studio2", "/v1/responses",
                               {"model": MODEL, "previous_response_id": made[2]["id"],
                                "input": refs + [{"role": "user", "content": "All of it."}]})
        self.assertEqual(status, 200, body)
        # C's question and answer, A's and B's answers (one assistant turn, as Converse takes
        # consecutive answers), the new question.
        self.assertEqual(self.turns(), ["user", "assistant", "user"])
        self.assertEqual(len(self.fake.last_converse_body["messages"][1]["content"]), 3)
        self.assertTrue(wait_for(lambda: requests_recorded() == recorded + 1), "the usage totals")
        self.assertEqual(self.script_calls() - before, 3, "one to read, one to keep, one for the usage totals")

    def test_a_chain_broken_here_behind_a_held_response_is_read_on(self):
        """Replica 0 holds R2 but gave up R1 (1 MiB for all its clients' responses: R1 was the
        oldest of the client holding most), while Redis keeps both; R5, made on replica 1,
        continues R2. Continuing R5 on replica 0 reads R5, stops at R2 (held), finds R1 missing
        behind it, and reads on until the whole conversation is there."""
        def turn(gw, client, text, previous=None):
            body = {"model": MODEL, "input": text}
            if previous:
                body["previous_response_id"] = previous
            status, _, out = post(gw, client, "/v1/responses", body)
            self.assertEqual(status, 200, out)
            return json.loads(out)["id"]

        r1 = turn(self.replicas[0], "longtalk", "1 " + "x" * 400_000)
        r2 = turn(self.replicas[0], "longtalk", "2", r1)
        turn(self.replicas[0], "media", "x" * 300_000)
        turn(self.replicas[0], "longtalk", "3 " + "x" * 350_000)  # replica 0 gives up R1
        self.assertEqual(self.redis.cli("EXISTS", "signgate:{longtalk}:r:" + r1), "1", "Redis keeps it")
        r5 = turn(self.replicas[1], "longtalk", "5", r2)
        turn(self.replicas[0], "longtalk", "6", r5)
        self.assertEqual(self.turns(), ["user", "assistant"] * 3 + ["user"])

    def test_async_invocations_are_their_clients_on_every_replica(self):
        start = {"modelId": "amazon.nova-reel-v1:0", "modelInput": {"taskType": "TEXT_VIDEO"},
                 "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/out"}}}
        status, _, body = post(self.replicas[0], "media", "/async-invoke", start)
        self.assertEqual(status, 200, body)
        arn = json.loads(body)["invocationArn"]
        quoted = urllib.parse.quote(arn, safe="")
        status, _, body = post(self.replicas[1], "media", "/async-invoke/" + quoted, None, "GET")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["invocationArn"], arn)
        status, _, body = post(self.replicas[2], "media", "/async-invoke", None, "GET")
        self.assertEqual(status, 200, body)
        self.assertEqual([s["invocationArn"] for s in json.loads(body)["asyncInvokeSummaries"]], [arn])
        # Another client: not found, and not listed.
        status, _, body = post(self.replicas[1], "studio", "/async-invoke/" + quoted, None, "GET")
        self.assertEqual(status, 404, body)
        status, _, body = post(self.replicas[2], "studio", "/async-invoke", None, "GET")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["asyncInvokeSummaries"], [])

    def test_a_replayed_client_request_token_does_not_make_anothers_invocation_yours(self):
        """Bob replays alice's StartAsyncInvoke body, clientRequestToken and all, on another
        replica: Bedrock gets a token of his own and starts an invocation of his, while alice's
        retry anywhere is still answered with hers. And when Bedrock hands bob alice's ARN
        anyway, on a replica that never saw it, the fleet's first claim stands: bob gets a 404
        (the audit line says why), and no replica lets him read or list it."""
        start = {"modelId": "amazon.nova-reel-v1:0", "modelInput": {"taskType": "TEXT_VIDEO"},
                 "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://alice/out"}},
                 "clientRequestToken": "alice-video-0001"}
        status, _, body = post(self.replicas[0], "alice", "/async-invoke", start)
        self.assertEqual(status, 200, body)
        arn = json.loads(body)["invocationArn"]
        status, _, body = post(self.replicas[1], "alice", "/async-invoke", start)
        self.assertEqual((status, json.loads(body)["invocationArn"]), (200, arn), "a retry is idempotent anywhere")
        status, _, body = post(self.replicas[2], "bob", "/async-invoke", start)
        self.assertEqual(status, 200, body)
        bobs = json.loads(body)["invocationArn"]
        self.assertNotEqual(bobs, arn, "bob's replay started his own invocation")
        tokens = [self.fake.async_invocations[a]["clientRequestToken"] for a in (arn, bobs)]
        self.assertRegex(tokens[0], "^[0-9a-f]{64}$", "Bedrock got a token made alice's, not the caller's")
        self.assertRegex(tokens[1], "^[0-9a-f]{64}$")

        # Bedrock hands bob alice's ARN on replica 2, which knows it only through Redis.
        self.fake.next_async_arn = arn
        del start["clientRequestToken"]
        status, headers, body = post(self.replicas[2], "bob", "/async-invoke", start)
        self.assertEqual(status, 404, body)
        self.assertNotIn(arn.encode(), body)
        line = self.replicas[2].audit_line_of(headers["x-request-id"])
        self.assertTrue(line, "the refusal has its audit line")
        self.assertEqual((line["client"], line["status"]), ("bob", 404), line)
        self.assertIn("which client alice started first", line["error"])
        self.assertEqual(self.redis.cli("GET", "signgate:async_owner:" + arn), "alice")
        self.assertEqual(self.redis.cli("ZSCORE", "signgate:{bob}:invocations", arn), "")

        quoted = urllib.parse.quote(arn, safe="")
        for gw in self.replicas:
            status, _, body = post(gw, "bob", "/async-invoke/" + quoted, None, "GET")
            self.assertEqual(status, 404, body)
            status, _, body = post(gw, "bob", "/async-invoke", None, "GET")
            self.assertEqual(status, 200, body)
            self.assertEqual([s["invocationArn"] for s in json.loads(body)["asyncInvokeSummaries"]], [bobs])
            status, _, body = post(gw, "alice", "/async-invoke/" + quoted, None, "GET")
            self.assertEqual(status, 200, body)
            status, _, body = post(gw, "alice", "/async-invoke", None, "GET")
            self.assertEqual([s["invocationArn"] for s in json.loads(body)["asyncInvokeSummaries"]], [arn])

    def test_with_redis_paused_what_a_replica_holds_still_works(self):
        status, _, body = post(self.replicas[0], "free", "/v1/responses", {"model": MODEL, "input": "Hi."})
        self.assertEqual(status, 200, body)
        rid = json.loads(body)["id"]
        self.redis.pause()
        try:
            status, _, body = post(self.replicas[0], "free", "/v1/responses",
                                   {"model": MODEL, "input": "Again.", "previous_response_id": rid})
            self.assertEqual(status, 200, body)
            status, headers, body = post(self.replicas[1], "free", "/v1/responses",
                                         {"model": MODEL, "input": "Again.", "previous_response_id": rid})
            self.assertEqual(status, 503, body)
            self.assertEqual(headers.get("retry-after"), "1")
            self.assertIn(b"retry", body)
        finally:
            self.redis.resume()
        self.assertTrue(wait_for(lambda: post(self.replicas[1], "free", "/v1/responses",
                                              {"model": MODEL, "input": "Again.",
                                               "previous_response_id": rid})[0] == 200, seconds=20))

class RedisFailuresLocal(Fleet):
    on_failure = "local"

    def test_paused_killed_and_restarted(self):
        lines = sum(len(gw.wait_audit_caught_up()) for gw in self.replicas)  # earlier tests' lines all in
        sent = 0
        self.assertEqual(converse(self.replicas[0], "free")[0], 200)
        sent += 1
        self.redis.pause()
        try:
            for gw in self.replicas:
                started = time.monotonic()
                status, _, body = converse(gw, "limited")
                sent += 1
                self.assertEqual(status, 200, body)
                # At most the command timeout (250 ms) added; generous for a loaded machine.
                self.assertLess(time.monotonic() - started, 5)
        finally:
            self.redis.resume()
        self.redis.kill()
        for gw in self.replicas:
            self.assertEqual(converse(gw, "free")[0], 200)
            sent += 1
        # Seen in /readyz (detail only: still ready) and /metrics within the follower's second.
        self.assertTrue(wait_for(lambda: ops(self.replicas[0], "/readyz")[0] == 200 and
                                 ops(self.replicas[0], "/readyz")[1].get("redis") == "unreachable"))
        # Past 5 s the revoked keys it holds are stale: said, still ready (on_failure: local serves).
        self.assertTrue(wait_for(lambda: ops(self.replicas[0], "/readyz") == (
            200, {"status": "ready", "redis": "unreachable", "revocations": "stale"}), seconds=15))
        self.assertIn("signgate_revocations_stale 1", self.replicas[0].wait_metrics("signgate_revocations_stale 1"))
        self.assertEqual(converse(self.replicas[2], "free")[0], 200, "local: served, with a warning")
        self.assertTrue(wait_for(lambda: "revoked secrets may be accepted until Redis answers" in
                                 self.replicas[2].logs()))
        sent += 1
        self.assertIn("signgate_redis_up 0", self.replicas[0].wait_metrics("signgate_redis_up 0"))
        self.redis.start()
        self.assertTrue(wait_for(lambda: ops(self.replicas[0], "/readyz")[1].get("redis") == "up", seconds=20))
        metrics = self.replicas[0].wait_metrics("signgate_redis_up 1")
        self.assertIn("signgate_redis_up 1", metrics)
        self.assertRegex(metrics, r"signgate_redis_failures_total [1-9]")
        self.assertRegex(metrics, r"signgate_redis_local_fallbacks_total [1-9]")
        # Sharing resumes by itself: the limited client's state appears in the new Redis.

        def shared_again():
            nonlocal sent
            converse(self.replicas[1], "limited")
            sent += 1
            return self.redis.cli("EXISTS", "signgate:{limited}:requests") == "1"

        self.assertTrue(wait_for(shared_again, seconds=20), "a replica went back to Redis after its restart")
        self.assertTrue(wait_for(lambda: self.audit_lines() - lines == sent), "one audit line per request")


class RedisFailuresDeny(Fleet):
    on_failure = "deny"

    def test_deny_answers_503_in_the_callers_dialect(self):
        self.assertEqual(converse(self.replicas[0], "limited")[0], 200)
        self.redis.kill()
        status, headers, body = converse(self.replicas[1], "limited")
        self.assertEqual(status, 503, body)
        self.assertEqual(headers.get("x-amzn-errortype"), "ServiceUnavailableException")
        status, _, body = converse(self.replicas[2], "free")
        self.assertEqual(status, 200, "a client without limits does not need Redis while its revocations are fresh")
        # Past 5 s without reading the revoked keys, no key is taken: it may have been revoked since.
        self.assertTrue(wait_for(lambda: converse(self.replicas[2], "free")[0] == 503, seconds=15))
        status, headers, body = converse(self.replicas[2], "free")
        self.assertEqual(headers.get("x-amzn-errortype"), "ServiceUnavailableException")
        self.assertIn(b"revoked API keys", body)
        self.assertEqual(ops(self.replicas[2], "/readyz")[1].get("revocations"), "stale")
        self.redis.start()
        self.assertTrue(wait_for(lambda: converse(self.replicas[1], "limited")[0] == 200, seconds=20))
        self.assertTrue(wait_for(lambda: converse(self.replicas[2], "free")[0] == 200, seconds=20))
        self.assertNotIn("revocations", ops(self.replicas[2], "/readyz")[1])


class Revocation(Fleet):
    def test_a_revoked_key_is_refused_on_every_replica_within_a_second(self):
        for gw in self.replicas:
            self.assertEqual(converse(gw, "free")[0], 200)
        p = run("revoke", "--config", self.replicas[0].config_path, "--client", "free")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"revoked 1 secret of client free", p.stdout)
        self.assertNotIn(PASSWORD.encode(), p.stdout + p.stderr, "the Redis password is never printed")
        revoked_at = time.monotonic()
        for gw in self.replicas:
            self.assertTrue(wait_for(lambda: converse(gw, "free")[0] == 401, seconds=5))
        # Published: every replica knows at once. One second is the promise; a loaded machine
        # (the ASan build) gets its slowdown on top. The message, not the 1 s poll, told them.
        self.assertLess(time.monotonic() - revoked_at, 1.0 * SLOWDOWN)
        self.assertTrue(wait_for(lambda: all("a secret was revoked" in gw.logs() for gw in self.replicas)))
        status, _, body = converse(self.replicas[1], "free")
        self.assertIn(b"revoked", body)
        self.assertEqual(converse(self.replicas[2], "limited")[0], 200, "other clients are not touched")
        lines = [l for gw in self.replicas for l in gw.wait_audit_caught_up() if l["status"] == 401]
        self.assertTrue(lines and all(l["client"] == "free" for l in lines), lines)

        # Kept across restarts: a replica started now refuses it from its first request.
        fresh = Gateway(self.fake_url, CLIENTS, extra=self.extra)
        try:
            self.assertEqual(converse(fresh, "free")[0], 401, "refused from the first request")
        finally:
            fresh.stop()
        # A new secret for the client works again, on a replica that reloaded it.
        renewed = [dict(c, secret="sgk_fleet_free_RENEWED_0123456789abcdefgh") if c["name"] == "free" else c
                   for c in CLIENTS]
        self.replicas[0].write_config(renewed, self.extra)
        self.replicas[0].reload()
        self.assertTrue(wait_for(lambda: call_with(self.replicas[0], "sgk_fleet_free_RENEWED_0123456789abcdefgh")
                                 == 200, seconds=10))
        self.assertEqual(converse(self.replicas[0], "free")[0], 401, "the old secret stays revoked")

    def test_revoke_needs_redis_and_a_known_client(self):
        p = run("revoke", "--config", self.replicas[0].config_path, "--client", "nobody")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"no client named 'nobody'", p.stderr)


def ops(gw, path):
    u = urllib.parse.urlsplit(gw.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read().decode()
    conn.close()
    return r.status, json.loads(body) if path == "/readyz" else body


def identities_fetched(gw):
    return sum(1 for line in ops(gw, "/metrics")[1].splitlines()
               if line.startswith("signgate_credential_refreshes_total{") and not line.endswith(" 0"))


def call_with(gw, secret):
    u = urllib.parse.urlsplit(gw.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("POST", "/model/%s/converse" % MODEL, body=CONVERSE,
                 headers={"Authorization": "Bearer " + secret, "Content-Type": "application/json"})
    status = conn.getresponse().status
    conn.close()
    return status


if __name__ == "__main__":
    unittest.main(verbosity=2)
