"""Slider-update latency of the prefkit widgets: median and 90th percentile per explorer.

Each explorer is built once (its build time is printed too: the noise explorer fits its whole slider grid
then), then its sliders are set programmatically in a loop, cycling through values across their range. Setting
``slider.value`` runs the callback synchronously, as a browser message would in the kernel, so the time around
the assignment is one update: compute + redraw + PNG encode (not the comm round trip to the browser, which
adds a few ms locally). The budget is 100 ms median per update on a 2-core laptop.

    .venv/bin/python benchmarks/widget_latency.py              # 60 updates per slider
    .venv/bin/python benchmarks/widget_latency.py --updates 200 --json test-artifacts/widget_latency.json

Report the machine with the numbers: the script prints the CPU count and the load average, because other jobs
on a shared 2-core machine can inflate these timings up to about 2x.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# (explorer factory name, {slider: values cycled through})
PLAN = {
    "beta_explorer": {"beta": [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]},
    "margin_explorer": {"beta": [0.1, 0.2, 0.5, 1.0, 2.0, 5.0], "eps": [0.0, 0.05, 0.1, 0.2, 0.3, 0.45]},
    "noise_explorer": {"eps": [0.0, 0.1, 0.2, 0.3, 0.4, 0.45], "temperature": [0.0, 0.5, 1.0, 1.5, 2.0]},
    "kl_budget_explorer": {"budget": [0.0, 0.2, 0.5, 1.0, 1.5, 2.0, 2.5], "n": [1, 2, 4, 8, 16, 32, 64]},
}


def measure(name, sliders, updates):
    import prefkit.widgets as w

    start = time.perf_counter()
    explorer = getattr(w, name)()
    build = time.perf_counter() - start
    times = []
    for i in range(updates * len(sliders)):
        key = list(sliders)[i % len(sliders)]
        values = sliders[key]
        value = values[(i // len(sliders)) % len(values)]
        if explorer.sliders[key].value == value:  # no change, no update: take the next value instead
            value = values[((i // len(sliders)) + 1) % len(values)]
        renders = explorer.renders
        t0 = time.perf_counter()
        explorer.sliders[key].value = value
        times.append(time.perf_counter() - t0)
        assert explorer.renders == renders + 1, f"{name}: {key}={value} did not re-render"
    ms = np.array(times) * 1e3
    return {"explorer": name, "build_s": round(build, 2), "updates": len(ms),
            "median_ms": round(float(np.median(ms)), 1), "p90_ms": round(float(np.percentile(ms, 90)), 1),
            "max_ms": round(float(ms.max()), 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=60, help="updates per slider (default 60)")
    parser.add_argument("--only", choices=sorted(PLAN), action="append", help="measure only these explorers")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    load = os.getloadavg()
    print(f"CPUs: {os.cpu_count()}, load average (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"python {sys.version.split()[0]}")
    rows = []
    print(f"{'explorer':<20} {'build s':>8} {'updates':>8} {'median ms':>10} {'p90 ms':>8} {'max ms':>8}")
    for name in args.only or PLAN:
        row = measure(name, PLAN[name], args.updates)
        rows.append(row)
        print(f"{name:<20} {row['build_s']:>8.2f} {row['updates']:>8d} {row['median_ms']:>10.1f} "
              f"{row['p90_ms']:>8.1f} {row['max_ms']:>8.1f}")
    over = [r["explorer"] for r in rows if r["median_ms"] > 100]
    print("budget (median <= 100 ms):", "met by all" if not over else f"MISSED by {', '.join(over)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "loadavg": load, "results": rows}, indent=2))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
