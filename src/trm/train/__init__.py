"""Training: the loop of the paper and the official code (docs/PARITY.md), its optimizers, schedule, EMA, checkpoints, multi-process and the demo.

from trm.presets import get_preset
from trm.train import train

result = train(get_preset("sudoku6_mlp"), "data/sudoku6", "runs/s6")
print(result.best_metric, result.run_dir)
"""

from .ema import EMA
from .evaluate import evaluate
from .optim import AdamATan2, PuzzleEmbeddingSignSGD
from .schedule import lr_at
from .trainer import TrainResult, TrainStep, build_training, train

__all__ = [
    "train",
    "TrainResult",
    "TrainStep",
    "build_training",
    "evaluate",
    "AdamATan2",
    "PuzzleEmbeddingSignSGD",
    "EMA",
    "lr_at",
]
