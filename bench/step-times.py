#!/usr/bin/env python3
"""Where a run's time went, from its JSON summary (<base_dir>/logs/*.json): per kind of
step, the steps' summed time and the wall-clock span from the first start to the last
finish. Sequential runs have the two equal; side by side, the span is what the kind
costs the cycle.

usage: bench/step-times.py SUMMARY.json"""
import json
import sys
from datetime import datetime


def when(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


steps = json.load(open(sys.argv[1]))["steps"]
kinds = {}
for s in steps:
    if s.get("started") and s.get("finished"):
        kinds.setdefault(s["kind"], []).append((when(s["started"]), when(s["finished"])))
parts = []
for kind, spans in kinds.items():
    total = sum((b - a).total_seconds() for a, b in spans)
    wall = (max(b for _, b in spans) - min(a for a, _ in spans)).total_seconds()
    parts.append(f"{kind} {total:.1f} s in {wall:.1f} s")
print("; ".join(parts))
