#!/usr/bin/env python3
"""``onus mail summarize`` side by side with ``pflogsumm`` and ``grep``, on one Postfix log.

    python benchmarks/summarize_mail.py --lines 1000000

Generates (or reuses) a realistic Postfix log with ``benchmarks/postfix_log.py`` under
``--root`` (or takes ``--log FILE``), then times, best of ``--repeat`` wall-clock runs each,
on a warm page cache, alternating:

- ``.venv/bin/onus mail summarize --json --year YEAR FILE`` (per-recipient outcomes; the
  year of the log's first line, from the truth, as syslog stamps have none);
- Debian's ``pflogsumm FILE`` (``apt-get install pflogsumm``);
- ``grep -c status= FILE``, the floor of reading the file at all.

Targets: onus at least 5x as fast as pflogsumm, and at most 10x grep's time. Peak RSS of
each run comes from GNU ``/usr/bin/time -f %M`` (``wait4`` when it is missing); onus also
runs on a second, smaller log (``--small-lines``), to show its memory does not grow with
the log, and with ``--help`` alone (its start-up, for information). Onus's per-recipient
counts are checked against the generator's truth (``<log>.truth.json``). Exit status 0 only
when both targets are met and every count is right; 1 otherwise; 2 when pflogsumm is missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "benchmarks") not in sys.path:
    sys.path.insert(0, str(REPO / "benchmarks"))

import postfix_log  # noqa: E402

COUNTS = ("delivered", "deferred", "bounced", "rejected", "over_quota")
STAMPS = ("first_over_quota", "last_over_quota")
PFLOGSUMM_TARGET = 5.0  # onus at least this many times faster than pflogsumm
GREP_TARGET = 10.0  # onus at most this many times grep's time
TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None


@dataclass
class Timing:
    """The runs of one command on one file."""

    tool: str
    command: list[str]
    lines: int
    seconds: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    output: Path | None = None

    @property
    def best(self) -> float:
        """Best wall-clock time."""
        return min(self.seconds)

    @property
    def rss(self) -> int:
        """Peak RSS over the runs, KiB."""
        return max(self.rss_kib)


def run_measured(command: list[str], stdout: Path) -> tuple[float, int, int]:
    """Run ``command`` with stdout to a file; return (seconds, peak RSS KiB, exit status).

    Peak RSS comes from GNU ``time -f %M`` when it is there: ``wait4`` on a child forked from
    this process would count this process's own pages, copied before ``exec``.
    """
    rss_file = stdout.with_name(stdout.name + ".rss")
    wrapped = command
    if TIME:
        wrapped = [TIME, "-f", "%M", "-o", str(rss_file), *command]
    with stdout.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=out, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stderr.close()
    rss = usage.ru_maxrss
    if TIME:
        lines = rss_file.read_text().split()
        rss = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    if proc.returncode != 0 and not (command[0] == "grep" and proc.returncode == 1):
        sys.stderr.write(err.decode(errors="replace")[-2000:])
    return seconds, rss, proc.returncode


def ensure_log(root: Path, lines: int, seed: int, rollover: bool) -> tuple[Path, Path]:
    """Reuse ``root/postfix-<lines>.log`` if its truth says the same parameters, else write it."""
    name = f"postfix-{lines}{'-rollover' if rollover else ''}-s{seed}.log"
    log = root / name
    truth = postfix_log.default_truth(log)
    if log.exists() and truth.exists():
        saved = json.loads(truth.read_text())["generator"]
        wanted = (postfix_log.VERSION, lines, seed, rollover)
        if (saved.get("version"), saved["lines"], saved["seed"], saved["rollover"]) == wanted:
            print(f"reusing {log}")
            return log, truth
    print(f"writing {log} ({lines:,} lines) ...", flush=True)
    start = time.perf_counter()
    postfix_log.generate(log, lines=lines, seed=seed, rollover=rollover, truth=truth)
    print(f"  {time.perf_counter() - start:.1f} s, {log.stat().st_size / 2**20:.0f} MiB")
    return log, truth


def warm(path: Path) -> None:
    """Read the file once, so every tool finds it in the page cache."""
    with path.open("rb") as fh:
        while fh.read(1 << 22):
            pass


def count_lines(path: Path) -> int:
    """Lines in ``path``."""
    n = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            n += chunk.count(b"\n")
    return n


def onus_available(onus: Path) -> bool:
    """Whether ``onus mail summarize`` exists."""
    if not onus.exists():
        return False
    proc = subprocess.run(
        [str(onus), "mail", "summarize", "--help"], capture_output=True, timeout=120
    )
    return proc.returncode == 0


def _stamp(value: Any) -> str | None:
    if not value:
        return None
    return str(value).replace(" ", "T")[:19]


def compare(truth: dict[str, Any], got: dict[str, Any]) -> dict[str, Any]:
    """Onus's per-recipient figures against the truth: differing recipients per field."""
    want = truth["recipients"]
    have = got.get("recipients", {})
    fields: dict[str, int] = {}
    examples: list[dict[str, Any]] = []
    differ = 0
    totals = {k: [0, 0] for k in COUNTS}
    for address in sorted(set(want) | set(have)):
        w = want.get(address, {})
        h = have.get(address, {})
        bad = []
        for key in COUNTS:
            a, b = int(w.get(key) or 0), int(h.get(key) or 0)
            totals[key][0] += a
            totals[key][1] += b
            if a != b:
                bad.append(key)
        for key in STAMPS:
            if _stamp(w.get(key)) != _stamp(h.get(key)):
                bad.append(key)
        if bad:
            differ += 1
            for key in bad:
                fields[key] = fields.get(key, 0) + 1
            if len(examples) < 5:
                examples.append(
                    {
                        "address": address,
                        "fields": bad,
                        "truth": {k: w.get(k, 0 if k in COUNTS else None) for k in bad},
                        "onus": {k: h.get(k, 0 if k in COUNTS else None) for k in bad},
                    }
                )
    return {
        "recipients_truth": len(want),
        "recipients_onus": len(have),
        "recipients_differ": differ,
        "fields": fields,
        "totals": {k: {"truth": v[0], "onus": v[1]} for k, v in totals.items()},
        "lines_truth": truth["lines"],
        "lines_onus": got.get("lines"),
        "skipped_onus": got.get("skipped"),
        "examples": examples,
    }


def pflogsumm_totals(path: Path) -> dict[str, int]:
    """The grand totals pflogsumm printed (for information)."""
    totals: dict[str, int] = {}
    for line in path.read_text(errors="replace").splitlines()[:20]:
        parts = line.split()
        if (
            len(parts) >= 2
            and parts[0].isdigit()
            and parts[1]
            in (
                "received",
                "delivered",
                "deferred",
                "bounced",
                "rejected",
            )
        ):
            totals[parts[1]] = int(parts[0])
    return totals


def version(command: list[str]) -> str:
    """First line a ``--version`` prints, or '?'."""
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except OSError:
        return "?"
    text = (proc.stdout or proc.stderr).strip().splitlines()
    return text[0] if text else "?"


def machine() -> dict[str, Any]:
    """Where and when."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "locale": os.environ.get("LC_ALL") or os.environ.get("LANG") or "C",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", type=Path, help="an existing log (truth: <log>.truth.json)")
    parser.add_argument("--truth", type=Path, help="the truth JSON for --log")
    parser.add_argument("--root", type=Path, default=Path("/tmp/onus-bench-mail"))
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument(
        "--small-lines", type=int, default=250_000, help="second size for onus (0: none)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rollover", action="store_true", help="a log across New Year")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per tool")
    parser.add_argument("--onus", type=Path, default=REPO / ".venv" / "bin" / "onus")
    parser.add_argument("--pflogsumm", default="/usr/sbin/pflogsumm")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    pflogsumm = args.pflogsumm if Path(args.pflogsumm).exists() else shutil.which("pflogsumm")
    if not pflogsumm:
        print(
            "pflogsumm is missing: install it with `apt-get install pflogsumm` (Debian/Ubuntu)",
            file=sys.stderr,
        )
        return 2
    info = machine()
    info["pflogsumm"] = version([pflogsumm, "--version"])
    info["grep"] = version(["grep", "--version"])
    print(
        f"{info['date']}  {info['cpus']} CPUs ({info['cpu']})  Python {info['python']}  "
        f"{info['pflogsumm']}  {info['grep']}  locale {info['locale']}"
    )

    args.root.mkdir(parents=True, exist_ok=True)
    if args.log:
        log = args.log
        truth_path = args.truth or postfix_log.default_truth(log)
        small = None
    else:
        log, truth_path = ensure_log(args.root, args.lines, args.seed, args.rollover)
        small = None
        if args.small_lines:
            small = ensure_log(args.root, args.small_lines, args.seed, args.rollover)
    truth = json.loads(truth_path.read_text()) if truth_path.exists() else None
    lines = truth["lines"] if truth else count_lines(log)

    have_onus = onus_available(args.onus)
    if not have_onus:
        print(f"`{args.onus} mail summarize` is not available: timing pflogsumm and grep only")

    out = args.root / "out"
    out.mkdir(exist_ok=True)
    timings: list[Timing] = []
    # Syslog stamps have no year: tell onus the first line's, as the generator wrote it.
    year = ["--year", str(truth["generator"]["year"])] if truth else []
    onus_small: Timing | None = None
    if have_onus:
        timings.append(
            Timing(
                "onus",
                [str(args.onus), "mail", "summarize", "--json", *year, str(log)],
                lines,
                output=out / "onus.json",
            )
        )
    timings.append(Timing("pflogsumm", [pflogsumm, str(log)], lines, output=out / "pflogsumm.txt"))
    timings.append(Timing("grep", ["grep", "-c", "status=", str(log)], lines, output=out / "grep"))
    if have_onus:  # start-up alone, for information: imports, the CLI
        timings.append(
            Timing(
                "onus start-up",
                [str(args.onus), "mail", "summarize", "--help"],
                0,
                output=out / "onus-help.txt",
            )
        )
    if have_onus and small is not None:
        small_lines = json.loads(small[1].read_text())["lines"]
        onus_small = Timing(
            "onus (small)",
            [str(args.onus), "mail", "summarize", "--json", *year, str(small[0])],
            small_lines,
            output=out / "onus-small.json",
        )
        timings.append(onus_small)

    warm(log)
    if small is not None:
        warm(small[0])
    failed: list[str] = []
    for round_ in range(args.repeat):
        for timing in timings:
            assert timing.output is not None
            seconds, rss, status = run_measured(timing.command, timing.output)
            if status != 0 and not (timing.tool == "grep" and status == 1):
                failed.append(f"{timing.tool} exited {status}")
            timing.seconds.append(seconds)
            timing.rss_kib.append(rss)
            print(
                f"  round {round_ + 1}: {timing.tool:13} {seconds:8.3f} s  {rss / 1024:7.1f} MiB",
                flush=True,
            )

    by = {t.tool: t for t in timings}
    grep_count = int((out / "grep").read_text().strip() or 0)
    ratios: dict[str, float | None] = {"pflogsumm/onus": None, "onus/grep": None}
    if have_onus:
        ratios["pflogsumm/onus"] = by["pflogsumm"].best / by["onus"].best
        ratios["onus/grep"] = by["onus"].best / by["grep"].best
    checks: dict[str, Any] = {}
    if have_onus and truth is not None:
        try:
            checks["main"] = compare(truth, json.loads((out / "onus.json").read_text()))
        except json.JSONDecodeError as exc:
            checks["main"] = {"error": f"onus output is not JSON: {exc}"}
        if small is not None and onus_small is not None:
            try:
                checks["small"] = compare(
                    json.loads(small[1].read_text()),
                    json.loads((out / "onus-small.json").read_text()),
                )
            except json.JSONDecodeError as exc:
                checks["small"] = {"error": f"onus output is not JSON: {exc}"}

    # -- report ------------------------------------------------------------------------------
    print()
    print(f"log: {log} ({lines:,} lines, {log.stat().st_size / 2**20:.0f} MiB)")
    print(f"best of {args.repeat}, warm page cache\n")
    print("| tool | lines | seconds | lines/s | peak RSS (MiB) | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for t in timings:
        ratio = ""
        if t.tool == "onus":
            ratio = f"onus/grep = {ratios['onus/grep']:.2f}"
        elif t.tool == "pflogsumm" and have_onus:
            ratio = f"pflogsumm/onus = {ratios['pflogsumm/onus']:.2f}"
        if t.tool == "onus start-up":
            ratio = "(`--help`, information)"
        per_second = f"{t.lines / t.best:,.0f}" if t.lines else ""
        print(
            f"| {t.tool} | {t.lines:,} | {t.best:.3f} | {per_second} | "
            f"{t.rss / 1024:.1f} | {ratio} |"
        )
    print()
    met = {"pflogsumm": False, "grep": False}
    if have_onus:
        pf, gr = ratios["pflogsumm/onus"], ratios["onus/grep"]
        assert pf is not None and gr is not None
        met = {"pflogsumm": pf >= PFLOGSUMM_TARGET, "grep": gr <= GREP_TARGET}
        print(
            f"target onus >= {PFLOGSUMM_TARGET:g}x pflogsumm's speed: {pf:.2f}x  "
            f"{'PASS' if met['pflogsumm'] else 'MISS'}"
        )
        print(
            f"target onus <= {GREP_TARGET:g}x grep's time:            {gr:.2f}x  "
            f"{'PASS' if met['grep'] else 'MISS'}"
        )
        if onus_small is not None:
            growth = by["onus"].rss / onus_small.rss
            print(
                f"memory: onus peak RSS {onus_small.rss / 1024:.1f} MiB at "
                f"{onus_small.lines:,} lines, {by['onus'].rss / 1024:.1f} MiB at {lines:,} "
                f"lines (x{growth:.2f} for x{lines / onus_small.lines:.1f} the lines)"
            )
    else:
        print("targets: not measured (no onus mail summarize)")
    print(f"grep -c status=: {grep_count:,}")
    pf_totals = pflogsumm_totals(out / "pflogsumm.txt")
    if truth is not None:
        t_totals = {k: sum(r[k] for r in truth["recipients"].values()) for k in COUNTS}
        print(f"truth totals:     {t_totals}")
    print(f"pflogsumm totals: {pf_totals} (its own definitions, for information)")
    correct = True
    for label, check in checks.items():
        if "error" in check:
            correct = False
            print(f"correctness ({label}): {check['error']}")
            continue
        ok = (
            check["recipients_differ"] == 0
            and check["lines_onus"] == check["lines_truth"]
            and check["recipients_onus"] == check["recipients_truth"]
        )
        correct = correct and ok
        print(
            f"correctness ({label}): {'OK' if ok else 'MISMATCH'} - "
            f"{check['recipients_differ']:,} of {check['recipients_truth']:,} recipients differ "
            f"(onus reports {check['recipients_onus']:,}); lines {check['lines_onus']} "
            f"(truth {check['lines_truth']}), skipped {check['skipped_onus']}"
        )
        if check["fields"]:
            print(f"  differing recipients per field: {check['fields']}")
            diff_totals = {k: v for k, v in check["totals"].items() if v["truth"] != v["onus"]}
            print(f"  totals that differ: {diff_totals}")
            for example in check["examples"]:
                print(f"  e.g. {json.dumps(example)}")
    if have_onus and truth is None:
        print("correctness: no truth JSON, not checked")
    for problem in failed:
        print(f"error: {problem}")

    passed = have_onus and all(met.values()) and correct and not failed
    print(f"\nresult: {'PASS' if passed else 'FAIL'}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "log": str(log),
                    "lines": lines,
                    "repeat": args.repeat,
                    "runs": [
                        {
                            "tool": t.tool,
                            "command": t.command,
                            "lines": t.lines,
                            "seconds": t.seconds,
                            "best": t.best,
                            "peak_rss_kib": t.rss_kib,
                        }
                        for t in timings
                    ],
                    "ratios": ratios,
                    "targets": {"pflogsumm": PFLOGSUMM_TARGET, "grep": GREP_TARGET, "met": met},
                    "correctness": checks,
                    "pflogsumm_totals": pf_totals,
                    "passed": passed,
                },
                indent=2,
            )
        )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
