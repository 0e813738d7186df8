"""How long ``mem1 --help`` takes, and which heavy modules it imports (prints JSON).

Runs ``python -m mem1_hf.cli --help`` (and ``mem1 eval --help``) ``--repeats`` times in fresh
processes with ``PYTHONPATH`` set to ``--src`` (default: this checkout's ``src``), so two trees
can be compared, e.g. before and after a change.

Example:
    $ python benchmarks/cli_startup.py --repeats 5
    $ python benchmarks/cli_startup.py --src /tmp/old/src
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("torch", "transformers", "datasets", "fastapi", "numpy", "requests")


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default=str(Path(__file__).resolve().parents[1] / "src"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": args.src, "OMP_NUM_THREADS": "1"}
    result: dict[str, object] = {"src": args.src, "repeats": args.repeats}
    for name, extra in (("help", []), ("eval_help", ["eval"])):
        argv = [sys.executable, "-m", "mem1_hf.cli", *extra, "--help"]
        times = [_time(argv, env) for _ in range(args.repeats)]
        result[f"{name}_median_s"] = round(statistics.median(times), 3)
        result[f"{name}_min_s"] = round(min(times), 3)
    probe = (
        "import sys, contextlib, io\nfrom mem1_hf.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    result["heavy_modules_imported"] = [m for m in done.stdout.strip().split(",") if m]
    result["python_bare_s"] = round(
        statistics.median(_time([sys.executable, "-c", "pass"], env) for _ in range(3)), 3
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
