#!/usr/bin/env python3
"""nab_loco: NAB's leave-one-category-out protocol (issue 13) over results already written.

    nab_loco.py [--root NAB_ROOT] [--scorer NAB_SCORE] [--json] [--detail T] CONFIG=RESULTS ...

Each CONFIG=RESULTS names one configuration of the detector and the directory of its results
(<category>/<name>.csv with an anomaly_score column, as bench/detect/nab.sh --keep writes them).
With one configuration the protocol only chooses the threshold; with several it chooses the
configuration too, per fold, on the fold's training part.

Folds: one per category with anomaly windows (artificialNoAnomaly has none: it stays in every
training part). For each fold the configuration and the threshold are those with the best score
on the other categories plus artificialNoAnomaly (the standard profile, NAB's sweep); the held-out
category is then scored at that threshold. Beside them: the whole split (one configuration: the
best of those given on the whole split, its own best threshold) and each category in-sample (its
own best threshold), and the false alarms the chosen threshold gives on artificialNoAnomaly.

The scoring is the shared scorer's own code (NAB_SCORE, imported), the same arithmetic as
`nab_score.py ROOT RESULTS --threshold T` on a copy of the split holding one category; --check
runs that command for the first fold and fails if the two disagree.

--detail T prints, for the first configuration at threshold T, every window (caught or not, the
position score of its first detection) and every file's false alarms, for tuning by reason.
"""
import argparse
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SHARED = Path(os.environ.get("PGPULSE_SHARED", ROOT.parent / "shared"))
NOANOM = "artificialNoAnomaly"


def load_scorer(path):
    loader = importlib.machinery.SourceFileLoader("nab_score", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


class Split:
    """The split's files, windows and profile, parsed once."""

    def __init__(self, ns, root):
        self.ns = ns
        self.root = Path(root)
        self.windows = json.load(open(self.root / "labels" / "combined_windows.json"))
        self.cm = json.load(open(self.root / "config" / "profiles.json"))["standard"]["CostMatrix"]
        self.ts = {}
        self.win = {}
        for rel in sorted(self.windows):
            self.ts[rel] = [ns.parse_ts(x) for x in ns.read_col(str(self.root / "data" / rel), "timestamp")]
            self.win[rel] = [(ns.parse_ts(a), ns.parse_ts(b)) for a, b in self.windows[rel]]
        self.cats = sorted({rel.split("/")[0] for rel in self.windows})
        self.folds = [c for c in self.cats
                      if any(self.windows[r] for r in self.windows if r.startswith(c + "/"))]

    def points(self, resdir):
        """Per file: the scorer's sweep points of one configuration's results."""
        out = {}
        for rel in self.windows:
            rp = Path(resdir) / rel
            sc = [float(x) for x in self.ns.read_col(str(rp), "anomaly_score")]
            if len(sc) != len(self.ts[rel]):
                sys.exit(f"{rp}: {len(sc)} result rows for {len(self.ts[rel])} data rows")
            out[rel] = self.ns.sweep_points(self.ts[rel], sc, self.win[rel], rel, self.cm)
        return out

    def nwin(self, cats):
        return sum(len(self.windows[r]) for r in self.windows if r.split("/")[0] in cats)

    def score(self, pts, cats, thr=None):
        """(threshold, normalised standard score) over the files of cats: the best threshold
        (NAB's sweep) when thr is None, else thr."""
        p = [x for rel, v in pts.items() if rel.split("/")[0] in cats for x in v]
        if thr is None:
            thr, raw = self.ns.sweep(p, self.cm)
        else:
            raw = self.ns.score_at(p, self.cm, thr)
        n = self.nwin(cats)
        null, perfect = -self.cm["fnWeight"] * n, self.cm["tpWeight"] * n
        return thr, 100.0 * (raw - null) / (perfect - null)

    def false_alarms(self, pts, cats, thr):
        return sum(1 for rel, v in pts.items() if rel.split("/")[0] in cats
                   for a, s, key in v if key is None and a >= thr)


def loco(split, configs):
    """The protocol over {name: points}; returns a dict of figures."""
    res = {"folds": [], "in_sample": {}, "whole": None}
    for held in split.folds:
        train = [c for c in split.cats if c != held]
        best = None
        for name, pts in configs.items():
            t, s = split.score(pts, train)
            if best is None or s > best[2]:
                best = (name, t, s)
        name, t, s_train = best
        _, s_held = split.score(configs[name], [held], t)
        res["folds"].append({"held_out": held, "config": name, "threshold": t,
                             "train": round(s_train, 2), "held": round(s_held, 2),
                             "noanomaly_false_alarms": split.false_alarms(configs[name], [NOANOM], t)})
    res["mean_held"] = round(sum(f["held"] for f in res["folds"]) / len(res["folds"]), 2)
    wb = None
    for name, pts in configs.items():
        t, s = split.score(pts, split.cats)
        if wb is None or s > wb[2]:
            wb = (name, t, s)
    res["whole"] = {"config": wb[0], "threshold": wb[1], "score": round(wb[2], 2)}
    for c in split.folds:
        t, s = split.score(configs[wb[0]], [c])
        res["in_sample"][c] = round(s, 2)
    return res


def check(split, scorer, resdir, fold):
    """Runs the shared scorer itself on a copy of the split holding fold's category only, at the
    fold's threshold, and returns its nab_standard."""
    with tempfile.TemporaryDirectory() as tmp:
        r = Path(tmp)
        (r / "labels").mkdir()
        (r / "data").mkdir()
        shutil.copytree(split.root / "config", r / "config")
        os.symlink(split.root / "data" / fold["held_out"], r / "data" / fold["held_out"])
        w = {k: v for k, v in split.windows.items() if k.startswith(fold["held_out"] + "/")}
        json.dump(w, open(r / "labels" / "combined_windows.json", "w"))
        p = subprocess.run([sys.executable, str(scorer), str(r), str(resdir), "--threshold",
                            repr(fold["threshold"])], capture_output=True, text=True, check=True)
        return float(p.stdout.strip().splitlines()[-1].split("=")[1])


def detail(split, pts, thr):
    for rel in sorted(pts):
        wins, fps = {}, []
        for a, s, key in pts[rel]:
            if key is None:
                if a >= thr:
                    fps.append(s)
            else:
                wins.setdefault(key, None)
                if a >= thr and wins[key] is None:
                    wins[key] = s
        caught = " ".join("miss" if v is None else f"{v:+.2f}" for v in wins.values())
        print(f"{rel:60s} windows [{caught}] false {len(fps)} ({sum(fps):+.2f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=str(SHARED / "data" / "nab-dev"))
    ap.add_argument("--scorer", default=str(SHARED / "tools" / "nab_score.py"))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--detail", type=float)
    ap.add_argument("configs", nargs="+", metavar="CONFIG=RESULTS")
    a = ap.parse_args()
    ns = load_scorer(a.scorer)
    split = Split(ns, a.root)
    configs, dirs = {}, {}
    for c in a.configs:
        name, _, d = c.partition("=")
        if not d:
            name, d = Path(c).name, c
        dirs[name] = d
        configs[name] = split.points(d)
    if a.detail is not None:
        detail(split, next(iter(configs.values())), a.detail)
    res = loco(split, configs)
    if a.check:
        f = res["folds"][0]
        got = check(split, a.scorer, dirs[f["config"]], f)
        if abs(got - f["held"]) > 0.005:
            sys.exit(f"nab_loco: the shared scorer gives {got} for {f['held_out']}, this {f['held']}")
        res["checked"] = f["held_out"]
    if a.json:
        print(json.dumps(res))
        return
    for f in res["folds"]:
        print(f"held out {f['held_out']:24s} config {f['config']:12s} threshold {f['threshold']:.6f} "
              f"train {f['train']:6.2f} held {f['held']:6.2f} (in-sample {res['in_sample'][f['held_out']]:6.2f})"
              f"  noanomaly false alarms {f['noanomaly_false_alarms']}")
    print(f"held-out mean {res['mean_held']:.2f}   whole split {res['whole']['score']:.2f} "
          f"(config {res['whole']['config']}, threshold {res['whole']['threshold']:.6f})")


if __name__ == "__main__":
    main()
