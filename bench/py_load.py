#!/usr/bin/python3
"""The Python peers of bench/ingest: load a native readings CSV the way Python users do.

    bench/py_load.py psycopg2 --db URL FILE [--batch 10000] [--page-size 1000]
    bench/py_load.py pandas   --db URL FILE [--chunksize 1000]

psycopg2: reads the file with the csv module and inserts with psycopg2.extras.execute_values,
one COMMIT per --batch rows, each a few multi-row INSERTs of --page-size rows (1,000 was the
fastest of 100, 1,000 and 10,000 here). Timed: reading and parsing the file and
inserting (the whole load, as pgpulse ingest is timed). The time of a parse-only pass over
the file, done before and not timed, is reported as parse_s.

pandas: pandas.read_csv, then ts parsed with pandas.to_datetime(utc=True), then
DataFrame.to_sql("reading", engine, if_exists="append", index=False, method="multi",
chunksize=...) through a SQLAlchemy engine (chunksize 1,000 was faster than 10,000 here).
Timed: to_sql only, as notebook users time it; read_csv and to_datetime are not.

Prints one JSON object on standard output: rows, seconds (timed part), cpu_s (this process's
CPU time in the timed part), and what was timed. The table must exist (it does: `reading`).
"""
import argparse
import csv
import json
import sys
import time

import psycopg2

COLUMNS = ["robot_id", "ts"] + [f"axis{i}" for i in range(1, 9)]


def read_rows(path):
    """Yields the rows of the CSV as (int, str, float * 8) tuples."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        if next(reader) != COLUMNS:
            raise SystemExit(f"{path}: expected the header {','.join(COLUMNS)}")
        for r in reader:
            yield (int(r[0]), r[1], *map(float, r[2:10]))


def load_psycopg2(url, path, batch, page_size):
    from psycopg2.extras import execute_values

    t = time.perf_counter()
    for _ in read_rows(path):
        pass
    parse_s = time.perf_counter() - t

    sql = f"INSERT INTO reading ({', '.join(COLUMNS)}) VALUES %s"
    conn = psycopg2.connect(url)
    rows = 0
    t0, c0 = time.perf_counter(), time.process_time()
    with conn.cursor() as cur:
        pending = []
        for row in read_rows(path):
            pending.append(row)
            if len(pending) == batch:
                execute_values(cur, sql, pending, page_size=page_size)
                conn.commit()
                rows += len(pending)
                pending.clear()
        if pending:
            execute_values(cur, sql, pending, page_size=page_size)
            conn.commit()
            rows += len(pending)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    conn.close()
    return {"rows": rows, "seconds": seconds, "cpu_s": cpu, "parse_s": parse_s,
            "timed": f"csv.reader + execute_values(page_size={page_size}), commit per {batch} rows"}


def load_pandas(url, path, chunksize):
    import pandas as pd
    import sqlalchemy

    t = time.perf_counter()
    df = pd.read_csv(path)
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    prep_s = time.perf_counter() - t

    # The creator hands libpq the URL as it is (a libpq URI or key=value string).
    engine = sqlalchemy.create_engine("postgresql+psycopg2://",
                                      creator=lambda: psycopg2.connect(url))
    t0, c0 = time.perf_counter(), time.process_time()
    df.to_sql("reading", engine, if_exists="append", index=False, method="multi",
              chunksize=chunksize)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    engine.dispose()
    return {"rows": len(df), "seconds": seconds, "cpu_s": cpu, "prep_s": prep_s,
            "timed": f"DataFrame.to_sql(method='multi', chunksize={chunksize}) only"}


def main():
    ap = argparse.ArgumentParser(description="Python peers of bench/ingest")
    ap.add_argument("peer", choices=["psycopg2", "pandas"])
    ap.add_argument("file")
    ap.add_argument("--db", required=True, help="libpq connection URI or string")
    ap.add_argument("--batch", type=int, default=10_000, help="psycopg2: rows per commit")
    ap.add_argument("--page-size", type=int, default=1_000, help="psycopg2: rows per INSERT")
    ap.add_argument("--chunksize", type=int, default=1_000, help="pandas: rows per INSERT")
    a = ap.parse_args()
    if a.peer == "psycopg2":
        result = load_psycopg2(a.db, a.file, a.batch, a.page_size)
    else:
        result = load_pandas(a.db, a.file, a.chunksize)
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
