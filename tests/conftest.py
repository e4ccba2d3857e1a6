"""Shared test setup."""

import torch

# Graph batches in tests are tiny: one thread avoids OpenMP stalls on a loaded 2-core machine
# (measured 25x slower with 2 threads while another job runs).
torch.set_num_threads(1)
