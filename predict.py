"""Rank ONNX models by how well they will train, without training them.

    python predict.py model_a.onnx model_b.onnx
    python predict.py models/ --format json
    python predict.py models/ --labels known.csv [--save-checkpoint adapted.ckpt]
    python predict.py models/ --task nb201/cifar100       # accuracies on a task the model knows
    python predict.py --list-tasks
    python predict.py dynamic_hw.onnx --input-size 224 224
    python predict.py models/ --plot ranking.png          # score against FLOPs, the Pareto front marked

The command is :mod:`gennape.inference.cli` (its docstring says what the columns mean).
"""

from __future__ import annotations

import sys

from gennape.inference.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    try:
        sys.exit(main(command=True))
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback (a checkpoint being written is removed)
        print("interrupted", file=sys.stderr)
        sys.exit(130)
