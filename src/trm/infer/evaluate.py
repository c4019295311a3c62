"""Dataset evaluation: accuracy with Wilson intervals, accuracy after each supervision step, halting
statistics, the adaptive-halting trade-off, Maze "valid and shortest", and the ARC voting evaluator."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.format import SplitData, load_identifiers, load_split, load_task_info
from ..utils import TRMError, atomic_write_json
from .engine import Prediction, Settings, predict, run
from .metrics import Accumulator
from .tasks import ArcAugmentation, TaskInfo, arc_crop, grid_key, make_codec, task_info
from .verify import check_maze, check_sudoku
from .voting import ArcVoter

SWEEP = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
CHUNK_ROWS = 4096  # candidate rows handed to the engine at once (bounds the per-step memory)


def evaluate(model, cfg, data_dir: str | Path, settings: Settings, *, info: TaskInfo | None = None,
             split: str = "test", limit: int | None = None, progress: bool = False,
             out_dir: str | Path | None = None) -> dict[str, Any]:
    """Evaluate ``model`` on ``data_dir/split``. Returns the report (see ``docs`` of ``trm eval``); with
    ``out_dir``, ARC writes ``submission.json`` and ``arc_per_task.json`` there."""
    settings.validate()
    data = load_split(data_dir, split)
    for key in ("seq_len", "vocab_size"):
        if getattr(data.metadata, key) != getattr(cfg.model, key):
            raise TRMError(f"{data_dir}: the dataset has {key} {getattr(data.metadata, key)} but the model has "
                           f"{getattr(cfg.model, key)}; evaluate a model trained for this dataset")
    info = info or task_info(cfg, None, load_task_info(data_dir))
    n_total = data.num_examples if limit is None else min(limit, data.num_examples)
    if n_total == 0:
        raise TRMError(f"{data_dir}/{split}: no examples to evaluate")
    bar = _progress(n_total, progress)
    t0 = time.perf_counter()
    try:
        if info.kind == "arc":
            report = _evaluate_arc(model, data, load_identifiers(data_dir), settings, n_total, bar, data_dir, out_dir)
        else:
            report = _evaluate_grid(model, cfg, info, data, settings, n_total, bar)
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    report = {"task": info.kind, "split": split, **_settings_dict(settings, model), **report,
              "seconds": elapsed, "puzzles_per_sec": n_total / elapsed if elapsed > 0 else float("inf")}
    return report


def _settings_dict(st: Settings, model) -> dict[str, Any]:
    return {"mode": st.mode, "threshold": st.threshold if st.mode == "adaptive" else None,
            "max_steps": st.max_steps or model.cfg.N_sup, "samples": st.samples,
            "noise": st.noise if st.samples > 1 else 0.0, "augment": st.augment, "vote": st.vote}


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="puzzle", desc="eval", dynamic_ncols=True, leave=False)


def _example_identifiers(data: SplitData) -> np.ndarray:
    """[E] the puzzle identifier of every example."""
    return np.repeat(np.asarray(data.puzzle_identifiers), np.diff(data.puzzle_indices))


def _evaluate_grid(model, cfg, info: TaskInfo, data: SplitData, st: Settings, n_total: int, bar) -> dict[str, Any]:
    codec = make_codec(info, cfg)
    transforms = codec.transforms(st.augment, st.seed)
    if len(transforms) < st.augment:
        raise TRMError(f"{info.kind} has only {len(transforms)} symmetries; use --augment {len(transforms)} or fewer")
    C = len(transforms) * st.samples
    N = st.max_steps or model.cfg.N_sup
    acc = Accumulator(N, SWEEP if C == 1 else ())
    pids = torch.as_tensor(_example_identifiers(data), dtype=torch.int32)
    # the symbolic check of each answer (a verifier returns its list of errors), reported beside exact match
    verifier = {"maze": ("valid_shortest_accuracy", check_maze),
                "sudoku": ("valid_accuracy", lambda q, a: check_sudoku(q, a, codec.box))}.get(info.kind)
    chunk = max(1, max(CHUNK_ROWS, st.batch_size) // C)
    on_done = (lambda k: bar.update(k / C)) if bar is not None else None
    for start in range(0, n_total, chunk):
        end = min(n_total, start + chunk)
        inputs = torch.as_tensor(data.batch_inputs(np.arange(start, end)))
        labels = torch.as_tensor(data.batch_labels(np.arange(start, end)))
        pred = predict(model, inputs, pids[start:end], st, transforms, record=True, on_done=on_done)
        keep = (labels != -100).any(-1)
        acc.add(pred, labels, keep)
        if verifier is not None:
            name, check = verifier
            acc.add_extra(name, sum(not check(codec.grid(inputs[i].numpy()), codec.grid(pred.preds[i].numpy()))
                                    for i in torch.nonzero(keep).flatten().tolist()))
    return acc.report()


def _evaluate_arc(model, data: SplitData, identifiers: list[str] | None, st: Settings, n_total: int, bar,
                  data_dir, out_dir) -> dict[str, Any]:
    if identifiers is None:
        raise TRMError(f"{data_dir}: ARC evaluation needs identifiers.json (the names of the augmented versions)")
    if st.augment > 1:
        raise TRMError("ARC votes over the dataset's own augmented versions; --augment does not apply")
    K = st.samples
    N = st.max_steps or model.cfg.N_sup
    acc = Accumulator(N)
    voter = ArcVoter()
    truth: dict[str, dict[bytes, tuple[np.ndarray, np.ndarray]]] = {}
    ex_ids = _example_identifiers(data)
    chunk = max(1, max(CHUNK_ROWS, st.batch_size) // K)
    on_done = (lambda k: bar.update(k / K)) if bar is not None else None
    for start in range(0, n_total, chunk):
        end = min(n_total, start + chunk)
        inputs = torch.as_tensor(data.batch_inputs(np.arange(start, end)))
        labels = torch.as_tensor(data.batch_labels(np.arange(start, end)))
        pids = torch.as_tensor(ex_ids[start:end], dtype=torch.int32)
        keep = (labels != -100).any(-1)
        # every trajectory is a vote of its own (no per-puzzle choice); trajectory 0 (noise-free) is scored
        B = end - start
        traj = torch.arange(K).repeat(B)
        out = run(model, inputs.repeat_interleave(K, 0), pids.repeat_interleave(K), mode=st.mode,
                  threshold=st.threshold, max_steps=st.max_steps, batch_size=st.batch_size,
                  noise=st.noise if K > 1 else 0.0, trajectory=traj, seed=st.seed, record=True, on_done=on_done)
        cand = out.preds.view(B, K, -1)
        conf = out.confidence.view(B, K)
        steps = out.steps.view(B, K)
        acc.add(Prediction(preds=cand[:, 0], confidence=conf[:, 0], steps=steps[:, 0], compute=steps.sum(-1),
                           votes=torch.ones(B, dtype=torch.long), candidates=K,
                           step_preds=out.step_preds.view(N, B, K, -1)[:, :, 0].long()), labels, keep)
        for i in torch.nonzero(keep).flatten().tolist():
            pid = int(pids[i])
            if not 0 <= pid < len(identifiers):
                raise TRMError(f"{data_dir}: puzzle identifier {pid} is not in identifiers.json")
            task, inp, out_grid = vote_arc(voter, identifiers[pid], inputs[i].numpy(), cand[i].numpy(),
                                           conf[i].tolist(), labels[i].numpy())
            truth.setdefault(task, {}).setdefault(grid_key(inp), (inp, out_grid))
    pairs = {task: list(v.values()) for task, v in truth.items()}
    known = _arc_test_puzzles(data_dir)
    if known is not None:
        # the builder's ground truth: every test input of every evaluated task, in the task file's order
        pairs = {task: known[task] for task in pairs}
    scores = voter.evaluate(pairs)
    report = acc.report()
    report.update({k: v for k, v in scores.items() if k != "per_task"})
    if out_dir is not None:
        out = Path(out_dir)
        atomic_write_json(out / "submission.json", voter.submission({t: [p[0] for p in v] for t, v in pairs.items()}))
        atomic_write_json(out / "arc_per_task.json", scores["per_task"])
        report["submission"] = str(out / "submission.json")
    return report


def vote_arc(voter: ArcVoter, identifier: str, inputs: np.ndarray, predictions: np.ndarray,
             confidences: list[float], labels: np.ndarray | None = None):
    """Count the predicted canvases [K, 900] of one augmented test example as votes (SPEC §7): crop each,
    undo the augmentation named by ``identifier`` and vote under (task, original test input). Returns (task,
    original input grid, original expected output grid or None)."""
    aug = ArcAugmentation.parse(identifier)
    inp = aug.invert(arc_crop(inputs))
    for pred, conf in zip(predictions, confidences, strict=True):
        voter.add(aug.task, inp, aug.invert(arc_crop(pred)), conf)
    out = None if labels is None else aug.invert(arc_crop(np.where(labels < 0, 0, labels)))
    return aug.task, inp, out


def _arc_test_puzzles(data_dir) -> dict[str, list[tuple[np.ndarray, np.ndarray]]] | None:
    path = Path(data_dir) / "test_puzzles.json"
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
        return {name: [(np.asarray(t["input"]), np.asarray(t["output"])) for t in task["test"]]
                for name, task in raw.items()}
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise TRMError(f"{path}: not a valid test puzzle file ({e})") from None


def format_report(report: dict[str, Any]) -> str:
    """A human-readable summary: headline numbers, a per-step table with a bar plot, halting statistics."""
    lines = []
    ci = report.get("exact_accuracy_ci95", [0, 0])
    lines.append(f"task {report['task']}  mode {report['mode']}"
                 + (f" (threshold {report['threshold']})" if report.get("threshold") is not None else "")
                 + f"  max steps {report['max_steps']}  samples {report['samples']}  augment {report['augment']}")
    lines.append(f"puzzles          {report['count']}")
    lines.append(f"exact accuracy   {report['exact_accuracy']:.4f}  (95% CI {ci[0]:.4f}-{ci[1]:.4f})")
    tci = report.get("token_accuracy_ci95", [0, 0])
    lines.append(f"token accuracy   {report['token_accuracy']:.4f}  (95% CI {tci[0]:.4f}-{tci[1]:.4f})")
    for key, label in (("valid_shortest_accuracy", "valid & shortest"), ("valid_accuracy", "valid (rules)")):
        if key in report:
            c = report[f"{key}_ci95"]
            lines.append(f"{label:<17}{report[key]:.4f}  (95% CI {c[0]:.4f}-{c[1]:.4f})")
    for k in (1, 2, 5, 10, 100, 1000):
        if f"pass@{k}" in report:
            lines.append(f"pass@{k:<11}{report[f'pass@{k}']:.4f}")
    lines.append(f"mean steps       {report['mean_steps']:.2f}  (compute {report['compute_steps_per_puzzle']:.2f} "
                 f"steps/puzzle)   q_halt accuracy {report['q_halt_accuracy']:.4f}")
    lines.append(f"speed            {report['puzzles_per_sec']:.1f} puzzles/s ({report['seconds']:.1f} s)")
    if report.get("per_step"):
        lines.append("")
        lines.append("step  exact   token   halted  exact accuracy")
        for row in report["per_step"]:
            bar = "#" * round(40 * row["exact_accuracy"])
            lines.append(f"{row['step']:>4}  {row['exact_accuracy']:.4f}  {row['token_accuracy']:.4f}  "
                         f"{row['halted_fraction']:.3f}   |{bar}")
    if report.get("threshold_sweep"):
        lines.append("")
        lines.append("adaptive halting (from this run's per-step answers): threshold -> exact accuracy, mean steps")
        for row in report["threshold_sweep"]:
            lines.append(f"  {row['threshold']:<5} {row['exact_accuracy']:.4f}  {row['mean_steps']:.2f}")
    if report.get("steps_histogram"):
        lines.append("")
        lines.append("steps used: " + "  ".join(f"{k}:{v}" for k, v in report["steps_histogram"].items()))
    return "\n".join(lines)


def save_report(report: dict[str, Any], out_dir: str | Path) -> list[str]:
    """Write ``report.json`` and, when pillow is installed, ``per_step.png``; returns notes for the user."""
    from .render import plot_per_step

    out = Path(out_dir)
    atomic_write_json(out / "report.json", json.loads(json.dumps(report)))
    notes = [f"wrote {out / 'report.json'}"]
    if report.get("per_step"):
        notes.append(plot_per_step(report, out / "per_step.png"))
    return notes
