"""Peak memory per rule of one pipeline run, against each rule's declared mem_mb.

    python bench/memory.py config/tiny.yaml                 # a fresh run in a temp directory
    python bench/memory.py config/config.yaml --cores 2     # the default run (about 20 minutes)
    python bench/memory.py config/tiny.yaml --keep /tmp/run # keep the run directory
    python bench/memory.py config/tiny.yaml -- --keep-going # extra Snakemake arguments

How: every job runs `python -m resid_atlas ...` from PATH, so a shim named `python` placed first
on PATH runs the real interpreter as its child, waits for it, and records the child's peak
resident set size (getrusage RUSAGE_CHILDREN: ru_maxrss, the largest of the process and its
waited-for children, exact rather than sampled), its CPU time and wall time, keyed by the log
file its stderr goes to (every rule ends with `2> {log}`). Snakemake's own printout of each job
(`rule X:`, `log: ...`, `resources: ... mem_mb=N`) maps that log file to the rule and its
declared mem_mb. Prints one row per rule: jobs, peak MB (the largest job), declared mem_mb,
the ratio, CPU and wall seconds; exits 1 if a job's peak exceeds its declaration.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SHIM = """#!{python}
import json, os, resource, subprocess, sys, time
try:
    log = os.readlink("/proc/self/fd/2")
except OSError:
    log = ""
start = time.perf_counter()
code = subprocess.call([{real!r}, *sys.argv[1:]])
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
record = {{
    "log": os.path.relpath(log) if log.startswith("/") else log,
    "argv": sys.argv[1:4],
    "peak_mb": usage.ru_maxrss / 1024,
    "cpu_s": usage.ru_utime + usage.ru_stime,
    "wall_s": time.perf_counter() - start,
    "exit": code,
}}
with open({records!r}, "a") as fh:
    fh.write(json.dumps(record) + "\\n")
sys.exit(code)
"""

JOB = re.compile(r"^(?:local)?rule (\w+):$")


def jobs_from_printout(text: str) -> dict[str, tuple[str, int | None]]:
    """log path -> (rule, declared mem_mb) from Snakemake's printout of each job."""
    found, rule, log = {}, None, None
    for line in text.splitlines():
        line = line.strip()
        m = JOB.match(line)
        if m:
            rule, log = m.group(1), None
            continue
        if rule is None:
            continue
        if line.startswith("log:"):
            log = line.split(":", 1)[1].split("(")[0].strip().split(",")[0].strip()
            found[log] = (rule, None)
        elif line.startswith("resources:") and log:
            m = re.search(r"\bmem_mb=(\d+)", line)
            found[log] = (rule, int(m.group(1)) if m else None)
    return found


def run(config: Path, cores: int, keep: Path | None, extra: list[str]) -> list[dict]:
    workdir = keep or Path(tempfile.mkdtemp(prefix="resid-atlas-memory-"))
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("config", "resources", "tests", "profiles"):
        if not (workdir / name).exists():
            (workdir / name).symlink_to(ROOT / name)
    shim_dir = workdir / ".memory-shim"
    shim_dir.mkdir(exist_ok=True)
    records = workdir / ".memory-records.jsonl"
    records.unlink(missing_ok=True)
    shim = shim_dir / "python"
    shim.write_text(SHIM.format(python=sys.executable, real=sys.executable, records=str(records)))
    shim.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(shim_dir), str(Path(sys.executable).parent), env["PATH"]])
    # The run directory links config/ (and resources/, tests/) of the repository.
    config = config.resolve()
    configfile = config.relative_to(ROOT) if config.is_relative_to(ROOT) else config
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", str(cores)]
    cmd += ["--printshellcmds", *extra, "--configfile", str(configfile)]
    print("running:", " ".join(cmd), f"(in {workdir})", file=sys.stderr)
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        print(f"warning: the run failed (exit {proc.returncode}); jobs that ran are listed")
    jobs = jobs_from_printout(proc.stdout + "\n" + proc.stderr)
    rows = []
    lines = records.read_text().splitlines() if records.exists() else []
    for line in lines:
        record = json.loads(line)
        rule, mem = jobs.get(record["log"], (f"? {' '.join(record['argv'])}", None))
        rows.append({**record, "rule": rule, "mem_mb": mem})
    if keep is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


def table(rows: list[dict]) -> tuple[str, list[str]]:
    by_rule = defaultdict(list)
    for row in rows:
        by_rule[row["rule"]].append(row)
    lines = [
        "| rule | jobs | peak MB | declared mem_mb | peak / declared | CPU s (sum) "
        "| wall s (max) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    over = []
    for rule, group in sorted(by_rule.items(), key=lambda kv: -max(r["peak_mb"] for r in kv[1])):
        peak = max(r["peak_mb"] for r in group)
        declared = max((r["mem_mb"] or 0) for r in group) or None
        ratio = f"{peak / declared:.2f}" if declared else "-"
        if declared and any(r["mem_mb"] and r["peak_mb"] > r["mem_mb"] for r in group):
            over.append(rule)
        lines.append(
            f"| {rule} | {len(group)} | {peak:.0f} | {declared or '-'} | {ratio} | "
            f"{sum(r['cpu_s'] for r in group):.1f} | {max(r['wall_s'] for r in group):.1f} |"
        )
    return "\n".join(lines), over


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="config file (merged over config/config.yaml)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="run here and keep the directory")
    parser.add_argument("--json", type=Path, help="also write the per-job records here")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    rows = run(args.config, args.cores, args.keep, extra)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    text, over = table(rows)
    print(f"peak resident memory per rule, {args.config}, --cores {args.cores}:")
    print(text)
    if over:
        print(f"over the declared mem_mb: {', '.join(over)}")
        raise SystemExit(1)
    print("every job stayed within its declared mem_mb")


if __name__ == "__main__":
    main()
