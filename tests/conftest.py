"""Shared test setup."""

import torch

# Graph batches in tests are tiny: one thread avoids OpenMP stalls on a loaded 2-core machine
# (measured 25x slower with 2 threads while another job runs).
torch.set_num_threads(1)

import os  # noqa: E402
import tempfile  # noqa: E402

# predict.py's per-user feature cache (gennape.features.file_cache): a private folder per test run,
# so tests neither read a developer's cache nor leave one behind in ~/.cache (subprocesses inherit it).
_CACHE = tempfile.TemporaryDirectory(prefix="gennape-test-cache-")
os.environ["GENNAPE_CACHE_DIR"] = _CACHE.name
