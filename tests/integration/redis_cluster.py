"""A Redis Cluster of Debian's redis-server for the fleet tests: six nodes on 127.0.0.1 (three
masters with a replica each), a password, nothing saved to disk, made by `redis-cli --cluster
create`; plaintext, or TLS only (`tls-cluster`, `tls-replication`, a throw-away CA). A test
kills a master and waits for its replica's promotion, starts a node again on its port and
configuration file (it rejoins), or moves a slot by hand (IMPORTING / MIGRATING, MIGRATE, NODE)
to make the cluster answer ASK.

Every wait is scaled by SIGNGATE_TEST_SLOWDOWN. Nodes are started with `setpriv --pdeathsig
KILL`: they die with the thread that started them, so start them from the test's main
thread, never from a worker."""
import os
import random
import socket
import ssl
import subprocess
import tempfile
import time

from common import ROOT, SLOWDOWN

PASSWORD = "cluster-TEST-pass"
SLOTS = 16384


def crc16(data):
    """CRC-16/XMODEM, Redis Cluster's key hash."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def keyslot(key):
    """The hash slot of a key: of its hash tag `{...}` when it has a non-empty one."""
    data = key.encode() if isinstance(key, str) else key
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1:end]
    return crc16(data) % SLOTS


def pick_ports(count):
    """`count` distinct free loopback ports below the kernel's ephemeral range, so that no
    outgoing connection takes a killed node's port before the node is started on it again."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    held, ports = [], []
    try:
        while len(ports) < count:
            port = random.randrange(10000, low)
            if port in ports:
                continue
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            held.append(s)
            ports.append(port)
    finally:
        for s in held:
            s.close()
    return ports


class Connection:
    """One connection to a node speaking RESP itself, for steps that must follow each other
    within milliseconds (redis-cli is a process per command)."""

    def __init__(self, cluster, node):
        sock = socket.create_connection(("127.0.0.1", node.port), timeout=10 * SLOWDOWN)
        if cluster.tls:
            context = ssl.create_default_context(cafile=cluster.ca["ca"])
            sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
        self.sock = sock
        self.file = sock.makefile("rb")
        self.call("AUTH", PASSWORD)

    def call(self, *args):
        """The reply: bytes, int, list or None; an error reply raises RuntimeError."""
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._reply()

    def _reply(self):
        line = self.file.readline()
        if not line:
            raise RuntimeError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            if int(rest) < 0:
                return None
            data = self.file.read(int(rest) + 2)
            return data[:-2]
        if kind == b"*":
            return None if int(rest) < 0 else [self._reply() for _ in range(int(rest))]
        raise RuntimeError("unexpected reply %r" % line)

    def close(self):
        self.file.close()
        self.sock.close()


class Node:
    """One redis-server of the cluster; `id` is its cluster node ID."""

    def __init__(self, index, port, bus_port, directory):
        self.index, self.port, self.bus_port = index, port, bus_port
        self.dir = directory
        self.config_file = os.path.join(directory, "nodes.conf")
        self.log_file = os.path.join(directory, "redis.log")
        self.proc = None
        self.id = None

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def __repr__(self):
        return "node%d(%d%s)" % (self.index, self.port, "" if self.alive else ", down")


class RedisCluster:
    def __init__(self, tls=False, node_timeout_ms=1000, masters=3, replicas_per_master=1, extra_args=()):
        self.tls = tls
        self.node_timeout_ms = node_timeout_ms
        self.extra_args = list(extra_args)
        self.dir = tempfile.TemporaryDirectory(prefix="signgate-cluster-")
        self.ca = None
        if tls:
            subprocess.run(["sh", os.path.join(ROOT, "tests", "fakes", "make_test_ca.sh"), self.dir.name],
                           check=True, capture_output=True)
            self.ca = {k: os.path.join(self.dir.name, v) for k, v in
                       (("ca", "ca.pem"), ("cert", "server.pem"), ("key", "server.key"))}
        count = masters * (1 + replicas_per_master)
        ports = pick_ports(2 * count)
        self.nodes = []
        self._owned = {}  # node id: (the slot ranges it owned when it was killed, its replica)
        self.promoted_at = None
        for i in range(count):
            directory = os.path.join(self.dir.name, "node%d" % i)
            os.mkdir(directory)
            self.nodes.append(Node(i, ports[2 * i], ports[2 * i + 1], directory))
        try:
            for node in self.nodes:
                self.start(node, wait=False)
            for node in self.nodes:
                self._wait_answers(node)
                node.id = self.cli(node, "CLUSTER", "MYID")
            p = subprocess.run(self._cli_base() + ["--cluster", "create", *[n.address for n in self.nodes],
                                                   "--cluster-replicas", str(replicas_per_master), "--cluster-yes"],
                               capture_output=True, text=True, timeout=60 * SLOWDOWN)
            if p.returncode != 0:
                raise RuntimeError("redis-cli --cluster create failed:\n%s%s" % (p.stdout, p.stderr))
            self.wait_ok()
        except BaseException:
            self.stop()
            raise

    # --- Addresses and commands ---------------------------------------------------------------

    def url(self, node, db=None, password=PASSWORD):
        """redis://:PASSWORD@127.0.0.1:PORT (rediss:// under TLS), with /DB when db is given."""
        return "%s://:%s@127.0.0.1:%d%s" % ("rediss" if self.tls else "redis", password, node.port,
                                           "" if db is None else "/%d" % db)

    def _cli_base(self):
        args = ["redis-cli", "--no-auth-warning", "-a", PASSWORD]
        if self.tls:
            args += ["--tls", "--cacert", self.ca["ca"]]
        return args

    def cli(self, node, *args, timeout=10):
        """One command to that node through redis-cli (redirections not followed): its output,
        stripped, without carriage returns ("" when it failed or answered an error)."""
        try:
            p = subprocess.run(self._cli_base() + ["-h", "127.0.0.1", "-p", str(node.port), *map(str, args)],
                               capture_output=True, text=True, timeout=timeout * SLOWDOWN)
        except subprocess.TimeoutExpired:
            return ""
        out = p.stdout.replace("\r", "").strip()
        if p.returncode != 0 or out.startswith(("ERR", "MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN", "LOADING",
                                                "NOAUTH", "WRONGPASS", "CROSSSLOT", "READONLY")):
            return ""
        return out

    def cli_raw(self, node, *args, timeout=10):
        """Like cli, but the output as it is, errors included: for asserting on an error."""
        p = subprocess.run(self._cli_base() + ["-h", "127.0.0.1", "-p", str(node.port), *map(str, args)],
                           capture_output=True, text=True, timeout=timeout * SLOWDOWN)
        return (p.stdout + p.stderr).replace("\r", "").strip()

    def command(self, *args):
        """A command for the key it names, sent to the master that owns the key's slot (the
        cluster's view now): for reading what signgate wrote."""
        key = str(args[1]) if len(args) > 1 else ""
        return self.cli(self.master_of_slot(keyslot(key)), *args)

    def keyslot(self, key):
        return keyslot(key)

    # --- The cluster's view -------------------------------------------------------------------

    def alive(self):
        return [n for n in self.nodes if n.alive]

    def node_by_id(self, node_id):
        return next((n for n in self.nodes if n.id == node_id), None)

    def view(self, node=None):
        """CLUSTER NODES as one node sees it: {id: {"flags": set, "master": id or None,
        "slots": [(first, last)], "connected": bool}} ({} when it did not answer)."""
        for asked in ([node] if node else self.alive()):
            text = self.cli(asked, "CLUSTER", "NODES")
            if not text:
                continue
            nodes = {}
            for line in text.splitlines():
                parts = line.split()
                if len(parts) < 8:
                    continue
                slots = []
                for part in parts[8:]:
                    if part.startswith("["):
                        continue  # a slot being imported or migrated, on the node's own line
                    first, _, last = part.partition("-")
                    slots.append((int(first), int(last or first)))
                nodes[parts[0]] = {"flags": set(parts[2].split(",")), "master": None if parts[3] == "-" else parts[3],
                                   "slots": sorted(slots), "connected": parts[7] == "connected"}
            return nodes
        return {}

    def slot_map(self, node=None):
        """[(first, last, master id)] as a node sees it, sorted."""
        return sorted((first, last, node_id) for node_id, info in self.view(node).items()
                      for first, last in info["slots"])

    def master_of_slot(self, slot, node=None):
        """The node that owns a slot, in the view of `node` (default: the first that answers)."""
        for first, last, node_id in self.slot_map(node):
            if first <= slot <= last:
                return self.node_by_id(node_id)
        return None

    def masters(self):
        """The masters that own slots, in slot order."""
        seen = []
        for _, _, node_id in self.slot_map():
            node = self.node_by_id(node_id)
            if node not in seen:
                seen.append(node)
        return seen

    def replica_of(self, master):
        """One replica of that master (None when it has none)."""
        for node_id, info in self.view().items():
            if info["master"] == master.id and node_id != master.id:
                return self.node_by_id(node_id)
        return None

    def role(self, node):
        """"master" or "slave", from the node itself ("" when it does not answer)."""
        text = self.cli(node, "ROLE")
        return text.split("\n", 1)[0] if text else ""

    def info(self, node, section):
        """INFO SECTION as {name: value}."""
        out = {}
        for line in self.cli(node, "INFO", section).splitlines():
            if ":" in line and not line.startswith("#"):
                name, value = line.split(":", 1)
                out[name] = value
        return out

    def error_stats(self, node):
        """INFO errorstats as {"MOVED": count, ...}."""
        return {name[len("errorstat_"):]: int(value.split("count=")[1].split(",")[0])
                for name, value in self.info(node, "errorstats").items() if name.startswith("errorstat_")}

    def is_ok(self):
        """Every live node says cluster_state:ok, knows every node, sees all slots covered and
        the same slot map as the others, and every live replica's link to its master is up."""
        maps = []
        for node in self.alive():
            info = self.cli(node, "CLUSTER", "INFO")
            if "cluster_state:ok" not in info or "cluster_known_nodes:%d" % len(self.nodes) not in info:
                return False
            slot_map = self.slot_map(node)
            if sum(last - first + 1 for first, last, _ in slot_map) != SLOTS:
                return False
            maps.append(slot_map)
            if self.role(node) == "slave" and self.info(node, "replication").get("master_link_status") != "up":
                return False
        return bool(maps) and all(m == maps[0] for m in maps)

    def wait_ok(self, seconds=30):
        deadline = time.monotonic() + seconds * SLOWDOWN
        while not self.is_ok():
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster is not ok after %d s:\n%s" % (seconds, self.describe()))
            time.sleep(0.05)

    def describe(self):
        lines = []
        for node in self.nodes:
            lines.append("%r: %s" % (node, self.cli(node, "CLUSTER", "INFO").split("\n", 1)[0] if node.alive else ""))
            lines.append("  " + self.cli(node, "CLUSTER", "NODES").replace("\n", "\n  ") if node.alive else "")
        return "\n".join(lines)

    # --- Processes ----------------------------------------------------------------------------

    def _args(self, node):
        args = ["setpriv", "--pdeathsig", "KILL", "redis-server", "--bind", "127.0.0.1",
                "--cluster-enabled", "yes", "--cluster-config-file", node.config_file,
                "--cluster-node-timeout", str(self.node_timeout_ms), "--cluster-port", str(node.bus_port),
                # A replica takes over however long its master has been gone.
                "--cluster-replica-validity-factor", "0",
                "--requirepass", PASSWORD, "--masterauth", PASSWORD,
                "--save", "", "--appendonly", "no", "--dir", node.dir, "--logfile", node.log_file,
                # A replica's first copy at once, not 5 s later (Redis 7's default).
                "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
        if self.tls:
            args += ["--port", "0", "--tls-port", str(node.port), "--tls-cluster", "yes", "--tls-replication", "yes",
                     "--tls-cert-file", self.ca["cert"], "--tls-key-file", self.ca["key"],
                     "--tls-ca-cert-file", self.ca["ca"], "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(node.port)]
        return args + self.extra_args

    def _wait_answers(self, node, seconds=10):
        deadline = time.monotonic() + seconds * SLOWDOWN
        while self.cli(node, "PING", timeout=2) != "PONG":
            if not node.alive:
                raise RuntimeError("%r exited:\n%s" % (node, self.logs(node)[-2000:]))
            if time.monotonic() > deadline:
                raise RuntimeError("%r does not answer:\n%s" % (node, self.logs(node)[-2000:]))
            time.sleep(0.02)

    def start(self, node, wait=True):
        """Starts a node (again) on its port and configuration file: it rejoins the cluster with
        the role and slots the file names, as the cluster's newer epochs correct them. With
        `wait`, returns once it answers PING."""
        assert not node.alive, node
        node.proc = subprocess.Popen(self._args(node), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait:
            self._wait_answers(node)

    def kill(self, node):
        """SIGKILL: gone at once, as a crashed host. What it owned is remembered for
        wait_promoted."""
        if node.alive:
            owned = [(first, last) for first, last, node_id in self.slot_map() if node_id == node.id]
            if owned:
                self._owned[node.id] = (owned, self.replica_of(node))
            node.proc.kill()
            node.proc.wait()

    def logs(self, node):
        try:
            with open(node.log_file, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_promoted(self, old_master, seconds=30):
        """After `old_master` was killed: its replica, once it says role:master, owns every slot
        the old master owned in every live node's view, and the cluster is ok again. Sets
        self.promoted_at (time.monotonic()) to when the replica was first seen a master."""
        owned, replica = self._owned[old_master.id]
        assert replica is not None, "%r had no replica" % old_master
        self.promoted_at = None
        deadline = time.monotonic() + seconds * SLOWDOWN
        while time.monotonic() < deadline:
            if self.promoted_at is None and self.role(replica) == "master":
                self.promoted_at = time.monotonic()
            if self.promoted_at is not None and self.is_ok():
                slot_map = self.slot_map()
                if all(node_id == replica.id for first, last, node_id in slot_map
                       for a, b in owned if first <= b and a <= last):
                    return replica
            time.sleep(0.05)
        raise RuntimeError("no replica of %r was promoted within %d s:\n%s" % (old_master, seconds, self.describe()))

    # --- Moving a slot by hand (ASK) -----------------------------------------------------------

    def begin_migration(self, slot, target):
        """The target IMPORTING the slot, then its owner MIGRATING it: from now on the owner
        answers ASK for a key of the slot it no longer has. Returns the owner (the source)."""
        source = self.master_of_slot(slot)
        assert source is not None and source is not target, (source, target)
        assert self.cli(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", source.id) == "OK"
        assert self.cli(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", target.id) == "OK"
        return source

    def migrate_keys(self, slot, source, target, count=None):
        """MIGRATEs up to `count` (all when None) of the slot's keys from source to target.
        Returns how many moved."""
        moved = 0
        while count is None or moved < count:
            batch = 10 if count is None else min(10, count - moved)
            keys = self.cli(source, "CLUSTER", "GETKEYSINSLOT", slot, batch).split()
            if not keys:
                break
            out = self.cli(source, "MIGRATE", "127.0.0.1", target.port, "", 0, int(5000 * SLOWDOWN),
                           "AUTH", PASSWORD, "KEYS", *keys)
            if out not in ("OK", "NOKEY"):
                raise RuntimeError("MIGRATE %s failed: %s" % (keys, self.cli_raw(
                    source, "MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "AUTH", PASSWORD, "KEYS", *keys)))
            moved += len(keys)
        return moved

    def finish_migration(self, slot, target):
        """SETSLOT NODE target on the target, then on every other live master (the source
        first): the slot is the target's everywhere."""
        source_id = next(node_id for first, last, node_id in self.slot_map(target) if first <= slot <= last)
        source = self.node_by_id(source_id)
        order = [target] + ([source] if source is not target else []) + \
            [m for m in self.alive() if m not in (target, source) and self.role(m) == "master"]
        for node in order:
            assert self.cli(node, "CLUSTER", "SETSLOT", slot, "NODE", target.id) == "OK", node

    def move_slot(self, slot, target, hold=0.0):
        """Moves a slot to `target` as `redis-cli --cluster reshard` does, each step right
        after the other over open connections (IMPORTING, MIGRATING, MIGRATE its keys, NODE on
        every master): a few milliseconds, plus `hold` seconds spent half before the keys move
        (the source answers TRYAGAIN to a command naming some keys it lacks) and half after
        (it answers ASK). Returns the source; self.last_move_seconds is how long it took."""
        source = self.master_of_slot(slot)
        assert source is not None and source is not target, (source, target)
        others = [m for m in self.masters() if m not in (source, target)]
        conns = {}
        try:
            for node in [target, source] + others:
                conns[node] = Connection(self, node)
            started = time.monotonic()
            conns[target].call("CLUSTER", "SETSLOT", slot, "IMPORTING", source.id)
            conns[source].call("CLUSTER", "SETSLOT", slot, "MIGRATING", target.id)
            if hold:
                time.sleep(hold / 2)
            while True:
                keys = conns[source].call("CLUSTER", "GETKEYSINSLOT", slot, 100)
                if not keys:
                    break
                conns[source].call("MIGRATE", "127.0.0.1", target.port, "", 0, int(5000 * SLOWDOWN),
                                   "AUTH", PASSWORD, "KEYS", *keys)
            if hold:
                time.sleep(hold / 2)
            for node in [target, source] + others:
                conns[node].call("CLUSTER", "SETSLOT", slot, "NODE", target.id)
            self.last_move_seconds = time.monotonic() - started
        finally:
            for conn in conns.values():
                conn.close()
        return source

    def stop(self):
        for node in self.nodes:
            self.kill(node)
        self.dir.cleanup()
