"""Start-up and the console fed a file: ``sessionbot run`` as an operator runs it.

* **start-up**: wall time of ``sessionbot run --config config.example.toml`` with an
  empty standard input (the console adapter starts, reads end of input, the bot stops),
  on an existing database, and on a new one (created and migrated on the way). The
  time to be ready is less than this, which includes stopping.
* **console**: the same command fed a file of lines, one conversation at a time: every
  line is handled (and its two rows committed) before the next is read. Rows/s is
  ``2 * lines`` over the run's time less the empty run's.

Both use config.example.toml, with the database in a scratch directory, encryption on
(a fresh master key in ``SESSIONBOT_MASTER_KEY``) and the rate limit off, through the
environment overrides the configuration supports.

Run from the repository root::

    python -m bench.bench_startup
    python -m bench.bench_startup --lines 500 --repeat 3

Results are recorded in bench/README.md. Tests never assert on these timings.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Figure, Figures, fmt, machine
from core.crypto.envelope import generate_master_key

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config.example.toml"
TEXT = "line {n}: could you summarise the last report for me, please?"


def sessionbot() -> list[str]:
    script = Path(sys.executable).with_name("sessionbot")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "bot"]


def environment(scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SESSIONBOT_STORAGE__URL=f"sqlite:///{scratch / 'sessionbot.db'}",
        SESSIONBOT_ENCRYPTION__ENABLED="true",
        SESSIONBOT_MASTER_KEY=generate_master_key(),
        SESSIONBOT_BOT__RATE_LIMIT_PER_MINUTE="0",
        SESSIONBOT_BOT__LOG_LEVEL="warning",
    )
    return env


def run(scratch: Path, env: dict[str, str], stdin: bytes) -> float:
    """Seconds of one ``sessionbot run``, from exec to exit."""
    began = time.perf_counter()
    done = subprocess.run(
        [*sessionbot(), "run", "--config", str(CONFIG)],
        input=stdin,
        cwd=scratch,
        env=env,
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"sessionbot run failed: {done.stderr.decode()[-2000:]}")
    return elapsed


def collect(lines: int = 1000, repeat: int = 5) -> Figures:
    figures: Figures = {
        "startup": Figure("start-up and stop, existing database (empty input)", "s"),
        "startup_new": Figure("start-up and stop, new database (migrations run)", "s"),
        "console": Figure(f"console fed {lines:,} lines, one conversation", "rows/s"),
        "console_wall": Figure(f"console fed {lines:,} lines, whole run", "s"),
    }
    feed = "".join(TEXT.format(n=n) + "\n" for n in range(lines)).encode()
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="sessionbot-startup-") as scratch_dir:
            scratch = Path(scratch_dir)
            env = environment(scratch)
            figures["startup_new"].samples.append(run(scratch, env, b""))
            empty = run(scratch, env, b"")
            figures["startup"].samples.append(empty)
            whole = run(scratch, env, feed)
            figures["console_wall"].samples.append(whole)
            figures["console"].samples.append(2 * lines / max(whole - empty, 1e-9))
    return figures


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    figures = collect(args.lines, args.repeat)
    table = ["| measurement | median | min to max |", "| --- | ---: | ---: |"]
    table += [f"| {f.label} | {fmt(f.median)} {f.unit} | {f.spread()} |" for f in figures.values()]
    lines = [machine(), "", *table]
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
