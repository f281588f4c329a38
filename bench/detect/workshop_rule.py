#!/usr/bin/env python3
"""workshop_rule: the workshop's original outlier rule, as a baseline for the detectors.

Usage:
    workshop_rule.py IN.csv [--out EPISODES.csv] [--bridge N] [--quiet]

    IN.csv        a simulator CSV: robot_id,ts,axis1..axis8 (`pgpulse gen --out -`); ts ISO
                  8601 (as gen writes it) or epoch seconds; '-' reads standard input (then the
                  file is held in memory for the second pass)
    --out FILE    the episodes (default: standard output), in the format of `pgpulse detect
                  --episodes`, so that bench/detect/simscore.py scores them the same way:
                  key,channel,level,ts_start,ts_end,peak_score,detector,reason,points
    --bridge N    rows of the robot without a flag on an axis that close its episode (10, the
                  default of `pgpulse detect --bridge`)

The rule, as the workshop ran it: per robot and axis, one ordinary least-squares line of the
axis on time over the whole file; sigma is the standard deviation of its residuals (n - 2
degrees of freedom); a row is ALERT when |residual| > 2 sigma and ERROR when > 4 sigma, each
row on its own (idle rows included: the workshop did not know about duty state). Flagged rows
of one robot and axis merge into episodes the way pgpulse merges them: a flagged row opens an
episode or extends the open one, which closes after --bridge rows of that robot without a flag
on that axis. An episode's level is the highest of its rows, ts_start/ts_end the earliest and
latest of their timestamps (written as ISO 8601 UTC with milliseconds), points the flagged
rows, and peak_score erf(z / sqrt 2) for the largest z = |residual| / sigma among them — the
share of a Gaussian residual less extreme, the workshop's own model of its residuals.
detector is `workshop`, reason is empty.

Two streaming passes over the file (sums for the fits, then the residuals), so memory is per
robot and axis, not per row; 1.7 M rows take about 15 s. Prints the fits (R^2 and sigma
per axis, averaged over the robots) and the counts to standard error unless --quiet.
Python 3 standard library only.
"""
import argparse
import csv
import datetime
import io
import math
import sys

NAXES = 8
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def parse_ts(s):
    """Seconds since 1970 from ISO 8601 (any offset; Z) or epoch seconds."""
    try:
        return float(s)
    except ValueError:
        pass
    if s[-1:] in "Zz":
        s = s[:-1] + "+00:00"
    t = datetime.datetime.fromisoformat(s)
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return (t - EPOCH).total_seconds()


def format_ts(sec):
    """ISO 8601 UTC with milliseconds, as pgpulse writes it."""
    ms = int(round(sec * 1000))
    t = EPOCH + datetime.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def rows(src):
    """(robot_id, ts seconds, [axis values]) per data row; bad rows are reported and skipped."""
    r = csv.reader(src)
    header = next(r, None)
    if header is None:
        return
    try:
        ir, it = header.index("robot_id"), header.index("ts")
        ia = [header.index("axis%d" % (k + 1)) for k in range(NAXES)]
    except ValueError:
        sys.exit("workshop_rule: the header must have robot_id, ts and axis1..axis8")
    for line, row in enumerate(r, start=2):
        try:
            yield row[ir], parse_ts(row[it]), [float(row[i]) for i in ia]
        except (ValueError, IndexError):
            print("workshop_rule: line %d: bad row, skipped" % line, file=sys.stderr)


class Fit:
    """Sums for the least-squares line of one robot's axes on time (hours since its first row)."""

    def __init__(self, t0):
        self.t0 = t0
        self.n = 0
        self.st = self.stt = 0.0
        self.sx = [0.0] * NAXES
        self.sxx = [0.0] * NAXES
        self.sxt = [0.0] * NAXES

    def add(self, t, x):
        h = (t - self.t0) / 3600.0
        self.n += 1
        self.st += h
        self.stt += h * h
        for k in range(NAXES):
            v = x[k]
            self.sx[k] += v
            self.sxx[k] += v * v
            self.sxt[k] += v * h

    def solve(self):
        """Per axis (intercept, slope, sigma, R^2), from the centred sums."""
        n = self.n
        out = []
        mt = self.st / n
        vtt = self.stt - n * mt * mt
        for k in range(NAXES):
            mx = self.sx[k] / n
            vxx = self.sxx[k] - n * mx * mx
            vxt = self.sxt[k] - n * mx * mt
            b = vxt / vtt if vtt > 0 else 0.0
            a = mx - b * mt
            ssr = max(vxx - b * vxt, 0.0)
            sigma = math.sqrt(ssr / (n - 2)) if n > 2 else 0.0
            r2 = 1 - ssr / vxx if vxx > 0 else 0.0
            out.append((a, b, sigma, r2))
        return out


def main(argv):
    ap = argparse.ArgumentParser(description="The workshop's 2/4-sigma rule on an OLS-on-time fit.")
    ap.add_argument("input")
    ap.add_argument("--out", default="-")
    ap.add_argument("--bridge", type=int, default=10)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    if a.bridge < 1:
        sys.exit("workshop_rule: --bridge must be >= 1")

    if a.input == "-":
        text = sys.stdin.read()
        open_in = lambda: io.StringIO(text)  # noqa: E731
    else:
        open_in = lambda: open(a.input, newline="")  # noqa: E731

    # Pass 1: the sums.
    fits = {}
    with open_in() as f:
        for rid, t, x in rows(f):
            ft = fits.get(rid)
            if ft is None:
                ft = fits[rid] = Fit(t)
            ft.add(t, x)
    lines = {rid: ft.solve() for rid, ft in fits.items()}

    # Pass 2: residuals, flags, episodes.
    out = sys.stdout if a.out == "-" else open(a.out, "w", newline="")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["key", "channel", "level", "ts_start", "ts_end", "peak_score", "detector", "reason", "points"])
    names = ("", "ALERT", "ERROR")
    open_ep = {}  # (rid, k) -> [level, t_start, t_end, peak_z, points, quiet]
    nrows = nflag = neps = 0

    def close(rid, k, e):
        nonlocal neps
        neps += 1
        w.writerow([rid, "axis%d" % (k + 1), names[e[0]], format_ts(e[1]), format_ts(e[2]),
                    "%.6f" % math.erf(e[3] / math.sqrt(2)), "workshop", "", e[4]])

    with open_in() as f:
        for rid, t, x in rows(f):
            nrows += 1
            fit = lines[rid]
            h = (t - fits[rid].t0) / 3600.0
            for k in range(NAXES):
                ic, sl, sigma, _ = fit[k]
                r = abs(x[k] - ic - sl * h)
                # A constant axis (sigma 0) has nothing to flag.
                level = 0 if sigma <= 0 else 2 if r > 4 * sigma else 1 if r > 2 * sigma else 0
                key = (rid, k)
                e = open_ep.get(key)
                if level:
                    nflag += 1
                    z = r / sigma
                    if e is None:
                        open_ep[key] = [level, t, t, z, 1, 0]
                    else:
                        e[0] = max(e[0], level)
                        e[1] = min(e[1], t)
                        e[2] = max(e[2], t)
                        e[3] = max(e[3], z)
                        e[4] += 1
                        e[5] = 0
                elif e is not None:
                    e[5] += 1
                    if e[5] >= a.bridge:
                        close(rid, k, e)
                        del open_ep[key]
    for (rid, k), e in sorted(open_ep.items()):
        close(rid, k, e)
    if out is not sys.stdout:
        out.close()

    if not a.quiet:
        nr = len(lines)
        print("workshop_rule: %d rows, %d robots, %d flagged axis values, %d episodes" %
              (nrows, nr, nflag, neps), file=sys.stderr)
        for k in range(NAXES):
            r2 = sum(v[k][3] for v in lines.values()) / max(nr, 1)
            sg = sum(v[k][2] for v in lines.values()) / max(nr, 1)
            print("  axis%d: mean R^2 %.4f, mean residual sigma %.3f" % (k + 1, r2, sg), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
