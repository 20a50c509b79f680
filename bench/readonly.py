"""How fast the read-only commands answer, against ``python -c "import optuna"`` in the same run.

Builds (once, in a temporary folder) a study of the TFC-w1a1 grid space (192 real FINN estimate
builds, ~40 s), then times ``dse status``, ``dse status STUDY`` and ``dse pareto STUDY`` and the
bare Optuna import, interleaved, and prints each command's median and its ratio to the import
(issue 13's goal: at most 3x).

    .venv/bin/python bench/readonly.py --repeat 7
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dse-readonly-") as tmp:
        storage = f"sqlite:///{tmp}/dse.db"
        print("building the study (192 FINN estimate builds)...", flush=True)
        timed([str(BIN / "dse"), "run", "configs/tfc-w1a1-grid.yaml", "--storage", storage])
        commands = {
            "python -c 'import optuna'": [sys.executable, "-c", "import optuna"],
            "dse status": [str(BIN / "dse"), "status", "--storage", storage],
            "dse status tfc-w1a1-grid": [str(BIN / "dse"), "status", "tfc-w1a1-grid", "--storage", storage],
            "dse pareto tfc-w1a1-grid": [str(BIN / "dse"), "pareto", "tfc-w1a1-grid", "--storage", storage],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):  # interleaved: a busy moment hits every command alike
            for name, command in commands.items():
                times[name].append(timed(command))
    base = statistics.median(times["python -c 'import optuna'"])
    print(f"\n$ .venv/bin/python bench/readonly.py --repeat {args.repeat}\n")
    print("| command | median s | / import optuna |")
    print("|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| `{name}` | {median:.2f} | {median / base:.1f}x |")


if __name__ == "__main__":
    main()
