#!/usr/bin/python3
"""The peers a notebook user would pick for online learning on Elec2: scikit-learn's
SGDClassifier (logistic loss) with partial_fit, row by row and in batches of 100,
prequential (predict each row, or each batch, before learning it). Debian's python3 and
scikit-learn (make bench-deps). Prints one JSON line per run."""
import json
import sys
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import SGDClassifier


def run(path, batch):
    t0 = time.perf_counter()
    df = pd.read_csv(path)
    y = df["class"].to_numpy()
    x = df.drop(columns=["class"]).to_numpy(dtype=float)
    m = SGDClassifier(loss="log_loss", random_state=1)
    right = scored = 0
    classes = np.array([0, 1])
    for i in range(0, len(y), batch):
        xb, yb = x[i:i + batch], y[i:i + batch]
        if i > 0:
            right += int((m.predict(xb) == yb).sum())
            scored += len(yb)
        m.partial_fit(xb, yb, classes=classes)
    secs = time.perf_counter() - t0
    return {"peer": "sklearn SGDClassifier.partial_fit", "batch": batch, "rows": len(y),
            "accuracy": right / scored, "rows_per_s": len(y) / secs, "seconds": secs}


if __name__ == "__main__":
    path = sys.argv[1]
    for b in (1, 100):
        print(json.dumps(run(path, b)), flush=True)
