"""The one wall-clock limit of the suite: a guard against a process that hangs, never a speed target.

A test that starts a process (an example, the command line, a notebook
kernel, a Dask cluster) waits for it with a limit, so that a hang fails the
run instead of blocking CI forever. Those limits were once set near the
idle run time (120 to 300 s), and a machine busy with other suites missed
them: an example that runs in under a minute idle failed at 300 s in a
43-minute run of the suite. A limit here is what a hang needs and what no
load reaches, so it is the same for every test. How fast things run is
measured by ``benchmarks/``, which print ratios from one run.
"""

__all__ = ["HANG_LIMIT"]

# Seconds: over 30 times the slowest idle wait it guards (an example, about a minute).
HANG_LIMIT = 1800
