"""bench/compare --base-build: the peer sss-base runs sss-server from the other
build folder (and only it does), in the same rounds as sss, and the table
gives sss's ratio against it; --base-build across hosts is refused with a
clear error."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import sb_harness as h
from sb_harness import T

h.init()
sys.path.insert(0, os.path.join(h.ROOT, "tests", "integration"))
from svc_redis import bindable, free_port  # noqa: E402

COMPARE = os.path.join(h.ROOT, "bench", "compare")
BUILD = os.path.dirname(h.SERVER)


def base_port():
    """compare gives its peers base, base + 10, ...: sss is first, sss-base (added last) 60 on."""
    for _ in range(50):
        p = free_port()
        if p + 60 <= 65535 and bindable(p + 60):
            return p
    raise RuntimeError("no free pair of ports 60 apart")


def compare(args, timeout=240):
    argv = [sys.executable, COMPARE] + [str(a) for a in args]
    print("# " + " ".join(argv))
    sys.stdout.flush()
    return subprocess.run(argv, capture_output=True, text=True, timeout=T(timeout))


c = h.Checks("test_bench_compare")
work = tempfile.mkdtemp(prefix="sss-compare-it-")
try:
    # The base build: a folder whose sss-server notes each start, then runs this build's.
    base = os.path.join(work, "base")
    starts = os.path.join(work, "base-starts")
    os.makedirs(os.path.join(base, "bench"))
    with open(os.path.join(base, "sss-server"), "w") as f:
        f.write(f'#!/bin/sh\necho started >>"{starts}"\nexec "{h.SERVER}" "$@"\n')
    os.chmod(os.path.join(base, "sss-server"), 0o755)
    os.symlink(h.APP, os.path.join(base, "bench", "libsss-bench.so"))
    results = os.path.join(work, "results")

    p = compare(["--peers", "sss", "--base-build", base, "--sss-build", BUILD,
                 "--bench", h.BENCH, "--workloads", "w1sat", "--runs", 1, "--duration", 1,
                 "--sweep", "none", "--base-port", base_port(), "--results-dir", results,
                 "--out", "t"])
    c.ok(p.returncode == 0, "compare --base-build runs", p.stderr[-2000:])
    try:
        with open(os.path.join(results, "t.json")) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        d = None
        c.fail("the results JSON is written in --results-dir", str(e))
    if d:
        c.ok(set(d["runs"]) == {"sss", "sss-base"}, "both sss and sss-base ran",
             str(sorted(d["runs"])))
        for n in ("sss", "sss-base"):
            run = (d["runs"].get(n) or [{}])[0].get("w1sat", {})
            dps = (run.get("json") or {}).get("deliveries_per_s") or 0
            c.ok(dps > 0 and (run.get("json") or {}).get("lost") == 0,
                 f"{n}: deliveries measured, none lost", str(run)[:500])
        c.eq(d["peers"]["sss-base"]["env"].get("SSS_BUILD"), os.path.abspath(base),
             "sss-base starts from the base build")
        c.ok("SSS_BUILD" not in d["peers"]["sss"].get("env", {}),
             "sss starts from --sss-build, not the base build")
    try:
        with open(starts) as f:
            n_starts = len(f.read().splitlines())
    except OSError:
        n_starts = 0
    c.eq(n_starts, 1, "the base build's sss-server started once (sss-base's one run), sss's never")
    md = ""
    try:
        with open(os.path.join(results, "t.md")) as f:
            md = f.read()
    except OSError:
        pass
    c.ok("sss base" in md and "**sss ×" in md, "the table has the sss base column and its ratio",
         md[-1500:])

    p = compare(["--peers", "sss", "--base-build", base, "--topology", "redis", "--runs", 1],
                timeout=60)
    c.ok(p.returncode == 2 and "--base-build compares builds on one host" in p.stderr,
         "--base-build with --topology is refused, saying why", p.stderr[-500:])
finally:
    shutil.rmtree(work, ignore_errors=True)
c.finish()
