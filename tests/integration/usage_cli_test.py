#!/usr/bin/python3
"""`signgate usage` (SPEC §8): spend and tokens per client and model over whole UTC days. From
audit files (plain, rotated, gzipped with several members; lines that are not records skipped
and counted), from the per-day totals a fleet keeps in Redis (written here by hand, in the
gateway's schema), and end to end: a gateway with redis: answers a few calls against the
Bedrock/STS emulator, and the totals read from Redis agree with its own audit file. Table and
JSON checked against hand-computed sums; bad dates, unreadable sources and Redis down give the
documented exit codes without printing a secret."""
import datetime
import gzip
import hashlib
import http.client
import json
import os
import shutil
import tempfile
import unittest
import urllib.parse

from common import ROOT, run, wait_for  # noqa: F401  (ROOT puts tests/fakes on the path)
import aws_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway
from redis_cluster import RedisCluster
from redis_server import PASSWORD, RedisServer

H = "anthropic.claude-3-haiku-20240307-v1:0"
US = "us.anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "amazon.nova-lite-v1:0"
LLAMA = "meta.llama3-8b-instruct-v1:0"


def record(ts, client, model, status=200, upstream=200, tokens=(0, 0, 0, 0), cost=None, target_model=None):
    """An audit line as the gateway writes it (SPEC §5, §8)."""
    return json.dumps({"ts": ts, "request_id": "r-" + ts, "client": client, "user": None, "surface": "bedrock",
                       "operation": "converse", "protocol": "http/1.1", "model": model, "status": status,
                       "upstream_status": upstream, "aws_request_id": None, "latency_ms": 1.5,
                       "first_byte_ms": None, "input_tokens": tokens[0], "output_tokens": tokens[1],
                       "cache_read_tokens": tokens[2], "cache_write_tokens": tokens[3], "cost_usd": cost,
                       "tokens_from": "bedrock", "caller_left": False, "bytes_in": 10, "bytes_out": 20,
                       "role_session": None, "route": None, "target": None, "region": None, "identity": None,
                       "target_model": target_model, "attempts": 1, "service_tier": None, "error": None})


# The live file: answered calls, a refusal, Bedrock's error, an unpriced call and two lines that
# are not records.
LIVE = [
    record("2026-12-02T10:00:00Z", "acme", H, tokens=(100, 200, 0, 0), cost=0.000275),
    record("2026-12-02T11:00:00Z", "acme", "fast", tokens=(10, 20, 5, 7), cost=0.0000321, target_model=US),
    record("2026-12-02T12:00:00Z", "acme", H, status=429, upstream=None),
    "this is not json {",
    record("2026-12-02T13:00:00Z", "beta", NOVA, tokens=(1000, 500, 0, 0), cost=None),
    record("2026-12-02T14:00:00Z", "acme", H, status=502, upstream=500, tokens=(9, 9, 0, 0)),
    json.dumps({"ts": "2026-12-02T15:00:00Z", "client": "acme", "model": H}),
]
# audit.jsonl.1: the last second of a day, the first of another, and a day before the period.
ROTATED = [
    record("2026-12-01T23:59:59.999Z", "acme", H, tokens=(50, 60, 100, 0), cost=0.0001),
    record("2026-12-01T00:00:00Z", "beta", NOVA, tokens=(10, 10, 0, 0), cost=0.000003),
    record("2026-11-29T12:00:00Z", "acme", H, tokens=(999, 999, 0, 0), cost=1.0),
]
# audit.jsonl.2.gz, two gzip members; the last line is a day after the period.
GZ_FIRST = [
    record("2026-11-30T08:00:00Z", "acme", H, tokens=(40, 40, 0, 0), cost=0.00006),
    record("2026-11-30T09:00:00Z", "beta", LLAMA, tokens=(5, 5, 0, 0), cost=None),
]
GZ_SECOND = [
    record("2026-11-30T10:00:00Z", "beta", NOVA, tokens=(20, 30, 0, 0), cost=0.000009),
    record("2026-12-03T00:00:00Z", "beta", NOVA, tokens=(1, 1, 0, 0), cost=0.5),
]
PERIOD = ["--since", "2026-11-30", "--until", "2026-12-02"]


def row(client, model, requests, inp, out, cache_read, cache_write, cost, unpriced):
    return {"client": client, "model": model, "requests": requests, "input_tokens": inp, "output_tokens": out,
            "cache_read_tokens": cache_read, "cache_write_tokens": cache_write, "cost_usd": cost,
            "unpriced_requests": unpriced}


# Summed by hand from the lines above, 2026-11-30 to 2026-12-02.
ACME_H = row("acme", H, 3, 100 + 50 + 40, 200 + 60 + 40, 100, 0, 0.000435, 0)
ACME_US = row("acme", US, 1, 10, 20, 5, 7, 0.0000321, 0)
BETA_NOVA = row("beta", NOVA, 3, 1000 + 10 + 20, 500 + 10 + 30, 0, 0, 0.000012, 1)
BETA_LLAMA = row("beta", LLAMA, 1, 5, 5, 0, 0, None, 1)
TOTALS = {"requests": 8, "input_tokens": 1235, "output_tokens": 865, "cache_read_tokens": 105,
          "cache_write_tokens": 7, "cost_usd": 0.0004791, "unpriced_requests": 2}

def config_text(audit_path, extra="", clients=("acme", "beta")):
    text = ("aws:\n  region: us-east-1\n  role_arn: arn:aws:iam::111122223333:role/bedrock\n  external_id: ext-1\n"
            "audit:\n  path: %s\nclients:\n" % audit_path)
    for name in clients:
        text += "  - { name: %s, secret_sha256: %s, models: ['*'] }\n" % (name, hashlib.sha256(name.encode()).hexdigest())
    return text + extra


class Usage(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="signgate-usage-")
        self.addCleanup(shutil.rmtree, self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def config(self, extra="", audit_name="audit.jsonl", clients=("acme", "beta")):
        return self.write("signgate.yaml", config_text(self.path(audit_name), extra, clients))

    def usage(self, *args, config=None):
        p = run("usage", "--config", config or self.config(), *args)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def usage_json(self, *args, config=None):
        code, out, err = self.usage("--json", *args, config=config)
        self.assertEqual(code, 0, err)
        return json.loads(out), out, err


class FromAuditFiles(Usage):
    def setUp(self):
        super().setUp()
        self.live = self.write("audit.jsonl", "\n".join(LIVE) + "\n")
        self.rotated = self.write("audit.jsonl.1", "\n".join(ROTATED))  # no newline at its end
        with open(self.path("audit.jsonl.2.gz"), "wb") as f:
            f.write(gzip.compress(("\n".join(GZ_FIRST) + "\n").encode()) +
                    gzip.compress(("\n".join(GZ_SECOND) + "\n").encode()))
        self.files = [self.live, self.rotated, self.path("audit.jsonl.2.gz")]

    def test_json_sums_answered_calls_per_client_and_model(self):
        """Every file read (the gzipped one's two members too), only answered calls in the
        period counted, target_model winning over model, and the two lines that are not records
        skipped and said so."""
        report, text, err = self.usage_json("--audit", *self.files, *PERIOD)
        self.assertEqual(report, {"since": "2026-11-30", "until": "2026-12-02", "source": "audit",
                                  "rows": [ACME_H, ACME_US, BETA_NOVA, BETA_LLAMA], "totals": TOTALS})
        self.assertIn('"cost_usd":0.0004791,', text)  # to the nano-dollar, no exponent
        self.assertIn("skipped 2 lines that are not audit records", err)

    def test_table(self):
        """Aligned columns, a total line per client and one overall; an unpriced row says
        unknown, a partly unpriced one its priced sum and how many calls had no price."""
        code, out, err = self.usage("--audit", *self.files, *PERIOD)
        self.assertEqual(code, 0, err)
        self.assertEqual(out, """\
usage 2026-11-30 to 2026-12-02 (UTC days, answered calls), from 3 audit files

client  model                                      requests  input  output  cache read  cache write                 cost USD
acme    anthropic.claude-3-haiku-20240307-v1:0            3    190     300         100            0                 0.000435
acme    us.anthropic.claude-3-haiku-20240307-v1:0         1     10      20           5            7                0.0000321
acme    total                                             4    200     320         105            7                0.0004671
beta    amazon.nova-lite-v1:0                             3   1030     540           0            0   0.000012 (+1 unpriced)
beta    meta.llama3-8b-instruct-v1:0                      1      5       5           0            0                  unknown
beta    total                                             4   1035     545           0            0   0.000012 (+2 unpriced)
total                                                     8   1235     865         105            7  0.0004791 (+2 unpriced)
""")

    def test_config_audit_path_and_its_rotated_siblings(self):
        """Without --audit and without redis:, the config's audit file and every PATH.* beside
        it are read: the same report as naming them."""
        self.write("other.jsonl", record("2026-12-01T00:00:00Z", "acme", H, tokens=(1, 1, 0, 0), cost=1.0) + "\n")
        report, _, _ = self.usage_json(*PERIOD)
        self.assertEqual(report["rows"], [ACME_H, ACME_US, BETA_NOVA, BETA_LLAMA])
        self.assertEqual(report["totals"], TOTALS)
        code, out, _ = self.usage(*PERIOD)
        self.assertIn("from 3 audit files", out)

    def test_one_client(self):
        report, _, _ = self.usage_json("--audit", *self.files, *PERIOD, "--client", "acme")
        self.assertEqual(report["rows"], [ACME_H, ACME_US])
        self.assertEqual(report["totals"], {"requests": 4, "input_tokens": 200, "output_tokens": 320,
                                            "cache_read_tokens": 105, "cache_write_tokens": 7,
                                            "cost_usd": 0.0004671, "unpriced_requests": 0})
        report, _, _ = self.usage_json("--audit", *self.files, *PERIOD, "--client", "nobody")
        self.assertEqual(report["rows"], [])
        self.assertEqual(report["totals"]["requests"], 0)
        self.assertEqual(report["totals"]["cost_usd"], 0)

    def test_days_are_utc_and_inclusive(self):
        """One day: 2026-12-01 holds its first and last second, not 2026-11-30 nor 12-02."""
        report, _, _ = self.usage_json("--audit", *self.files, "--since", "2026-12-01", "--until", "2026-12-01")
        self.assertEqual(report["rows"], [row("acme", H, 1, 50, 60, 100, 0, 0.0001, 0),
                                          row("beta", NOVA, 1, 10, 10, 0, 0, 0.000003, 0)])
        report, _, _ = self.usage_json("--audit", *self.files, "--since", "2026-11-29", "--until", "2026-12-03")
        self.assertEqual(report["totals"]["requests"], 10)
        self.assertAlmostEqual(report["totals"]["cost_usd"], 1.5004791, places=9)

    def test_defaults_are_this_month_to_today(self):
        today = datetime.datetime.now(datetime.timezone.utc).date()
        first = today.replace(day=1)
        before = first - datetime.timedelta(days=1)
        path = self.write("now.jsonl", "\n".join([
            record(today.isoformat() + "T00:00:01Z", "acme", H, tokens=(1, 2, 0, 0), cost=0.001),
            record(first.isoformat() + "T00:00:00Z", "acme", H, tokens=(3, 4, 0, 0), cost=0.002),
            record(before.isoformat() + "T23:59:59Z", "acme", H, tokens=(100, 100, 0, 0), cost=1.0),
        ]) + "\n")
        report, _, _ = self.usage_json("--audit", path)
        self.assertEqual((report["since"], report["until"]), (first.isoformat(), today.isoformat()))
        self.assertEqual(report["rows"], [row("acme", H, 2, 4, 6, 0, 0, 0.003, 0)])
        report, _, _ = self.usage_json("--audit", path, "--since", before.isoformat())
        self.assertEqual(report["totals"]["requests"], 3)

    def test_bad_periods_are_usage_errors(self):
        for args, says in [(["--since", "2026-13-01"], "--since '2026-13-01' is not a date (YYYY-MM-DD)"),
                           (["--until", "12/08/2026"], "--until '12/08/2026' is not a date"),
                           (["--since", "2026-12-03", "--until", "2026-12-02"], "is after --until"),
                           (["--since", "2025-01-01", "--until", "2026-12-02"], "at most 400")]:
            code, out, err = self.usage("--audit", *self.files, *args)
            self.assertEqual(code, 2, (args, err))
            self.assertIn(says, err)
            self.assertEqual(out, "")
        code, _, err = self.usage("--audit", *self.files, "--since", "2025-10-29", "--until", "2026-12-02")
        self.assertEqual(code, 0, err)  # 400 days

    def test_unreadable_files_fail_naming_them(self):
        missing = self.path("gone.jsonl")
        corrupt = self.write("audit.jsonl.3.gz", "not gzip at all\n")
        cut = self.path("cut.gz")
        with open(cut, "wb") as f:
            f.write(gzip.compress(b"\n".join(l.encode() for l in GZ_FIRST))[:-5])
        for bad, says in [(missing, "No such file"), (corrupt, "not gzip"), (cut, "cut short")]:
            code, out, err = self.usage("--audit", self.live, bad, *PERIOD)
            self.assertEqual(code, 1, err)
            self.assertIn("cannot read audit file " + bad + ": ", err)
            self.assertIn(says, err)
            self.assertEqual(out, "")

    def test_no_source_is_a_usage_error(self):
        code, _, err = self.usage(config=self.config(audit_name="nothing-here.jsonl"))
        self.assertEqual(code, 2)
        self.assertIn("pass the audit files with --audit FILE..., or configure redis:", err)


def hset(redis, client, day, fields):
    args = []
    for k, v in fields.items():
        args += [k, str(v)]
    redis.cli("HSET", "signgate:{%s}:usage:%s" % (client, day), *args)


class FromRedis(Usage):
    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer()

    @classmethod
    def tearDownClass(cls):
        cls.redis.stop()

    def setUp(self):
        super().setUp()
        self.redis.cli("FLUSHALL")
        hset(self.redis, "acme", "2026-12-01", {H + "|requests": 2, H + "|input": 30, H + "|output": 40,
                                                H + "|cache_read": 5, H + "|cache_write": 6, H + "|nano_usd": 250000,
                                                US + "|requests": 1, US + "|input": 1, US + "|output": 2,
                                                US + "|unpriced": 1})
        hset(self.redis, "acme", "2026-12-02", {H + "|requests": 1, H + "|input": 10, H + "|output": 10,
                                                H + "|nano_usd": 1000, H + "|unpriced": 1, H + "|requests_x": 7})
        hset(self.redis, "acme", "2026-11-15", {H + "|requests": 100, H + "|nano_usd": 10 ** 12})
        hset(self.redis, "beta", "2026-12-02", {NOVA + "|requests": 4, NOVA + "|input": 400, NOVA + "|output": 800,
                                                NOVA + "|nano_usd": 1234567890, "(other)|requests": 3,
                                                "(other)|input": 3, "(other)|output": 3, "(other)|nano_usd": 30})
        hset(self.redis, "ghost", "2026-12-02", {H + "|requests": 9})
        self.redis_config = self.config(extra="redis: { url: \"%s\" }\n" % self.redis.url)

    def test_json_from_the_days_totals(self):
        """Each configured client's hashes for each day of the period, summed; a day outside it
        and a client not in the config are not read; a field not understood is counted."""
        report, _, err = self.usage_json("--since", "2026-12-01", "--until", "2026-12-02", config=self.redis_config)
        self.assertEqual(report, {
            "since": "2026-12-01", "until": "2026-12-02", "source": "redis",
            "rows": [row("acme", H, 3, 40, 50, 5, 6, 0.000251, 1),
                     row("acme", US, 1, 1, 2, 0, 0, None, 1),
                     row("beta", "(other)", 3, 3, 3, 0, 0, 0.00000003, 0),
                     row("beta", NOVA, 4, 400, 800, 0, 0, 1.23456789, 0)],
            "totals": {"requests": 11, "input_tokens": 444, "output_tokens": 855, "cache_read_tokens": 5,
                       "cache_write_tokens": 6, "cost_usd": 1.234818920, "unpriced_requests": 2}})
        self.assertIn("skipped 1 Redis field not understood", err)
        self.assertNotIn(PASSWORD, err)

    def test_table_names_the_redis_without_its_password(self):
        code, out, err = self.usage("--since", "2026-12-01", "--until", "2026-12-02", "--client", "beta",
                                    config=self.redis_config)
        self.assertEqual(code, 0, err)
        self.assertEqual(out, """\
usage 2026-12-01 to 2026-12-02 (UTC days, answered calls), from Redis redis://:***@127.0.0.1:%d/0

client  model                  requests  input  output  cache read  cache write    cost USD
beta    (other)                       3      3       3           0            0  0.00000003
beta    amazon.nova-lite-v1:0         4    400     800           0            0  1.23456789
beta    total                         7    403     803           0            0  1.23456792
total                                 7    403     803           0            0  1.23456792
""" % self.redis.port)
        self.assertNotIn(PASSWORD, out + err)

    def test_a_client_outside_the_config_can_be_asked_for(self):
        report, _, _ = self.usage_json("--since", "2026-12-02", "--until", "2026-12-02", "--client", "ghost",
                                       config=self.redis_config)
        self.assertEqual(report["rows"], [row("ghost", H, 9, 0, 0, 0, 0, 0, 0)])

    def test_audit_files_given_win_over_redis(self):
        path = self.write("a.jsonl", record("2026-12-02T00:00:00Z", "acme", H, tokens=(1, 1, 0, 0), cost=0.5) + "\n")
        report, _, _ = self.usage_json("--audit", path, "--since", "2026-12-02", "--until", "2026-12-02",
                                       config=self.redis_config)
        self.assertEqual(report["source"], "audit")
        self.assertEqual(report["rows"], [row("acme", H, 1, 1, 1, 0, 0, 0.5, 0)])

    def test_redis_down_fails_naming_it_without_its_password(self):
        dead = RedisServer()
        url = dead.url
        dead.stop()
        config = self.config(extra="redis: { url: \"%s\" }\n" % url)
        code, out, err = self.usage("--since", "2026-12-01", "--until", "2026-12-02", config=config)
        self.assertEqual(code, 1, err)
        self.assertIn("signgate usage: Redis redis://:***@127.0.0.1:%d/0: " % dead.port, err)
        self.assertNotIn(PASSWORD, out + err)
        self.assertEqual(out, "")


class FromRedisCluster(Usage):
    def test_each_clients_totals_from_the_primary_holding_them(self):
        """On a Redis Cluster of three primaries, whichever node is the seed, each client's
        hashes are read from the primary that holds them."""
        cluster = RedisCluster(masters=3, replicas_per_master=0)
        try:
            for client, requests in (("acme", 2), ("beta", 5), ("gamma", 7)):
                key = "signgate:{%s}:usage:2026-12-02" % client
                cluster.command("HSET", key, H + "|requests", requests, H + "|nano_usd", requests * 1000)
            slots = {cluster.master_of_slot(cluster.keyslot("{%s}" % c)).port for c in ("acme", "beta", "gamma")}
            config = self.config(extra="redis: { url: \"%s\" }\n" % cluster.url(cluster.nodes[0]),
                                 clients=("acme", "beta", "gamma"))
            report, _, err = self.usage_json("--since", "2026-12-02", "--until", "2026-12-02", config=config)
            self.assertEqual(report["rows"], [row("acme", H, 2, 0, 0, 0, 0, 0.000002, 0),
                                              row("beta", H, 5, 0, 0, 0, 0, 0.000005, 0),
                                              row("gamma", H, 7, 0, 0, 0, 0, 0.000007, 0)], err)
            self.assertGreater(len(slots), 1)  # the clients' keys are on more than one primary
        finally:
            cluster.stop()


MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
CLIENTS = [{"name": "alpha", "secret": "sgk_usage_alpha_TEST_0123456789abcdefghij", "models": '["*"]'},
           {"name": "bravo", "secret": "sgk_usage_bravo_TEST_0123456789abcdefghij", "models": '["*"]'}]


def converse(gw, secret, model, text):
    u = urllib.parse.urlsplit(gw.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": text}]}]}).encode()
    conn.request("POST", "/model/%s/converse" % model, body=body,
                 headers={"Authorization": "Bearer " + secret, "Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status


class EndToEnd(unittest.TestCase):
    def test_redis_totals_agree_with_the_audit_file(self):
        """Calls answered by the emulator through a gateway with redis:, a refused one among
        them: what `signgate usage` reads from Redis is what it reads from the gateway's own
        audit file, to the token and the nano-dollar."""
        redis = RedisServer()
        self.addCleanup(redis.stop)
        fake, url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        self.addCleanup(fake.server_close)
        self.addCleanup(fake.shutdown)
        gw = Gateway(url, CLIENTS, extra="redis: { url: \"%s\" }\n" % redis.url)
        self.addCleanup(gw.dir.cleanup)
        self.addCleanup(gw.proc.stdout.close)
        first_day = datetime.datetime.now(datetime.timezone.utc).date()
        try:
            calls = [("alpha", MODEL, "hello"), ("alpha", MODEL, "a longer question for the model"),
                     ("bravo", MODEL, "hi"), ("alpha", "amazon.nova-lite-v1:0", "bonjour")]
            statuses = [converse(gw, CLIENTS[0 if c == "alpha" else 1]["secret"], m, t) for c, m, t in calls]
            self.assertEqual(converse(gw, "wrong-secret", MODEL, "x"), 401)
            gw.wait_audit(len(calls) + 1)
        finally:
            self.assertEqual(gw.stop(), 0, gw.logs())  # draining sends what is owed to Redis
        self.assertEqual(statuses, [200, 200, 200, 200])
        last_day = datetime.datetime.now(datetime.timezone.utc).date()  # midnight may have passed
        period = ["--since", first_day.isoformat(), "--until", last_day.isoformat()]
        p = run("usage", "--config", gw.config_path, "--json", *period)
        self.assertEqual(p.returncode, 0, p.stderr)
        from_redis = json.loads(p.stdout)
        p = run("usage", "--config", gw.config_path, "--json", "--audit", gw.audit_path, *period)
        self.assertEqual(p.returncode, 0, p.stderr)
        from_audit = json.loads(p.stdout)
        self.assertEqual((from_redis["source"], from_audit["source"]), ("redis", "audit"))
        self.assertEqual(from_redis["rows"], from_audit["rows"])
        self.assertEqual(from_redis["totals"], from_audit["totals"])
        self.assertEqual([(r["client"], r["model"], r["requests"]) for r in from_redis["rows"]],
                         [("alpha", "amazon.nova-lite-v1:0", 1), ("alpha", MODEL, 2), ("bravo", MODEL, 1)])
        self.assertGreater(from_redis["totals"]["input_tokens"], 0)
        self.assertGreater(from_redis["rows"][1]["cost_usd"], 0)  # Claude 3 Haiku is in the price table


if __name__ == "__main__":
    unittest.main(verbosity=2)
