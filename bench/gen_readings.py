#!/usr/bin/python3
"""Writes a synthetic fleet recording in pgpulse's native CSV format, for the benchmarks.

    bench/gen_readings.py --rows 1000000 --out bench/out/readings.csv

Header `robot_id,ts,axis1,...,axis8`; ts is ISO 8601 UTC with milliseconds and a Z. Each robot
samples every 2 s (plus a fixed per-robot offset and up to 50 ms of jitter), so its timestamps
are strictly increasing; rows are written tick by tick, all robots per tick, as a collector
would. A robot repeats a motion program (a 20-77 s cycle): each joint current (amperes) is a
gravity offset plus two harmonics of that cycle plus sensor noise, with axis sizes of a typical
six-axis arm and two external axes. Deterministic for a given --seed.

Prints what it wrote as one JSON object on standard output: rows, robots, the first and last
UTC day (for creating the partitions the data needs) and the first and last timestamp in
milliseconds since the Unix epoch (for checking a load).
"""
import argparse
import json
import sys

import numpy as np
import pandas as pd

PERIOD_MS = 2000
JITTER_MS = 50
# Peak current (A) of axes 1..8 and their offset from gravity (axes 2 and 3 hold the arm up).
AMPLITUDE = np.array([8.0, 10.0, 6.0, 2.5, 2.0, 1.5, 4.0, 3.0])
GRAVITY = np.array([0.0, 4.5, 2.0, 0.0, 0.3, 0.0, 0.0, 0.0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--robots", type=int, default=20)
    ap.add_argument("--start", default="2024-03-04T22:00:00Z", help="first tick (UTC)")
    ap.add_argument("--seed", type=int, default=20240304)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.rows < 1 or a.robots < 1:
        ap.error("--rows and --robots must be positive")

    rng = np.random.default_rng(a.seed)
    n = a.rows
    idx = np.arange(n)
    tick = idx // a.robots
    robot = idx % a.robots                          # 0-based; robot_id is robot + 1

    # Per-robot constants: clock offset within the period, program cycle, size, phases.
    offset_ms = rng.integers(0, PERIOD_MS - JITTER_MS, a.robots)
    cycle_s = 20.0 + 3.0 * np.arange(a.robots)
    size = rng.uniform(0.85, 1.15, a.robots)
    phase1 = rng.uniform(0, 2 * np.pi, (a.robots, 8))
    phase2 = rng.uniform(0, 2 * np.pi, (a.robots, 8))

    start = np.datetime64(a.start.rstrip("Z"), "ms")
    ms = tick * PERIOD_MS + offset_ms[robot] + rng.integers(0, JITTER_MS, n)
    ts = start + ms.astype("timedelta64[ms]")

    u = 2 * np.pi * ((ms / 1000.0) % cycle_s[robot] / cycle_s[robot])[:, None]
    amp = AMPLITUDE[None, :] * size[robot][:, None]
    cur = (GRAVITY[None, :] * size[robot][:, None]
           + amp * (np.sin(u + phase1[robot]) + 0.35 * np.sin(2 * u + phase2[robot]))
           + rng.normal(0.0, 0.03, (n, 8)) * amp)

    df = pd.DataFrame(cur, columns=[f"axis{i}" for i in range(1, 9)])
    df.insert(0, "ts", np.datetime_as_string(ts, unit="ms", timezone="UTC"))
    df.insert(0, "robot_id", robot + 1)
    df.to_csv(a.out, index=False, float_format="%.3f", lineterminator="\n")

    days = ts.astype("datetime64[D]")
    print(json.dumps({"rows": n, "robots": a.robots,
                      "first_day": str(days.min()), "last_day": str(days.max()),
                      "ts_min_ms": int(ts.min().astype("int64")),
                      "ts_max_ms": int(ts.max().astype("int64"))}))


if __name__ == "__main__":
    sys.exit(main())
