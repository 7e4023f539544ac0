#!/usr/bin/env python3
"""Summarize an Autobahn fuzzingclient run (reports/index.json + per-case JSON).

usage: summarize.py OUTDIR [--agent sss]

Reads OUTDIR/reports/index.json, OUTDIR/reports/<agent>_case_*.json and the
wstest log OUTDIR/wstest.log (its "Cases = [...]" line is the list of cases
wstest meant to run, used to detect missing ones).  Prints counts per behavior
and per section, every FAILED case with its description and result text, and
every missing case.  Exit status: 0 if no case FAILED or is missing, else 1.
"""

import argparse
import ast
import collections
import html
import json
import os
import re
import sys

BEHAVIORS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
# Autobahn's own report shows any other behavior value as "Fail".
PASSING = {"OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"}
SECTIONS = {"1": "Framing", "2": "Pings/Pongs", "3": "Reserved Bits",
            "4": "Opcodes", "5": "Fragmentation", "6": "UTF-8 Handling",
            "7": "Close Handling", "8": "Misc", "9": "Limits/Performance",
            "10": "Misc (auto-fragmentation)", "12": "Compression",
            "13": "Compression"}


def case_key(case_id):
    return tuple(int(x) for x in case_id.split("."))


def plain(text, limit=400):
    text = re.sub(r"<br\s*/?>", " ", str(text))
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def planned_cases(log_path):
    """Case ids wstest announced ("Cases = [...]"), or None."""
    try:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("Cases = ["):
                    return ast.literal_eval(line[len("Cases = "):].strip())
    except OSError:
        pass
    return None


def log_lines(log_path, pattern):
    try:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            return [l.rstrip() for l in f if re.search(pattern, l)]
    except OSError:
        return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--agent", default="sss")
    args = ap.parse_args()

    reports = os.path.join(args.outdir, "reports")
    log_path = os.path.join(args.outdir, "wstest.log")
    planned = planned_cases(log_path)

    index_path = os.path.join(reports, "index.json")
    results = {}
    if os.path.exists(index_path):
        with open(index_path, encoding="utf-8") as f:
            index = json.load(f)
        results = index.get(args.agent, {})
        others = sorted(a for a in index if a != args.agent)
        if others:
            print("note: index.json also has agents %s (ignored)" % ", ".join(others))
    else:
        print("ERROR: %s not found: wstest did not finish (timeout or crash); "
              "see %s" % (index_path, log_path))
        started = log_lines(log_path, r"^Running test case ID ")
        if started:
            print("last case started: %s" % started[-1].split()[4])
        else:
            print("no case got past its opening handshake")

    for line in log_lines(log_path, r"^Connection to .* failed"):
        print("wstest: " + line)

    if planned is None:
        print("ERROR: no 'Cases = [...]' line in %s; cannot check for missing "
              "cases" % log_path)
        planned = []
    missing = sorted(set(planned) - set(results), key=case_key)

    counts = collections.Counter()
    per_section = collections.defaultdict(collections.Counter)
    failed = []
    for case_id in sorted(results, key=case_key):
        beh = results[case_id].get("behavior")
        key = beh if beh in BEHAVIORS else "FAILED"
        counts[key] += 1
        per_section[case_id.split(".")[0]][key] += 1
        if beh not in PASSING:
            failed.append(case_id)
    for case_id in missing:
        per_section[case_id.split(".")[0]]["MISSING"] += 1

    print("Autobahn fuzzingclient results for agent '%s': %d cases planned, "
          "%d reported" % (args.agent, len(planned), len(results)))
    print("  " + ", ".join("%s %d" % (b, counts[b]) for b in BEHAVIORS)
          + ", MISSING %d" % len(missing))
    print("per section:")
    for sec in sorted(per_section, key=int):
        c = per_section[sec]
        parts = ", ".join("%s %d" % (b, c[b]) for b in BEHAVIORS + ["MISSING"] if c[b])
        print("  %-3s %-26s %3d: %s" % (sec, SECTIONS.get(sec, "?"),
                                        sum(c.values()), parts))

    if failed:
        print("FAILED cases (%d):" % len(failed))
    for case_id in failed:
        entry = results[case_id]
        detail = {}
        report = os.path.join(reports, entry.get("reportfile", ""))
        try:
            with open(report, encoding="utf-8") as f:
                detail = json.load(f)
        except (OSError, ValueError):
            pass
        print("  %s  behavior=%s close=%s remoteCloseCode=%s duration=%sms"
              % (case_id, entry.get("behavior"), entry.get("behaviorClose"),
                 entry.get("remoteCloseCode"), entry.get("duration")))
        print("      description: %s" % plain(detail.get("description", "?")))
        print("      expectation: %s" % plain(detail.get("expectation", "?")))
        print("      result:      %s" % plain(detail.get("result", "?")))
        print("      close:       %s" % plain(detail.get("resultClose", "?")))
        print("      report:      %s" % report)
    if missing:
        shown = missing if len(missing) <= 60 else missing[:60] + ["..."]
        print("MISSING cases (%d): %s" % (len(missing), " ".join(shown)))

    ok = bool(results) and bool(planned) and not failed and not missing
    print("verdict: %s" % ("PASS" if ok else "FAIL"))
    # plain closing line: passed = reported and not failed; failed + missing
    print("autobahn: %d passed, %d failed" % (len(results) - len(failed),
                                             len(failed) + len(missing)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
