#!/usr/bin/python3
"""What a route costs (issue 28): CPU per request of a routed Converse call next to an unrouted
one in the same signgate process, runs alternated; and the latency one failover adds when the
first target throttles (nginx answering 429 ThrottlingException), paced well under capacity.

Usage: bench/load/routes.py [--signgate build/signgate] [--baseline OLD/signgate] [--seconds 5] [--rounds 2]
(--baseline: an earlier build, measured on the unrouted call in the same alternation.)"""
import argparse
import datetime
import os
import platform
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402
import upstream as up  # noqa: E402

UNROUTED = "amazon.nova-micro-v1:0"
ROUTED = run.MODEL
FAILOVER = "meta.llama3-8b-instruct-v1:0"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signgate", default=os.path.join(run.ROOT, "build", "signgate"))
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--baseline", help="an earlier signgate binary, run unrouted alongside")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="signgate-routes-bench-")
    nginx = up.Upstream(work)
    sg = None
    base = None
    try:
        routes = ("routes:\n"
                  "  - name: routed\n    match: [\"%s\"]\n    targets:\n"
                  "      - { name: first, region: us-east-1 }\n"
                  "      - { name: second, region: us-west-2, bedrock_endpoint: \"%s\" }\n"
                  "  - name: failover\n    match: [\"%s\"]\n    eject: { after: 1000, for_seconds: 1 }\n"
                  "    targets:\n"
                  "      - { name: throttled, region: us-east-1, model: amazon.throttled-v1:0 }\n"
                  "      - { name: served, region: us-west-2, bedrock_endpoint: \"%s\", model: \"%s\" }\n"
                  % (ROUTED, nginx.url, FAILOVER, nginx.url, ROUTED))
        sg = run.Signgate(args.signgate, work, nginx.url, os.cpu_count() or 2, extra=routes)
        auth = {"authorization": "Bearer " + run.SECRET, "content-type": "application/json"}

        def target(name, model):
            return run.Target(name, sg.url + "/model/%s/converse" % model.replace(":", "%3A"), run.CONVERSE_BODY,
                              auth, [sg.pid])
        for model in (UNROUTED, ROUTED, FAILOVER):
            run.check_answer(target("check", model).url, run.CONVERSE_BODY, auth, "output")
        plain, routed = target("unrouted", UNROUTED), target("routed", ROUTED)
        runs = [plain, routed]
        if args.baseline:
            base = run.Signgate(args.baseline, work, nginx.url, os.cpu_count() or 2, name="baseline")
            runs.insert(0, run.Target("baseline", base.url + "/model/%s/converse" % UNROUTED.replace(":", "%3A"),
                                      run.CONVERSE_BODY, auth, [base.pid]))
        cpu = {t.name: [] for t in runs}
        rps = {t.name: [] for t in runs}
        for _ in range(args.rounds):
            for t in runs:
                r = run.run_wrk(t, args.connections, args.seconds, work)
                if r["errors"]:
                    raise RuntimeError("%s: %d errors" % (t.name, r["errors"]))
                cpu[t.name].append(r["cpu_us_per_req"])
                rps[t.name].append(r["rps"])
        # Latency: one call at a time per connection, 100 a second, through the route's first
        # target (served) and through a throttled first target then the second.
        direct = run.run_paced(routed, 2, 50, args.seconds, work)
        failed_over = run.run_paced(target("failover", FAILOVER), 2, 50, args.seconds, work)
        text = sg.metric("signgate_route_failovers_total")
        lines = ["## Routes (issue 28): a routed call's cost, and one failover's (%s)" %
                 datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), "",
                 "Machine: %s, %d vCPU, %s. Command: `bench/load/routes.py --seconds %d --rounds %d` "
                 "(wrk -c%d, runs alternated unrouted/routed; nginx canned upstream)." % (
                     platform.machine(), os.cpu_count(), platform.release(), args.seconds, args.rounds,
                     args.connections), "",
                 "| path | req/s (each run) | CPU µs/req (each run) |", "|---|---|---|"]
        for name in cpu:
            lines.append("| converse, %s | %s | %s |" % (name, " · ".join("%.0f" % v for v in rps[name]),
                                                        " · ".join("%.1f" % v for v in cpu[name])))
        mean = {k: sum(v) / len(v) for k, v in cpu.items()}
        lines += ["", "Routed over unrouted, CPU per request: %+.1f %%." % ((mean["routed"] / mean["unrouted"] - 1) * 100),
                  "", "| paced 100 req/s | p50 ms | p99 ms |", "|---|---:|---:|",
                  "| routed, first target serves | %s | %s |" % (run.fmt_ms(direct["p50"]), run.fmt_ms(direct["p99"])),
                  "| routed, first target throttles (one failover) | %s | %s |" % (
                      run.fmt_ms(failed_over["p50"]), run.fmt_ms(failed_over["p99"])),
                  "", "Failovers counted by signgate: %s." % text]
        print("\n".join(lines))
    finally:
        if sg:
            sg.stop()
        if base:
            base.stop()
        nginx.stop()


if __name__ == "__main__":
    main()
