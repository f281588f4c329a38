#!/usr/bin/env python3
"""simscore: scores detector episodes against the simulator's ground truth.

Usage:
    simscore.py EPISODES.csv TRUTH.csv [--slack S] [--json] [--false-alarms FILE]

    EPISODES.csv  from `pgpulse detect --replay IN.csv --episodes EPISODES.csv`:
                  key,channel,level,ts_start,ts_end,peak_score,detector,reason,points
    TRUTH.csv     from `pgpulse gen ... --truth TRUTH.csv`:
                  robot_id,axis,kind,level,ts_start,ts_end   (axis 1..8 or `all`)
    --slack S     seconds after a fault's end in which an episode still matches it (30)
    --json        print one JSON object instead of the table (for the bench)
    --false-alarms FILE   write the episodes that match no fault to FILE (CSV), for tuning

Matching: an episode matches a fault when the key equals the fault's robot_id, the channel
is `axisN` with N the fault's axis (or the episode's channel is `multi`, or the fault's axis
is `all`), and the episode's [ts_start, ts_end] overlaps the fault's [ts_start, ts_end + slack].

Figures:
  per fault kind   faults, detected (matched by >= 1 episode), recall, median detection delay
                   (the first matching episode's start minus the fault's start, clipped at 0),
                   F1 = 2PR / (P + R) with P the overall precision below; for plateau also the
                   share of detected faults whose highest matching level equals the truth's.
  precision        episodes that match any fault (of any kind, dropout, wear, late, duplicate
                   and clock_jump included) / all episodes: one strict number, since every
                   episode is an alarm someone has to look at.
  per detector     episodes, false alarms (matching nothing) and precision of each detector
                   named in the episodes, so that tuning knows whom to blame.

Timestamps: ISO 8601 (`2026-01-01T00:00:05.326Z`, any UTC offset) or epoch seconds.
Python 3 standard library only.
"""
import argparse
import bisect
import csv
import datetime
import json
import signal
import statistics
import sys

KINDS = ["plateau", "spike", "stuck", "noise", "dropout", "wear", "duplicate", "late", "clock_jump"]
LEVELS = {"ALERT": 1, "ERROR": 2}


def parse_ts(s):
    """Seconds since 1970 from ISO 8601 or epoch seconds."""
    s = s.strip()
    try:
        return float(s)
    except ValueError:
        pass
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    t = datetime.datetime.fromisoformat(s.replace(" ", "T", 1) if "T" not in s else s)
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t.timestamp()


def norm_key(k):
    k = k.strip()
    try:
        return str(int(float(k)))
    except ValueError:
        return k


def load_truth(path):
    faults = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            axis = row["axis"].strip()
            faults.append({
                "robot": norm_key(row["robot_id"]),
                "axis": None if axis in ("all", "0", "") else int(axis),
                "kind": row["kind"].strip(),
                "level": LEVELS.get(row["level"].strip().upper(), 0),
                "start": parse_ts(row["ts_start"]),
                "end": parse_ts(row["ts_end"]),
                "first": None,      # earliest start of a matching episode
                "best_level": 0,    # highest level of a matching episode
            })
    return faults


def load_episodes(path):
    eps = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            ch = row["channel"].strip()
            axis = None
            if ch != "multi":
                digits = "".join(c for c in ch if c.isdigit())
                axis = int(digits) if ch.lower().startswith("axis") and digits else ch
            eps.append({
                "row": row,
                "robot": norm_key(row["key"]),
                "multi": ch == "multi",
                "axis": axis,
                "level": LEVELS.get(row["level"].strip().upper(), 0),
                "start": parse_ts(row["ts_start"]),
                "end": parse_ts(row["ts_end"]),
                "detector": row.get("detector", "").strip() or "?",
            })
    return eps


def match(eps, faults, slack):
    """Marks each episode's matches; returns the list of matched flags per episode."""
    by_robot = {}
    for fl in faults:
        by_robot.setdefault(fl["robot"], []).append(fl)
    index = {}
    for r, fs in by_robot.items():
        fs.sort(key=lambda fl: fl["start"])
        # Faults overlap in time only a little, but a long one (wear) may start long before:
        # keep the running maximum of the ends to know how far back to look.
        starts = [fl["start"] for fl in fs]
        index[r] = (fs, starts)
    longest = max((fl["end"] - fl["start"] for fl in faults), default=0) + slack
    matched = []
    for ep in eps:
        hit = False
        fs, starts = index.get(ep["robot"], ([], []))
        lo = bisect.bisect_left(starts, ep["start"] - longest)
        hi = bisect.bisect_right(starts, ep["end"])
        for fl in fs[lo:hi]:
            if ep["start"] > fl["end"] + slack or ep["end"] < fl["start"]:
                continue
            if not (ep["multi"] or fl["axis"] is None or ep["axis"] == fl["axis"]):
                continue
            hit = True
            if fl["first"] is None or ep["start"] < fl["first"]:
                fl["first"] = ep["start"]
            fl["best_level"] = max(fl["best_level"], ep["level"])
        matched.append(hit)
    return matched


def score(eps, faults, slack):
    matched = match(eps, faults, slack)
    n_eps = len(eps)
    n_true = sum(matched)
    precision = n_true / n_eps if n_eps else 0.0
    kinds = {}
    for k in KINDS + sorted({fl["kind"] for fl in faults} - set(KINDS)):
        fs = [fl for fl in faults if fl["kind"] == k]
        if not fs:
            continue
        det = [fl for fl in fs if fl["first"] is not None]
        recall = len(det) / len(fs)
        delays = [max(0.0, fl["first"] - fl["start"]) for fl in det]
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        entry = {
            "faults": len(fs), "detected": len(det), "recall": recall, "f1": f1,
            "median_delay_s": statistics.median(delays) if delays else None,
        }
        if k == "plateau" and det:
            entry["level_agreement"] = sum(fl["best_level"] == fl["level"] for fl in det) / len(det)
        kinds[k] = entry
    detectors = {}
    for ep, m in zip(eps, matched):
        d = detectors.setdefault(ep["detector"], {"episodes": 0, "false_alarms": 0})
        d["episodes"] += 1
        d["false_alarms"] += not m
    for d in detectors.values():
        d["precision"] = (d["episodes"] - d["false_alarms"]) / d["episodes"]
    return {
        "slack_s": slack, "episodes": n_eps, "true_episodes": n_true,
        "false_alarms": n_eps - n_true, "precision": precision,
        "kinds": kinds, "detectors": detectors,
    }, matched


def print_table(res, out):
    out.write("episodes %d, matching a fault %d, false alarms %d: precision %.4f (slack %g s)\n\n"
              % (res["episodes"], res["true_episodes"], res["false_alarms"], res["precision"],
                 res["slack_s"]))
    out.write("%-11s %7s %9s %7s %7s %10s\n" % ("kind", "faults", "detected", "recall", "F1",
                                              "delay p50"))
    for k, e in res["kinds"].items():
        delay = "%.1f s" % e["median_delay_s"] if e["median_delay_s"] is not None else "-"
        extra = ("   levels agree %.0f %%" % (100 * e["level_agreement"])
                 if "level_agreement" in e else "")
        out.write("%-11s %7d %9d %7.3f %7.3f %10s%s\n" % (k, e["faults"], e["detected"],
                                                        e["recall"], e["f1"], delay, extra))
    out.write("\n%-10s %9s %13s %10s\n" % ("detector", "episodes", "false alarms", "precision"))
    for name, d in sorted(res["detectors"].items()):
        out.write("%-10s %9d %13d %10.4f\n" % (name, d["episodes"], d["false_alarms"],
                                              d["precision"]))


def main(argv):
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under `| head`
    ap = argparse.ArgumentParser(description="Scores detector episodes against simulator truth.")
    ap.add_argument("episodes")
    ap.add_argument("truth")
    ap.add_argument("--slack", type=float, default=30.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--false-alarms", metavar="FILE")
    a = ap.parse_args(argv)
    faults = load_truth(a.truth)
    eps = load_episodes(a.episodes)
    res, matched = score(eps, faults, a.slack)
    if a.false_alarms:
        with open(a.false_alarms, "w", newline="") as f:
            rows = [ep["row"] for ep, m in zip(eps, matched) if not m]
            if rows:
                w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
                w.writeheader()
                w.writerows(rows)
    if a.json:
        json.dump(res, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print_table(res, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
