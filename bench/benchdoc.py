"""benchdoc: how the benchmarks in bench/ share docs/benchmarks.md and describe the machine.

docs/benchmarks.md holds one section per benchmark, each between two marker comments:

    <!-- bench:ingest:begin -->
    ## Ingest
    ...
    <!-- bench:ingest:end -->

A benchmark rewrites only its own section and keeps everything else in the file as it is; a
section that is not there yet is appended. A new benchmark (detect, stream, gen) calls
write_section(path, "detect", text) and describes its machine with machine_lines().
"""
import datetime
import os
import platform
import re

PREAMBLE = """# Benchmarks

Measured by the scripts in `bench/`; each section below says how to reproduce it. Contenders
run side by side, on the same machine, in the same run, against the same database, so the
figures to compare are the ratios: the machines these run on are shared and noisy, and a lone
timing says little. Each section is rewritten by its own benchmark (between its marker
comments); the rest of this file is kept.
"""


def _markers(name):
    return f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"


def write_section(path, name, text):
    """Replaces benchmark `name`'s section of the Markdown file at path with text (appends it
    if absent; creates the file with a preamble if missing). Other content is kept byte for
    byte. Raises ValueError if the file holds a begin marker without its end marker."""
    begin, end = _markers(name)
    body = f"{begin}\n{text.strip()}\n{end}"
    try:
        with open(path) as f:
            doc = f.read()
    except FileNotFoundError:
        doc = PREAMBLE
    i = doc.find(begin)
    if i >= 0:
        j = doc.find(end, i)
        if j < 0:
            raise ValueError(f"{path}: {begin} without {end}")
        doc = doc[:i] + body + doc[j + len(end):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + body + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(doc)
    os.replace(tmp, path)


def machine_lines(server_version=None, settings=None):
    """Markdown bullet lines describing this machine (CPU, cores, RAM, OS, PostgreSQL, date)."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    ram = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(re.search(r"^MemTotal:\s*(\d+)", f.read(), re.M).group(1))
            ram = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    osname = platform.platform()
    try:
        with open("/etc/os-release") as f:
            m = re.search(r'^PRETTY_NAME="?([^"\n]+)', f.read(), re.M)
            osname = f"{m.group(1)}, Linux {platform.release()}" if m else osname
    except OSError:
        pass
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"- Date: {now}",
             f"- CPU: {cpu}, nproc = {len(os.sched_getaffinity(0))}",
             f"- RAM: {ram}",
             f"- OS: {osname}"]
    if server_version:
        lines.append(f"- PostgreSQL: {server_version}")
    if settings:
        lines.append("- Server settings: " + ", ".join(f"`{k} = {v}`" for k, v in settings.items()))
    return lines
