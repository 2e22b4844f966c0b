"""The real scheduler and host pipelines on simulated hosts and a virtual clock (yaffmpegp/sim):
mixed speeds (per-slot fps lognormal around 150) and links (100 Mbit/s to 10 Gbit/s), 1–4
slots, 5 % stragglers (10x slower from a random moment), 2 % hosts lost mid-run.
Prints, per scenario, makespan ÷ lower bound max(work ÷ total speed, bytes ÷ coordinator link)
(goal <= 1.10; also ÷ an attainable bound that counts each host's own link, the stragglers'
slowdown and the lost hosts, and ÷ the makespan of an offline schedule that knows every speed
and fault in advance but keeps segments whole), the coordinator's CPU per segment (process
time of the simulation less its simulated links', so still an upper bound: the simulated
encoders' own work is in it), and last the host count where one coordinator's CPU would saturate.
Usage: python bench/sim.py [--quick] [--seeds N] [--only TEXT]
(--seeds N: each scenario with seeds 1..N, the mean and worst ratios only: to tell a scheduler
change from one fleet's luck.)
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from yaffmpegp.sim.scenario import Scenario, run, saturation  # noqa: E402

SCENARIOS = [
    # few rounds: the tail decides; cut as the planner does knowing the slots, or not
    Scenario("20 hosts, 40 segments, no faults", 20, 40, stragglers=0, lost=0),
    Scenario("20 hosts, 40 segments, no faults, tail shaped by the planner", 20, 40, stragglers=0, lost=0,
             tail_shaped=True),
    Scenario("10 hosts, 100 segments", 10, 100),
    Scenario("100 hosts, 1,000 segments", 100, 1000),
    Scenario("100 hosts, 1,000 segments, FFV1 (link-bound)", 100, 1000, bytes_per_frame=277_000),
    # as real runs cut: the planner knows the slots and shortens the last segments
    Scenario("100 hosts, 1,000 segments, tail shaped by the planner", 100, 1000, tail_shaped=True),
    Scenario("100 hosts, 1,000 segments, FFV1 (link-bound), tail shaped by the planner", 100, 1000,
             bytes_per_frame=277_000, tail_shaped=True),
    Scenario("1,000 hosts, 10,000 segments", 1000, 10_000),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="leave out the 1,000-host scenario")
    ap.add_argument("--seeds", type=int, default=0, help="run each scenario with seeds 1..N; print mean and max")
    ap.add_argument("--only", default="", help="run only the scenarios whose name contains this text")
    args = ap.parse_args()
    scenarios = [sc for sc in (SCENARIOS[:-1] if args.quick else SCENARIOS) if args.only in sc.name]
    if args.seeds:
        for sc in scenarios:
            rs = [run(dataclasses.replace(sc, seed=k)) for k in range(1, args.seeds + 1)]
            bound, fore = [r.ratio for r in rs], [r.ratio_foresight for r in rs]
            dup = [r.report["duplicates"] for r in rs]
            print(f"{sc.name}, seeds 1-{args.seeds}: ratio mean {statistics.mean(bound):.3f} max {max(bound):.3f}; "
                  f"÷ foresight mean {statistics.mean(fore):.3f} max {max(fore):.3f}; "
                  f"wasted encode-s mean {statistics.mean(d['wasted_encode_seconds'] for d in dup):.0f}; "
                  f"segments moved (uploaded twice) {sum(d['moved_segments'] for d in dup)}, bytes sent twice "
                  f"(moves and second attempts) {sum(d['wasted_upload_bytes'] for d in dup) / 1e9:.1f} GB; "
                  f"every segment once: {all(r.done_once for r in rs)}", flush=True)
        return
    results = []
    for sc in scenarios:
        t0 = time.perf_counter()
        r = run(sc)
        results.append(r)
        d = r.report["duplicates"]
        print(f"{sc.name}: makespan {r.makespan:.0f} s (virtual), bound {r.bound:.0f} s, "
              f"{r.encodes} encodes for {r.segments} segments ({d['speculative_attempts']} second attempts, "
              f"{d['moved_segments']} moved, {d['wasted_encode_seconds']:.0f} encode-s wasted), "
              f"coordinator CPU {1000 * r.cpu_seconds / r.segments:.2f} ms/segment "
              f"({time.perf_counter() - t0:.1f} s real); every segment once: {r.done_once}; "
              f"attainable bound {r.attainable:.0f} s (each host's link, slowdowns, losses): ratio "
              f"{r.ratio_attainable:.3f}; an offline schedule with foresight (longest first, whole segments) "
              f"{r.foresight:.0f} s: ratio {r.ratio_foresight:.3f}; ratio {r.ratio:.3f} (goal <= 1.10)", flush=True)
    n = saturation(results)
    print(f"one coordinator saturates (CPU = wall) at about {n:,.0f} hosts" if n else "no saturation estimate")


if __name__ == "__main__":
    main()
