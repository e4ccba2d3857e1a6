"""Write the example set as ONNX files into examples/cifar10/ (about 3 MB; seconds).

    python examples/make_examples.py
    python predict.py examples/cifar10/
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from networks import EXAMPLES, export  # noqa: E402


def main() -> None:
    out = Path(__file__).resolve().parent / "cifar10"
    out.mkdir(exist_ok=True)
    for name, build in EXAMPLES.items():
        torch.manual_seed(0)
        print(export(build(), str(out / f"{name}.onnx")))


if __name__ == "__main__":
    main()
