"""soak_report: the figures and the report of bench/soak — its defaults and targets, the disk it
needs, the summary it prints and the soak section it writes to docs/benchmarks.md (see bench/soak,
which measures; this module only formats what it measured). Standard library only."""
import textwrap

DEFAULT_MINUTES = 30
DEFAULT_ROBOTS = 100
DEFAULT_RATE = 10_000

# Targets from the issue.
TARGET_RSS_GROWTH_KB = 2 * 1024  # per process, over the last half of the run
TARGET_LAG_P99_S = 1.0

# Disk, measured with bench/soak itself (6 minutes at 10,000 rows/s; see docs/benchmarks.md):
# `reading` with its indexes per row stored (153 bytes); the stages' tables, whose size does not
# follow the rows (detect_robot_state's blocks, ~29 KB per robot, are rewritten at every commit of
# the stage and its file keeps the high-water mark between autovacuums: 0.4-0.6 GB); the WAL
# written per row (~730 bytes, most of it the stages' commits), which pg_wal keeps until a
# checkpoint recycles it, up to about max_wal_size (4GB in the private cluster) and a little over;
# plus a margin.
DISK_READING_BYTES_PER_ROW = 160
DISK_STAGES_BYTES = 1024 ** 3
DISK_WAL_BYTES_PER_ROW = 750
DISK_WAL_PEAK_BYTES = 5 * 1024 ** 3
DISK_MARGIN = 1.2


def disk_needed(minutes, rate, margin=DISK_MARGIN):
    """Bytes the cluster may take for a run of minutes at rate rows/s (see DISK_*)."""
    rows = rate * minutes * 60
    wal = min(DISK_WAL_PEAK_BYTES, rows * DISK_WAL_BYTES_PER_ROW)
    return int((rows * DISK_READING_BYTES_PER_ROW + DISK_STAGES_BYTES + wal) * margin)


def para(text):
    """A Markdown paragraph wrapped at 100 columns."""
    return textwrap.fill(text, width=100, break_long_words=False, break_on_hyphens=False)


def pct(values, q):
    """The q-th percentile (0..100) of values, by linear interpolation; None if empty."""
    s = sorted(values)
    if not s:
        return None
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def fmt_s(x):
    return "—" if x is None else f"{x:.3f}"


def fmt_mb(kb):
    return "—" if kb is None else f"{kb / 1024:.1f}"


def fmt_gb(b):
    return f"{b / 1024 ** 3:.2f} GiB"


def fmt_delta_kb(kb):
    if kb is None:
        return "—"
    return f"{'+' if kb >= 0 else '−'}{abs(kb) / 1024:.2f} MB"



def targets(r):
    """(target, measured, met) for the issue's four targets."""
    v = r["verify"]
    rows_ok = (all(c["ok"] for c in v["checks"]) and not r["catchup_short"]
               and r["gen_rows"] is not None)
    n = v["num"]
    rows_txt = (f"generated {r['gen_rows']:,}" if r["gen_rows"] is not None
                else "generated ? (a gen without its closing line)")
    rows_txt += (f" (of which {n['rows_present']:,} duplicates, stored once); "
                 f"in reading {n['reading_fleet']:,}; "
                 + "; ".join(f"{c} {n['checkpoint:' + c]:,}" for c in v["consumers"]))
    rss = r["rss_growth"]
    rss_ok = bool(rss) and all(g["growth_kb"] is not None and g["same_pid"]
                               and g["growth_kb"] < TARGET_RSS_GROWTH_KB for g in rss.values())
    rss_txt = ", ".join(f"{name} {fmt_delta_kb(g['growth_kb'])}"
                        + ("" if g["same_pid"] else " (restarted)") for name, g in rss.items())
    errs = r["error_lines"]
    err_txt = f"{len(errs)} error lines, {len(r['restarts'])} restarts"
    lag = r["lag"]
    lag_ok = bool(lag) and all(x["p99"] is not None and x["p99"] < TARGET_LAG_P99_S
                               for x in lag.values())
    lag_txt = ", ".join(f"{c} {fmt_s(x['p99'])} s" for c, x in lag.items())
    half = r["minutes"] / 2
    return [
        ("every generated row is in `reading` and counted by every stage", rows_txt, rows_ok),
        (f"each pgpulse process grows < 2 MB RSS over the last {half:g} minutes", rss_txt, rss_ok),
        ("no error lines", err_txt, not errs and not r["restarts"]),
        ("lag p99 < 1 s", lag_txt, lag_ok),
    ]


def print_summary(r):
    print()
    print(f"soak: {r['minutes']} minutes, --robots {r['robots']} --rate {r['rate']:,} "
          f"(achieved {r['achieved_rate']:,.0f} rows/s into reading)")
    print()
    for what, measured, met in targets(r):
        print(f"  {'met   ' if met else 'MISSED'} {what}: {measured}")
    print()
    print("  rows:")
    for c in r["verify"]["checks"]:
        print(f"    {'ok ' if c['ok'] else 'BAD'} {c['what']}: {c['left']:,} vs {c['right']:,}"
              if isinstance(c["right"], int) else f"    BAD {c['what']}")
    for name, c in r["catchup"].items():
        print(f"    {name}: {c['after'] - c['before']:,} rows read after run stopped "
              f"({c['seconds']:.1f} s), exit {c['exit']}")
    print("  RSS over the last half (MB): " + ", ".join(
        f"{n} {fmt_mb(g['mid_kb'])} -> {fmt_mb(g['end_kb'])} ({fmt_delta_kb(g['growth_kb'])})"
        for n, g in r["rss_growth"].items()))
    print("  lag seconds p50 / p99 / max: " + ", ".join(
        f"{c} {fmt_s(x['p50'])} / {fmt_s(x['p99'])} / {fmt_s(x['max'])}"
        for c, x in r["lag"].items()))
    print(f"  WAL retained by slots: max {fmt_gb(r['wal_max'])}; disk peak "
          f"{fmt_gb(r['disk_peak'])} (base {fmt_gb(r['disk_end']['base'])}, "
          f"pg_wal peak {fmt_gb(r['wal_dir_peak'])})")
    sm = r["sampling"]
    print(f"  restarts: {len(r['restarts'])}; error lines: {len(r['error_lines'])}; "
          f"sampling failures: {len(r['sampler_errors'])}; {sm['status_samples']} status "
          f"samples, a second's samples took p99 {sm['p99_s']:.2f} s (max {sm['max_s']:.2f}), "
          f"{sm['skipped_seconds']} seconds skipped")
    for t, line in r["error_lines"][:20]:
        print(f"    {t:7.1f} s  {line}")
    print()
    print(f"{'min':>4} {'rows':>12} {'rows/s':>8} " + " ".join(f"{n + ' MB':>10}"
                                                            for n in r["names"])
          + f" {'WAL MB':>8} " + " ".join(f"{c + ' p99':>10}" for c in r["consumers"]))
    for w in r["windows"]:
        print(f"{w['minute']:>4} {w['rows'] or 0:>12,} {w['rate'] or 0:>8,.0f} "
              + " ".join(f"{fmt_mb(w['rss_kb'][n]):>10}" for n in r["names"])
              + f" {(w['wal_max'] or 0) / 1024 ** 2:>8,.0f} "
              + " ".join(f"{fmt_s(w['lag_p99'][c]):>10}" for c in r["consumers"]))


def sampling_note(r):
    sm = r["sampling"]
    text = (f"Sampling: {sm['status_samples']:,} status samples and {sm['db_samples']:,} WAL "
            f"samples; a second's samples (two short-lived processes: `pgpulse status --json` "
            f"and psql) took {sm['p99_s']:.2f} s at p99 (max {sm['max_s']:.2f} s), and "
            f"{sm['skipped_seconds']} seconds were skipped because the samples before them ran "
            "late.")
    if r["sampler_errors"]:
        text += (f" {len(r['sampler_errors'])} samples failed (bench/out/soak.json); the first: "
                 f"{r['sampler_errors'][0][1][:200]}")
    return text


def render_doc(r, info):
    names, consumers = r["names"], r["consumers"]
    n = r["verify"]["num"]
    full = r["minutes"] == DEFAULT_MINUTES and r["robots"] == DEFAULT_ROBOTS \
        and r["rate"] == DEFAULT_RATE
    cmd = "make bench-soak" if full else "bench/soak " + " ".join(r["argv"])
    lines = [
        "## Soak", "",
        para("`pgpulse run` with every stage (live, detect) and the simulator at "
             f"{DEFAULT_RATE:,} rows/s (`--robots {DEFAULT_ROBOTS} --rate {DEFAULT_RATE}`, default "
             "faults) for 30 minutes, in a private cluster of its own, watched from outside: the "
             "RSS of each pgpulse process every minute, `pgpulse status --json` every second, the "
             "WAL each slot retains every second, and every line of run's output. Targets from "
             "the issue, absolute figures rather than ratios: every generated row is in `reading` "
             "and counted by every stage; each pgpulse process grows < 2 MB RSS over the last 15 "
             "minutes; no error lines; lag p99 < 1 s. Reproduce with:"), "",
        f"    {cmd}          # some {r['minutes'] + 2} minutes; bench/soak --help"
        + ("" if full else "\n    make bench-soak          # the full run: 30 minutes"), "",
        para("Disk: in this run `reading` took "
             f"{r['reading_bytes_per_row']:.0f} bytes per row with its indexes, the rest of the "
             "database "
             f"{fmt_gb(r['other_tables_bytes'])} at the end, and pg_wal peaked at "
             f"{fmt_gb(r['wal_dir_peak'])} (max_wal_size is {r['max_wal_size']}; "
             f"{r['wal_bytes_per_row']:.0f} bytes of WAL were written per row); the cluster's "
             f"base/ and pg_wal/ together peaked at {fmt_gb(r['disk_peak'])} (minute samples). "
             f"bench/soak estimates {fmt_gb(disk_needed(DEFAULT_MINUTES, DEFAULT_RATE, 1))} at "
             f"the peak for 30 minutes at {DEFAULT_RATE:,} rows/s, asks for "
             f"{fmt_gb(disk_needed(DEFAULT_MINUTES, DEFAULT_RATE))} free in the temporary "
             "directory ($TMPDIR) and refuses to start with less."), "",
        "Measured on:", "", *info, ""]
    if not full:
        lines += [para(f"**A shortened run** ({r['minutes']} minutes, --robots {r['robots']}, "
                       f"--rate {r['rate']:,}): the memory target's window is the last half of the "
                       f"run ({r['minutes'] / 2:g} minutes), not the last 15 minutes of 30."), ""]
    lines += ["### Targets", "",
              "| target (from the issue) | measured | met |", "| --- | --- | --- |"]
    for what, measured, met in targets(r):
        lines.append(f"| {what} | {measured} | {'yes' if met else '**no**'} |")
    every = r["every"]
    lines += ["", f"### Every {every} minute{'s' if every > 1 else ''}", "",
              para("Rows in `reading`: the sum of `ingest_batch.rows_inserted` at that moment "
                   "(the loader writes it in the transaction of its rows); rows/s over the "
                   "window; RSS (VmRSS) of each pgpulse process at that minute; WAL retained: the "
                   "most any slot held back in the window (pg_current_wal_lsn() − restart_lsn, "
                   "sampled every second); lag: p99 over the window of each consumer's "
                   "`lag_seconds` in `pgpulse status --json`, sampled every second; disk: the "
                   "cluster's base/ and pg_wal/."), "",
              "| elapsed | rows in reading | rows/s | RSS MB: " + " / ".join(names)
              + " | WAL retained MB | lag p99 s: " + " / ".join(consumers) + " | disk |",
              "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for w in r["windows"]:
        lines.append(
            f"| {w['minute']} min | {w['rows'] or 0:,} | {w['rate'] or 0:,.0f} | "
            + " / ".join(fmt_mb(w["rss_kb"][nm]) for nm in names)
            + f" | {(w['wal_max'] or 0) / 1024 ** 2:,.0f} | "
            + " / ".join(fmt_s(w["lag_p99"][c]) for c in consumers)
            + f" | {fmt_gb(w['disk'] or 0)} |")
    lines += ["", "### What was compared", "",
              para("Rows, exactly, after the run: the simulator's rows are the sum of its closing "
                   "lines (\"N rows in S s\", one per run of gen: "
                   f"{len(r['gen_summaries'])}); they equal the rows its loads read "
                   f"(`ingest_batch.rows_read`, {n['rows_read']:,} in {n['batches']:,} "
                   "transactions), which are the rows stored (`rows_inserted`, "
                   f"{n['rows_inserted']:,}) plus the rows already stored (`rows_present`, "
                   f"{n['rows_present']:,}: the simulator's `duplicate` fault sends a reading "
                   "twice, stored once) plus the rows rejected (`rows_rejected`, "
                   f"{n['rows_rejected']:,}). `count(*)` of the fleet's robots in `reading` "
                   f"({n['reading_fleet']:,}) equals the rows stored and all of `reading`; each "
                   "consumer's `stream_checkpoint.rows` and each of its stages' "
                   "`stream_stage_state.rows` equal it too. `pgpulse run` stops every child at "
                   "once, so the consumers stop a moment behind the simulator; after run stopped, "
                   "each consumer ran alone (`pgpulse consume --stages S --name C`) until its "
                   "checkpoint held every row: "
                   + ", ".join(f"{c} read {x['after'] - x['before']:,} rows then"
                               for c, x in r["catchup"].items())
                   + f". The simulator's {n['faults']:,} faults gave {n['anomalies']:,} anomaly "
                     "rows."), "",
              para("Memory: RSS at the minute sample at half time and at the last sample before "
                   "the stop: " + "; ".join(
                       f"{nm} {fmt_mb(g['mid_kb'])} → {fmt_mb(g['end_kb'])} MB"
                       for nm, g in r["rss_growth"].items())
                   + ". CPU over the run (user + system, share of one core): " + "; ".join(
                       f"{nm} {c:.0f} %" for nm, c in r["cpu_pct"].items()) + "."), "",
              para("Lag, per consumer over the whole run (p50 / p99 / max seconds; bytes of WAL "
                   "not yet confirmed, p99 / max): " + "; ".join(
                       f"{c} {fmt_s(x['p50'])} / {fmt_s(x['p99'])} / {fmt_s(x['max'])} s, "
                       f"{(x['bytes_p99'] or 0) / 1024 ** 2:.1f} / "
                       f"{(x['bytes_max'] or 0) / 1024 ** 2:.1f} MB" for c, x in r["lag"].items())
                   + f". `lag_seconds` is the time since the commit of the last transaction the "
                     "consumer applied, while its slot has WAL still to confirm (pgpulse status)."
                   + f" WAL retained by slots: at most {fmt_gb(r['wal_max'])}."), "",
              para("Error lines are lines of run's output (its own and its children's, which it "
                   "prefixes) that match, ignoring case: " + ", ".join(
                       f"`{x}`" for x in r["error_patterns"])
                   + "; a child with a new pid is a restart. "
                   + (f"There were {len(r['error_lines'])}:" if r["error_lines"]
                      else "There were none.")
                   + (f" Restarts: {len(r['restarts'])}." if r["restarts"] else "")),
              "", para(sampling_note(r))]
    if r["error_lines"]:
        lines += [""] + [f"    {t:7.1f} s  {line}" for t, line in r["error_lines"][:20]]
        if len(r["error_lines"]) > 20:
            lines.append(f"    ... and {len(r['error_lines']) - 20} more (bench/out/soak-run.log)")
    top = [name for name, _ in r["table_sizes"][:4]]
    if top:
        lines += ["", "### Largest tables", "",
                  para("On disk with their indexes and TOAST (a partitioned table with its "
                       "partitions), at the minute samples; the last column is after the "
                       "consumers caught up."), "",
                  "| table | " + " | ".join(f"{w['minute']} min" for w in r["windows"])
                  + " | end |",
                  "| --- |" + " ---: |" * (len(r["windows"]) + 1)]
        end = dict(r["table_sizes"])
        for name in top:
            lines.append(f"| {name} | " + " | ".join(
                fmt_gb(w["tables"].get(name, 0)) for w in r["windows"])
                + f" | {fmt_gb(end[name])} |")
    lines.append("")
    return "\n".join(lines)
