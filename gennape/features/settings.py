"""How features of single networks are computed (``predict.py``, ONNX folders, the zoo's store).

One batch of 64 CIFAR-10 images (seed 0, shipped in the package), 32 px where the network runs at
it and its own resolution otherwise, nothing image-based above 1 GFLOP per image; NNGP on 128 + 128
images, 2 initialisations. The cell families' stores use the same seed and batch at their task's
resolution (data/features/README.md). Keyword arguments of ``catalog.make_inputs``.
"""

from __future__ import annotations

from typing import Any

FILE_SETTINGS: dict[str, Any] = {"seed": 0, "batch_size": 64, "image_size": 32, "resolution": "prefer",
                                 "max_gflops": 1.0, "nngp_images": 128, "nngp_draws": 2}
