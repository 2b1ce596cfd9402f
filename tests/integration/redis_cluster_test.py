#!/usr/bin/python3
"""signgate replicas sharing a Redis Cluster (six of Debian's redis-server: three masters, a
replica each; redis_cluster.py), each replica given a different node as its seed, one of them a
replica node, so that every command is redirected at first. What is proven:

- Shared state, per client in its own slot: clients whose keys live on three different masters
  each get one requests_per_minute limit across the three replicas, exactly; a daily token
  budget spent on one replica is refused on the others; a Responses conversation and an async
  invocation started on one replica are their client's on the others; `signgate revoke` (its
  config naming yet another node) is refused on every replica within a second. No node counts
  an error reply of signgate's (CROSSSLOT, WRONGTYPE, ...) besides the redirections a cluster
  is made of (MOVED, ASK) and NOSCRIPT before a script's first EVAL, and no replica counts a
  Redis failure.
- Failover under load (on_failure: local): a master is killed under a steady stream of
  requests on every replica, one replica having it as its only seed; every request is answered
  (200, or 429 for the limited client), nothing crashes, each request has its audit line, and
  within 10 s of the replica's promotion one limit holds across the fleet again (the client's
  keys are written to the new master, requests_per_minute exact across the replicas).
- ASK: a client's slot moved from one master to another by hand (IMPORTING / MIGRATING, its
  keys MIGRATEd, then NODE everywhere), a step a second, while its requests go on: its limit
  stays exact, the old master answered ASK, no failure is counted, and its keys end on the new
  master only. The same for a slot moved back and forth quickly (as `redis-cli --cluster
  reshard` does) whose client's admission names keys that do not exist, so that the nodes
  answer TRYAGAIN meanwhile.
- Seeds and outages (on_failure: deny): a cluster URL naming database 3 is refused with a
  message about the database; a replica whose first seed is dead starts from the next; with
  every node down a client without limits is still served for the first moments, then, once the
  revocation set has not been read for 5 s, gets a 503 naming the revocation list in its
  dialect (/readyz stays 200 with "revocations": "stale", signgate_revocations_stale 1), while
  an on_failure: local replica serves and warns; once the nodes are started again the requests
  are served without restarting signgate.
- TLS: a cluster speaking only TLS (tls-cluster, tls-replication) through `rediss://` and
  `ca_file`: limits on all three masters, certificates checked (another CA's certificates are
  refused).

Behind the replicas, the Bedrock/STS fake checks every signature with botocore."""
import concurrent.futures
import http.client
import json
import os
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

from common import ROOT, SLOWDOWN, make_ca, run, wait_for  # noqa: F401  (ROOT puts tests/fakes on the path)
import aws_fake
from gateway import BASE_KEY, BASE_SECRET, EXTERNAL_ID, ROLE, Gateway
from redis_cluster import PASSWORD, RedisCluster, keyslot, pick_ports

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
CONVERSE = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).encode()
CHAT = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}).encode()
# Redis's own error replies a cluster client meets in normal work: redirections, a script's
# first EVALSHA on a node, a slot being moved that holds only some of a command's keys.
EXPECTED_ERRORS = {"MOVED", "ASK", "NOSCRIPT", "TRYAGAIN"}


def client(name, **more):
    return dict({"name": name, "secret": "sgk_cluster_%s_TEST_0123456789abcdefghij" % name,
                 "models": '["anthropic.*", "amazon.*"]'}, **more)


SIX = "{ requests_per_minute: 6 }"
# alpha, bravo, echo: slots 865, 8623 and 14438, one on each master of `redis-cli --cluster
# create` (0-5460, 5461-10922, 10923-16383); the tests assert it on the cluster itself.
ON_THREE_MASTERS = ["alpha", "bravo", "echo"]


def secret_of(name):
    return client(name)["secret"]


def call(gw, name, path="/model/%s/converse" % MODEL, body=CONVERSE, method="POST", timeout=30):
    u = urllib.parse.urlsplit(gw.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
    conn.request(method, path, body=body,
                 headers={"Authorization": "Bearer " + secret_of(name), "Content-Type": "application/json"})
    r = conn.getresponse()
    out = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, out


def converse(gw, name):
    return call(gw, name)[0]


def ops(gw, path):
    u = urllib.parse.urlsplit(gw.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read().decode()
    conn.close()
    return r.status, json.loads(body) if path == "/readyz" else body


def metric(gw, name):
    """An unlabelled metric's value (None when /metrics has no such line)."""
    for line in gw.metrics().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def identities_fetched(gw):
    return sum(1 for line in ops(gw, "/metrics")[1].splitlines()
               if line.startswith("signgate_credential_refreshes_total{") and not line.endswith(" 0"))


def discard(gw):
    """A stopped gateway's files removed (a test's own, not a class's): its log, for a message."""
    logs = gw.logs()
    gw.proc.stdout.close()
    gw.dir.cleanup()
    return logs


def burst(replicas, name, per_replica):
    """per_replica requests at once to each replica: their statuses, and how long it took."""
    started = time.monotonic()
    jobs = [replicas[i % len(replicas)] for i in range(per_replica * len(replicas))]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        statuses = list(pool.map(lambda gw: converse(gw, name), jobs))
    return statuses, time.monotonic() - started


def redis_block(urls, on_failure, ca_file=None):
    url = '"%s"' % urls[0] if len(urls) == 1 else "[%s]" % ", ".join('"%s"' % u for u in urls)
    # Scaled under ASan: a stall past the timeout would fall back to per-replica limits.
    text = "redis: { url: %s, on_failure: %s, command_timeout_ms: %d" % (url, on_failure, int(250 * SLOWDOWN))
    if ca_file:
        text += ", ca_file: \"%s\"" % ca_file
    return text + " }\n"


class ClusterFleet(unittest.TestCase):
    tls = False
    on_failure = "local"  # or one per replica
    clients = []

    @classmethod
    def seeds(cls):
        """The seed URLs of each replica: a master, a replica node (of another master), a
        third master."""
        masters = cls.cluster.masters()
        return [[cls.cluster.url(masters[0])], [cls.cluster.url(cls.cluster.replica_of(masters[1]))],
                [cls.cluster.url(masters[2])]]

    @classmethod
    def setUpClass(cls):
        cls.cluster = RedisCluster(tls=cls.tls)
        cls.addClassCleanup(cls.cluster.stop)
        cls.reset_stats()
        cls.fake, cls.fake_url = aws_fake.start({BASE_KEY: (BASE_SECRET, None)}, roles={ROLE: EXTERNAL_ID})
        cls.addClassCleanup(cls.fake.server_close)
        cls.addClassCleanup(cls.fake.shutdown)
        seeds = cls.seed_urls = cls.seeds()
        modes = cls.on_failure if isinstance(cls.on_failure, list) else [cls.on_failure] * len(seeds)
        cls.replicas = []
        for urls, mode in zip(seeds, modes):
            gw = Gateway(cls.fake_url, cls.clients, extra=cls.redis_config(urls, mode))
            cls.addClassCleanup(gw.stop)
            cls.replicas.append(gw)
        # Every client's identity fetched before the tests: a first request while it is still
        # being fetched is a 503.
        for gw in cls.replicas:
            assert wait_for(lambda: identities_fetched(gw) == len(cls.clients), seconds=30), gw.logs()

    @classmethod
    def redis_config(cls, urls, on_failure):
        return redis_block(urls, on_failure, cls.cluster.ca["ca"] if cls.tls else None)

    @classmethod
    def tearDownClass(cls):
        codes = [gw.stop() for gw in cls.replicas]
        assert codes == [0] * len(codes), (codes, [gw.logs()[-3000:] for gw in cls.replicas])

    @classmethod
    def reset_stats(cls):
        """Forgets what creating the cluster counted (a replica's first PING before AUTH,
        redis-cli's CLUSTER REPLICATE retried): from now on, errors are signgate's."""
        for node in cls.cluster.alive():
            assert cls.cluster.cli(node, "CONFIG", "RESETSTAT") == "OK"

    def owner(self, name):
        return self.cluster.master_of_slot(keyslot("signgate:{%s}:requests" % name))

    def exists_on(self, node, key):
        return self.cluster.cli(node, "EXISTS", key) == "1"

    def assert_no_unexpected_errors(self):
        for node in self.cluster.alive():
            stats = self.cluster.error_stats(node)
            unexpected = {k: v for k, v in stats.items() if k not in EXPECTED_ERRORS}
            failed = [line for line in self.cluster.cli(node, "INFO", "commandstats").splitlines()
                      if "failed_calls=" in line and "failed_calls=0" not in line]
            self.assertEqual(unexpected, {}, "%r: %s\n%s" % (node, stats, "\n".join(failed)))

    def assert_limit_held(self, statuses, elapsed, limit, refill_seconds):
        """statuses of more requests than `limit` made within `elapsed` seconds: the limit
        served, the rest refused with 429 (a slow machine may earn a refill or two)."""
        served = statuses.count(200)
        self.assertGreaterEqual(served, limit, statuses)
        self.assertLessEqual(served, limit + int(elapsed / refill_seconds), (statuses, elapsed))
        self.assertEqual(statuses.count(429), len(statuses) - served, statuses)


class SharedOnCluster(ClusterFleet):
    clients = [client(n, rate_limit=SIX) for n in ON_THREE_MASTERS] + [
        client("budgeted", budget="{ tokens_per_day: 30 }"),
        client("free"),
        client("media", operations="[converse, async-invoke]"),
        client("studio", operations="[async-invoke]"),
        client("golf"),
    ]

    @classmethod
    def seeds(cls):
        seeds = super().seeds()
        # The third replica is given two seeds (a YAML list), both live: the replica node of
        # the first master, then the third master.
        seeds[2] = [cls.cluster.url(cls.cluster.replica_of(cls.cluster.masters()[0]))] + seeds[2]
        return seeds

    def test_clients_on_three_masters_each_have_one_limit_across_the_replicas(self):
        """18 requests at once for each of three clients, 6 to each replica, each client
        allowed 6 a minute and its keys on another master: 6 served of each."""
        owners = [self.owner(n) for n in ON_THREE_MASTERS]
        self.assertEqual(len(set(owners)), 3, owners)
        for name in ON_THREE_MASTERS:
            key = "signgate:{%s}:requests" % name
            self.assertEqual(self.cluster.cli(self.cluster.nodes[0], "CLUSTER", "KEYSLOT", key), str(keyslot(key)))
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            results = list(pool.map(lambda name: burst(self.replicas, name, 6), ON_THREE_MASTERS))
        for name, owner, (statuses, elapsed) in zip(ON_THREE_MASTERS, owners, results):
            # The bucket refills at one request every 10 s.
            self.assert_limit_held(statuses, elapsed, 6, 10)
            self.assertTrue(self.exists_on(owner, "signgate:{%s}:requests" % name), "%s on %r" % (name, owner))
            status, headers, _ = call(self.replicas[1], name)
            self.assertEqual(status, 429)
            self.assertGreaterEqual(int(headers["retry-after"]), 1)
        for gw in self.replicas:
            self.assertGreaterEqual(metric(gw, "signgate_redis_cluster_nodes") or 0, 3, gw.metrics())
            self.assertGreaterEqual(metric(gw, "signgate_redis_map_refreshes_total") or 0, 1)
            self.assertEqual(metric(gw, "signgate_redis_up"), 1)

    def day_spent(self, name):
        owner = self.owner(name)
        keys = self.cluster.cli(owner, "--scan", "--pattern", "signgate:{%s}:day:*" % name).split()
        return int(self.cluster.cli(owner, "GET", keys[0]) or 0) if keys else 0

    def test_a_budget_spent_on_one_replica_is_spent_on_all(self):
        """Each answer uses 17 tokens; the budget is 30 a day: two calls are served (the second
        overdraws it), then every replica refuses."""
        served = 0
        for i in range(6):
            before = self.day_spent("budgeted")
            status, _, body = call(self.replicas[i % 3], "budgeted")
            if status == 200:
                served += 1
                self.assertTrue(wait_for(lambda: self.day_spent("budgeted") > before), "the charge reached Redis")
            else:
                self.assertEqual(status, 429, body)
                self.assertIn(b"daily token budget of 30 tokens", body)
        self.assertEqual(served, 2)
        self.assertEqual(self.day_spent("budgeted"), 34)

    def turns(self):
        return [m["role"] for m in self.fake.last_converse_body["messages"]]

    def test_a_conversation_continues_on_every_replica(self):
        status, _, body = call(self.replicas[0], "free", "/v1/responses", {"model": MODEL, "input": "Say hi."})
        self.assertEqual(status, 200, body)
        r1 = json.loads(body)["id"]
        status, _, body = call(self.replicas[1], "free", "/v1/responses",
                               {"model": MODEL, "input": "And then?", "previous_response_id": r1})
        self.assertEqual(status, 200, body)
        r2 = json.loads(body)["id"]
        self.assertEqual(self.turns(), ["user", "assistant", "user"], "replica 1 replayed replica 0's turn")
        status, _, body = call(self.replicas[2], "free", "/v1/responses",
                               {"model": MODEL, "input": "Once more.", "previous_response_id": r2})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.turns(), ["user", "assistant", "user", "assistant", "user"])
        status, _, body = call(self.replicas[2], "golf", "/v1/responses",
                               {"model": MODEL, "input": "x", "previous_response_id": r1})
        self.assertEqual(status, 400, body)
        self.assertIn(b"previous response is not known", body)
        owner = self.owner("free")
        self.assertGreater(int(self.cluster.cli(owner, "PTTL", "signgate:{free}:r:" + r1) or 0), 0)

    def test_async_invocations_are_their_clients_on_every_replica(self):
        start = {"modelId": "amazon.nova-reel-v1:0", "modelInput": {"taskType": "TEXT_VIDEO"},
                 "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/out"}}}
        status, _, body = call(self.replicas[0], "media", "/async-invoke", start)
        self.assertEqual(status, 200, body)
        arn = json.loads(body)["invocationArn"]
        quoted = urllib.parse.quote(arn, safe="")
        status, _, body = call(self.replicas[1], "media", "/async-invoke/" + quoted, None, "GET")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["invocationArn"], arn)
        status, _, body = call(self.replicas[2], "media", "/async-invoke", None, "GET")
        self.assertEqual(status, 200, body)
        self.assertEqual([s["invocationArn"] for s in json.loads(body)["asyncInvokeSummaries"]], [arn])
        status, _, body = call(self.replicas[1], "studio", "/async-invoke/" + quoted, None, "GET")
        self.assertEqual(status, 404, body)
        status, _, body = call(self.replicas[2], "studio", "/async-invoke", None, "GET")
        self.assertEqual((status, json.loads(body)["asyncInvokeSummaries"]), (200, []))
        self.assertEqual(self.cluster.command("GET", "signgate:async_owner:" + arn), "media")

    def test_a_revoked_key_is_refused_on_every_replica_within_a_second(self):
        for gw in self.replicas:
            self.assertEqual(converse(gw, "golf"), 200)
        # `signgate revoke` with a config naming the one node no replica was given.
        used = {urllib.parse.urlsplit(u).port for urls in self.seed_urls for u in urls}
        other = next(n for n in self.cluster.nodes if n.port not in used)
        with tempfile.TemporaryDirectory(prefix="signgate-revoke-") as d:
            with open(self.replicas[0].config_path) as f:
                text = f.read()
            path = os.path.join(d, "signgate.yaml")
            seed = self.seed_urls[0][0]
            self.assertIn(seed, text)
            with open(path, "w") as f:
                f.write(text.replace(seed, self.cluster.url(other)))
            p = run("revoke", "--config", path, "--client", "golf")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"revoked 1 secret of client golf", p.stdout)
        self.assertNotIn(PASSWORD.encode(), p.stdout + p.stderr)
        revoked_at = time.monotonic()
        for gw in self.replicas:
            self.assertTrue(wait_for(lambda: converse(gw, "golf") == 401, seconds=5), gw.logs()[-2000:])
        self.assertLess(time.monotonic() - revoked_at, 1.0 * SLOWDOWN)
        self.assertEqual(converse(self.replicas[2], "free"), 200, "other clients are not touched")

    def test_z_no_command_failed_anywhere(self):
        """Last (by name): after everything above, no node counted an error reply other than
        the redirections and NOSCRIPT, and no replica a Redis failure or a local fallback."""
        self.assert_no_unexpected_errors()
        for gw in self.replicas:
            text = gw.metrics()
            self.assertIn("signgate_redis_failures_total 0\n", text, gw.logs()[-3000:])
            self.assertIn("signgate_redis_local_fallbacks_total 0\n", text)


class Failover(ClusterFleet):
    """steady and juliet have their keys on the same master (slots 15968 and 15901), which the
    test kills; free has no limits; counted has limits no test reaches, on another master."""
    on_failure = "local"
    clients = [client("steady", rate_limit=SIX), client("juliet", rate_limit=SIX), client("free"),
               client("counted", rate_limit="{ requests_per_minute: 1000000 }")]

    @classmethod
    def seeds(cls):
        victim = cls.victim()
        others = [m for m in cls.cluster.masters() if m is not victim]
        # Replica 0 has the master about to die as its only seed.
        return [[cls.cluster.url(victim)], [cls.cluster.url(cls.cluster.replica_of(others[0]))],
                [cls.cluster.url(others[1])]]

    @classmethod
    def victim(cls):
        return cls.cluster.master_of_slot(keyslot("signgate:{steady}:requests"))

    def test_a_master_killed_under_load(self):
        victim = self.victim()
        self.assertIs(self.owner("juliet"), victim)
        self.assertIsNot(self.owner("counted"), victim)
        stop = threading.Event()
        results = [[] for _ in self.replicas]

        def load(i):
            gw, n = self.replicas[i], 0
            while not stop.is_set():
                name = ("steady", "free", "counted")[n % 3]
                n += 1
                try:
                    results[i].append((name, converse(gw, name)))
                except Exception as e:  # noqa: BLE001  (recorded, asserted on below)
                    results[i].append((name, repr(e)))
                time.sleep(0.01)

        threads = [threading.Thread(target=load, args=(i,)) for i in range(len(self.replicas))]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)
            killed_at = time.monotonic()
            self.cluster.kill(victim)
            new_master = self.cluster.wait_promoted(victim)
            promoted_at = self.cluster.promoted_at
            # Traffic goes on until 10 s after the promotion: by then one limit holds again.
            time.sleep(max(0.0, promoted_at + 10 * SLOWDOWN - time.monotonic()))
        finally:
            stop.set()
            for t in threads:
                t.join()
        for gw in self.replicas:
            self.assertIsNone(gw.proc.poll(), gw.logs()[-3000:])
        statuses, elapsed = burst(self.replicas, "juliet", 6)
        self.assert_limit_held(statuses, elapsed, 6, 10)
        self.assertTrue(self.exists_on(new_master, "signgate:{juliet}:requests"),
                        "the promoted replica has the client's keys")
        self.assertTrue(self.exists_on(new_master, "signgate:{steady}:requests"))

        for i, gw in enumerate(self.replicas):
            wrong = [(name, status) for name, status in results[i]
                     if status != 200 and not (name == "steady" and status == 429)]
            self.assertEqual(wrong, [], "replica %d: %s" % (i, gw.logs()[-3000:]))
            # Through the failover too: some requests ran while the master was down.
            self.assertGreater(len(results[i]), 30, results[i])
            sent = len(results[i]) + 6
            lines = gw.wait_audit(sent)
            self.assertEqual(len(lines), sent, "one audit line per request on replica %d" % i)
        refreshes = metric(self.replicas[0], "signgate_redis_map_refreshes_total") or 0
        self.assertGreaterEqual(refreshes, 2, "replica 0 read the map again after losing its seed")
        print("\n  promotion %.1f s after the kill; %d requests" %
              (promoted_at - killed_at, sum(len(r) for r in results)), end=" ")


class Ask(ClusterFleet):
    """mover (slot 13624) may make 60 requests a minute, and has token limits no test reaches
    (so that its three keys exist and move together): a burst of 66 leaves it one a second,
    and requests keep coming while its slot moves to another master, slowly enough that many
    meet each step. papa and romeo (slots 6896 and 9365) have a requests limit only: two of the
    three keys their admission script names never exist, so the nodes answer TRYAGAIN while
    the slot moves; their slots move back and forth, at once or in 100 ms."""
    on_failure = "local"
    clients = [client("mover", rate_limit="{ requests_per_minute: 60, tokens_per_minute: 1000000000 }",
                      budget="{ tokens_per_day: 1000000000000 }"),
               client("papa", rate_limit=SIX), client("romeo", rate_limit=SIX)]

    def stream(self, name, stop, out, pause):
        n = 0
        while not stop.is_set():
            out.append(converse(self.replicas[n % len(self.replicas)], name))
            n += 1
            time.sleep(pause)

    def assert_no_failure(self):
        self.assert_no_unexpected_errors()
        for gw in self.replicas:
            text = gw.metrics()
            self.assertIn("signgate_redis_failures_total 0\n", text, gw.logs()[-3000:])
            self.assertIn("signgate_redis_local_fallbacks_total 0\n", text)

    def test_a_slot_moved_by_hand_under_traffic_keeps_its_limit(self):
        name = "mover"
        keys = ["signgate:{mover}:requests", "signgate:{mover}:tokens"]
        slot = keyslot(keys[0])
        source = self.owner(name)
        target = next(m for m in self.cluster.masters() if m is not source)
        started = time.monotonic()
        statuses, _ = burst(self.replicas, name, 22)
        # The answers' tokens are charged after them: then all of the client's keys exist.
        self.assertTrue(wait_for(lambda: all(self.exists_on(source, k) for k in keys)
                                 and self.cluster.cli(source, "--scan", "--pattern", "signgate:{mover}:day:*")))
        stop = threading.Event()
        more = []
        thread = threading.Thread(target=self.stream, args=(name, stop, more, 0.05))
        thread.start()
        try:
            time.sleep(0.7)
            self.assertIs(self.cluster.begin_migration(slot, target), source)
            time.sleep(1.0)
            moved = self.cluster.migrate_keys(slot, source, target)
            asks = self.cluster.error_stats(source).get("ASK", 0)
            time.sleep(1.5)  # the source answers ASK now
            asks = self.cluster.error_stats(source).get("ASK", 0) - asks
            self.cluster.finish_migration(slot, target)
            time.sleep(1.0)
        finally:
            stop.set()
            thread.join()
        elapsed = time.monotonic() - started
        # requests, tokens, the day's tokens, the day's and the month's USD, the day's usage totals
        self.assertEqual(moved, 6, "every key of the client moved")
        everything = statuses + more
        self.assertEqual(sorted(set(everything) - {200, 429}), [], everything)
        served = everything.count(200)
        # 60 at once, then one a second: never more; hardly fewer, as requests never stop.
        self.assertLessEqual(served, 60 + int(elapsed) + 1, (served, elapsed, everything))
        self.assertGreaterEqual(served, 60 + int(elapsed) - 3, (served, elapsed, everything))
        self.assertGreater(asks, 5, "the source answered ASK to the requests meanwhile")
        self.cluster.wait_ok()
        self.assertIs(self.owner(name), target)
        self.assertTrue(all(self.exists_on(target, k) for k in keys))
        self.assertIn("MOVED", self.cluster.cli_raw(source, "EXISTS", keys[0]))
        self.assert_no_failure()

    def reshard_under_traffic(self, name, hold):
        """Moves the client's slot away and back three times, `hold` seconds each, while each
        replica streams its requests; asserts no failure and one exact limit."""
        slot = keyslot("signgate:{%s}:requests" % name)
        home = self.owner(name)
        away = next(m for m in self.cluster.masters() if m is not home)
        stop = threading.Event()
        outs = [[] for _ in self.replicas]
        started = time.monotonic()
        threads = [threading.Thread(target=self.stream, args=(name, stop, outs[i], 0.01)) for i in range(3)]
        for t in threads:
            t.start()
        moves = []
        try:
            time.sleep(0.5)
            for i in range(6):
                self.cluster.move_slot(slot, (away, home)[i % 2], hold=hold)
                moves.append(round(self.cluster.last_move_seconds * 1000))
                time.sleep(0.3)
        finally:
            stop.set()
            for t in threads:
                t.join()
        elapsed = time.monotonic() - started
        everything = [s for out in outs for s in out]
        self.assertEqual(sorted(set(everything) - {200, 429}), [], everything)
        failures = [metric(gw, "signgate_redis_failures_total") for gw in self.replicas]
        self.assertEqual(failures, [0, 0, 0], "moves of %s ms; error replies: %s; served %d of %d" % (
            moves, [self.cluster.error_stats(m) for m in self.cluster.masters()], everything.count(200),
            len(everything)))
        self.assert_limit_held(everything, elapsed, 6, 10)
        self.assertIs(self.owner(name), home)
        self.assertTrue(self.exists_on(home, "signgate:{%s}:requests" % name))
        self.assert_no_failure()

    def test_b_a_quick_reshard_of_a_slot_whose_keys_are_missing(self):
        """As `redis-cli --cluster reshard` moves a slot: a few milliseconds."""
        self.reshard_under_traffic("papa", 0)

    def test_c_a_reshard_shorter_than_the_command_timeout(self):
        """Each move takes 100 ms, less than the command timeout (250 ms): a command the nodes
        answer TRYAGAIN meanwhile is tried again until the slot has moved."""
        self.reshard_under_traffic("romeo", 0.1)


class SeedsAndOutage(ClusterFleet):
    """Replica 0 denies (on_failure: deny), replica 1 falls back to its own view (local)."""
    on_failure = ["deny", "local"]
    clients = [client("free"), client("bravo", rate_limit=SIX)]

    @classmethod
    def seeds(cls):
        return super().seeds()[:2]

    def config_with(self, redis, directory):
        """Replica 0's config with another redis: block."""
        with open(self.replicas[0].config_path) as f:
            lines = [line for line in f.read().splitlines(keepends=True) if not line.startswith("redis:")]
        path = os.path.join(directory, "signgate.yaml")
        with open(path, "w") as f:
            f.write("".join(lines).replace(self.replicas[0].audit_path, os.path.join(directory, "audit.jsonl"))
                    + redis)
        return path

    def test_a_cluster_has_only_database_0(self):
        url = self.cluster.url(self.cluster.masters()[1], db=3)
        with tempfile.TemporaryDirectory(prefix="signgate-db3-") as d:
            # Said to be a cluster: refused without connecting.
            p = run("check-config", "--config", self.config_with('redis: { url: "%s", cluster: true }\n' % url, d))
            self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
            self.assertIn(b"database", p.stderr)
            self.assertNotIn(PASSWORD.encode(), p.stdout + p.stderr, "the password is never printed")
            # cluster: auto (the default): check-config does not connect; serve finds a cluster
            # node and refuses at start.
            path = self.config_with(redis_block([url], "local"), d)
            p = run("check-config", "--config", path)
            out = p.stdout + p.stderr
            if p.returncode == 0:
                env = {"HOME": d, "AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": BASE_KEY,
                       "AWS_SECRET_ACCESS_KEY": BASE_SECRET}
                try:
                    p = run("serve", "--config", path, env=env, timeout=10 * SLOWDOWN, clear_aws=True)
                except subprocess.TimeoutExpired as e:
                    self.fail("serve kept running with database 3 in a cluster URL:\n%s" % (e.stderr or b"").decode())
                out = p.stdout + p.stderr
            self.assertNotEqual(p.returncode, 0, out)
            self.assertIn(b"database", out.lower())
            self.assertNotIn(PASSWORD.encode(), out, "the password is never printed")

    def test_b_a_dead_first_seed_is_skipped(self):
        dead = "redis://:%s@127.0.0.1:%d" % (PASSWORD, pick_ports(1)[0])
        gw = Gateway(self.fake_url, self.clients,
                     extra=redis_block([dead, self.cluster.url(self.cluster.masters()[2])], "local"))
        try:
            self.assertTrue(wait_for(lambda: identities_fetched(gw) == len(self.clients), seconds=30))
            statuses = [converse(gw, "bravo") for _ in range(7)]
            self.assertEqual(statuses, [200] * 6 + [429], gw.logs()[-3000:])
            self.assertTrue(self.exists_on(self.owner("bravo"), "signgate:{bravo}:requests"),
                            "the limit is the cluster's")
        finally:
            code = gw.stop()
            logs = discard(gw)
        self.assertEqual(code, 0, logs)

    def test_c_with_every_node_down_deny_refuses_once_revocations_are_stale(self):
        deny, local = self.replicas
        for gw in self.replicas:
            self.assertEqual(converse(gw, "free"), 200)
        killed_at = time.monotonic()
        for node in self.cluster.nodes:
            self.cluster.kill(node)
        try:
            # The revocation set read last is good for 5 s.
            self.assertEqual(converse(deny, "free"), 200, "served in the first moments")
            self.assertTrue(wait_for(lambda: converse(deny, "free") == 503, seconds=10), deny.logs()[-3000:])
            stale_after = time.monotonic() - killed_at
            self.assertGreater(stale_after, 3.5, "the set read within the last second is good for 5 s")
            status, headers, body = call(deny, "free")
            self.assertEqual(status, 503, body)
            self.assertEqual(headers.get("x-amzn-errortype"), "ServiceUnavailableException")
            self.assertRegex(body.lower(), rb"revocation|revoked")
            status, _, body = call(deny, "free", "/v1/chat/completions", CHAT)
            self.assertEqual(status, 503, body)
            self.assertRegex(json.loads(body)["error"]["message"].lower(), "revocation|revoked")
            self.assertEqual(ops(deny, "/readyz"), (200, {"status": "ready", "redis": "unreachable",
                                                          "revocations": "stale"}))
            self.assertEqual(metric(deny, "signgate_revocations_stale"), 1)
            # on_failure: local serves, and says what that risks.
            self.assertEqual(converse(local, "free"), 200)
            # Its own last read may have been up to a second later than the other's.
            self.assertTrue(wait_for(lambda: metric(local, "signgate_revocations_stale") == 1, seconds=3))
            self.assertTrue(wait_for(lambda: "revoked secrets may be accepted until Redis answers" in local.logs()),
                            local.logs()[-3000:])
        finally:
            for node in self.cluster.nodes:
                self.cluster.start(node, wait=False)
        self.cluster.wait_ok()
        self.assertTrue(wait_for(lambda: converse(deny, "free") == 200, seconds=20), deny.logs()[-3000:])
        self.assertTrue(wait_for(lambda: ops(deny, "/readyz") == (200, {"status": "ready", "redis": "up"}),
                                 seconds=10), ops(deny, "/readyz"))
        self.assertEqual(metric(deny, "signgate_revocations_stale"), 0)
        self.assertEqual(converse(local, "free"), 200)
        for gw in self.replicas:
            self.assertIsNone(gw.proc.poll())


class Tls(ClusterFleet):
    """A cluster speaking only TLS; one replica, seeded with a replica node's rediss:// URL."""
    tls = True
    clients = [client(n, rate_limit=SIX) for n in ON_THREE_MASTERS] + [client("delta", rate_limit=SIX)]

    @classmethod
    def seeds(cls):
        return super().seeds()[1:2]

    def test_limits_on_every_master_over_tls(self):
        gw = self.replicas[0]
        self.assertTrue(gw.url)
        owners = [self.owner(n) for n in ON_THREE_MASTERS]
        self.assertEqual(len(set(owners)), 3, owners)
        for name, owner in zip(ON_THREE_MASTERS, owners):
            self.assertEqual([converse(gw, name) for _ in range(7)], [200] * 6 + [429], name)
            self.assertTrue(self.exists_on(owner, "signgate:{%s}:requests" % name))
        text = gw.metrics()
        self.assertIn("signgate_redis_failures_total 0\n", text, gw.logs()[-3000:])
        self.assertIn("signgate_redis_up 1\n", text)
        self.assertGreaterEqual(metric(gw, "signgate_redis_cluster_nodes") or 0, 3)

    def test_another_cas_certificates_are_refused(self):
        with tempfile.TemporaryDirectory(prefix="signgate-ca-") as d:
            other = make_ca(d)
            seed = self.cluster.url(self.cluster.masters()[0])
            try:
                gw = Gateway(self.fake_url, self.clients, extra=redis_block([seed], "local", other["ca"]))
            except RuntimeError as e:  # refusing to start is as good
                self.assertRegex(str(e).lower(), "certificate|verify|tls")
                return
            try:
                self.assertTrue(wait_for(lambda: identities_fetched(gw) == len(self.clients), seconds=30))
                self.assertEqual(converse(gw, "delta"), 200, "local limits while Redis is not trusted")
                self.assertEqual(metric(gw, "signgate_redis_up"), 0)
                self.assertFalse(self.exists_on(self.owner("delta"), "signgate:{delta}:requests"))
            finally:
                code = gw.stop()
                discard(gw)
            self.assertEqual(code, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
