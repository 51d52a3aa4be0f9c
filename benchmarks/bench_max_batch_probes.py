"""Training steps needed to find the largest batch that fits: skbatch against Lightning and accelerate.

Memory limits are simulated (a step fits when the batch is at most the
limit), so the count is of the search rules alone, on any machine. The
reference rules follow the libraries' defaults, re-stated here because
neither library is a dependency:

- Lightning ``Tuner.scale_batch_size(mode='binsearch')``: start at 2,
  double until a failure, then bisect to the exact limit; at most 25
  trials, each of ``steps_per_trial=3`` training steps.
- accelerate ``find_executable_batch_size``: start at 128, multiply by 0.9
  after each failure; it never grows, so a limit above the start is missed.

Run: ``python benchmarks/bench_max_batch_probes.py [--n-samples 1000000]``
"""

import argparse

from skbatch.training.max_batch import DEFAULT_RTOL, DEFAULT_START, _search

LIMITS = [100, 300, 1000, 3000, 10_000, 30_000, 100_000]


def lightning_binsearch(limit, n_samples, init=2, max_trials=25):
    low, high, size, trials = 1, None, init, 0
    while trials < max_trials:
        trials += 1
        if size <= limit:
            low = size
            if (high is not None and high - low <= 1) or size >= n_samples:
                break
            size = (high + low) // 2 if high is not None else min(2 * size, n_samples)
        else:
            high = size
            size = (high + low) // 2
            if high - low <= 1:
                break
    return low, trials


def accelerate_halving(limit, start=128):
    size, trials = start, 0
    while True:
        trials += 1
        if size <= limit:
            return size, trials
        size = int(size * 0.9)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"{args.n_samples} samples; answer as a share of the true limit, and training steps run")
    print(f"{'limit':>8} | {'skbatch':>16} | {'Lightning binsearch':>20} | {'accelerate':>16}")
    totals = {"skbatch": 0, "lightning": 0}
    for limit in LIMITS:
        ours = _search(lambda size: size <= limit, args.n_samples, start=DEFAULT_START, rtol=DEFAULT_RTOL)
        l_size, l_trials = lightning_binsearch(limit, args.n_samples)
        a_size, a_trials = accelerate_halving(limit)
        totals["skbatch"] += ours.n_probes
        totals["lightning"] += 3 * l_trials
        print(
            f"{limit:>8} | {ours.batch_size / limit:5.3f} {ours.n_probes:3d} steps | "
            f"{l_size / limit:5.3f} {3 * l_trials:3d} steps     | {a_size / limit:5.3f} {a_trials:3d} steps"
        )
    print(f"steps, skbatch / Lightning = {totals['skbatch'] / totals['lightning']:.2f}")


if __name__ == "__main__":
    main()
