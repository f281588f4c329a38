#!/usr/bin/python3
"""py_peers: what a notebook would do instead of `pgpulse detect --replay`, timed end to end on
the same one-channel CSV (a header, then time,value), for bench/detect/run.

    py_peers.py pandas|iforest IN.csv OUT.csv

pandas   read_csv, a rolling median and MAD over the last 100 points, a robust z score, |z| > 3.5
         flagged, to_csv with the score and label appended (the usual notebook outlier rule);
iforest  read_csv, scikit-learn's IsolationForest (100 trees, 256 samples each, the defaults)
         fitted on the series and scoring every point, to_csv with score and label.
Prints one line: `peer=NAME rows=N seconds=S rows_per_s=R` (S: everything from reading to
writing, as the replay is timed).
"""
import sys
import time


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("pandas", "iforest"):
        sys.exit(__doc__)
    peer, src, dst = sys.argv[1:]
    t0 = time.monotonic()
    import numpy as np
    import pandas as pd
    df = pd.read_csv(src)
    v = df.iloc[:, 1].astype(float)
    if peer == "pandas":
        med = v.rolling(100, min_periods=10).median()
        mad = (v - med).abs().rolling(100, min_periods=10).median()
        z = (v - med).abs() / (1.4826 * mad.replace(0, np.nan))
        z = z.fillna(0)
        df["anomaly_score"] = (z / (z + 3.5)).round(6)
        df["label"] = (z > 3.5).astype(int)
    else:
        from sklearn.ensemble import IsolationForest
        f = IsolationForest(n_estimators=100, max_samples=256, random_state=1)
        x = v.to_numpy().reshape(-1, 1)
        f.fit(x)
        s = -f.score_samples(x)  # 0.5 ordinary .. 1 anomalous
        df["anomaly_score"] = np.round(s, 6)
        df["label"] = (f.predict(x) < 0).astype(int)
    df.to_csv(dst, index=False)
    s = time.monotonic() - t0
    print(f"peer={peer} rows={len(df)} seconds={s:.3f} rows_per_s={len(df) / s:.0f}")


if __name__ == "__main__":
    main()
