"""Dataset evaluation: accuracy with Wilson intervals, accuracy after each supervision step, halting
statistics, the adaptive-halting trade-off, network calls per puzzle, Maze "valid and shortest", verified
solving (verified, abstention and wrong-answer rates, soundness, calls per puzzle), the ARC voting evaluator,
the evaluated subset (checked to be what it claims) and an optional per-puzzle JSONL."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data.format import SplitData, load_identifiers, load_split, load_task_info
from ..tasks import IGNORE, TASKS, PuzzleError, Task, get_task
from ..tasks.arc import ArcAugmentation, crop_canvas, grid_key
from ..utils import TRMError, atomic_write_json, atomic_write_text
from . import selectors
from .engine import run
from .metrics import Accumulator, wilson
from .render import plot_per_step
from .settings import LADDER, Settings, plan
from .solver import Solver, VerifiedRequest, verified_candidate
from .tasks import TaskInfo, task_info
from .torch_backend import as_backend
from .voting import ArcVoter, Prediction, predict

SWEEP = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
CHUNK_ROWS = 4096  # candidate rows handed to the engine at once (bounds the per-step memory)


def evaluate(
    model,
    cfg,
    data_dir: str | Path,
    settings: Settings,
    *,
    info: TaskInfo | None = None,
    split: str = "test",
    limit: int | None = None,
    progress: bool = False,
    out_dir: str | Path | None = None,
    per_puzzle: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` (a PyTorch model or any engine backend) on the first ``limit`` examples of
    ``data_dir/split``. Returns the report (see ``trm eval``); with ``out_dir``, ARC writes ``submission.json``
    and ``arc_per_task.json`` there; ``per_puzzle`` (Sudoku, maze, custom) is a JSONL file with one line per
    puzzle (index, answer tokens, steps, calls, selector, confidence, votes, verdict)."""
    settings.validate()
    backend = as_backend(model)
    data = load_split(data_dir, split)
    for key in ("seq_len", "vocab_size"):
        if getattr(data.metadata, key) != getattr(cfg.model, key):
            raise TRMError(
                f"{data_dir}: the dataset has {key} {getattr(data.metadata, key)} but the model has "
                f"{getattr(cfg.model, key)}; evaluate a model trained for this dataset"
            )
    info = info or task_info(cfg, None, load_task_info(data_dir))
    n_total = data.num_examples if limit is None else min(limit, data.num_examples)
    if n_total == 0:
        raise TRMError(f"{data_dir}/{split}: no examples to evaluate")
    n_sup = cfg.model.N_sup
    bar = _progress(n_total, progress)
    t0 = time.perf_counter()
    lines: list[str] | None = [] if per_puzzle is not None else None
    try:
        task = get_task(info, cfg.model.seq_len, cfg.model.vocab_size)
        if task.per_task:
            if settings.selector.acts_while_running or per_puzzle is not None:
                running = ", ".join(n for n in selectors.names() if selectors.get(n).acts_while_running)
                grids = ", ".join(k for k, family in TASKS.items() if not family.per_task)
                raise TRMError(
                    f"{task.title} evaluation counts every trajectory as a vote of its own: --select {running} "
                    f"and --per-puzzle apply to {grids} tasks"
                )
            report = _evaluate_arc(
                backend, n_sup, data, load_identifiers(data_dir), settings, n_total, bar, data_dir, out_dir
            )
        else:
            report = _evaluate_grid(
                backend,
                n_sup,
                task,
                data,
                settings,
                n_total,
                bar,
                lines,
            )
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    if report.pop("covered") != n_total:  # every claimed example evaluated exactly once (see _Coverage)
        raise TRMError(f"internal error: {n_total} examples claimed but not all evaluated exactly once")
    if per_puzzle is not None:
        atomic_write_text(per_puzzle, "".join(lines))
    return {
        "task": info.kind,
        "split": split,
        **settings.describe(n_sup),
        "subset": subset(split, data.num_examples, np.arange(n_total)),
        **report,
        "seconds": elapsed,
        "puzzles_per_sec": n_total / elapsed if elapsed > 0 else float("inf"),
    }


def subset(split: str, examples: int, idx: np.ndarray) -> dict[str, Any]:
    """What a report states about the examples it scored: their indices in the split (as [start, stop)
    ranges) and a digest of the index list; :func:`check_subset` verifies such a statement."""
    idx = np.asarray(idx, np.int64)
    cut = np.flatnonzero(np.diff(idx) != 1) + 1
    ranges = [[int(r[0]), int(r[-1]) + 1] for r in np.split(idx, cut) if r.size]
    digest = hashlib.sha256(idx.astype("<i8").tobytes()).hexdigest()
    return {"split": split, "examples": examples, "count": int(idx.size), "ranges": ranges, "sha256": digest}


def check_subset(claim: dict[str, Any]) -> np.ndarray:
    """The indices a report's ``subset`` names, checked against its count, bounds and digest."""
    idx = np.concatenate([np.arange(lo, hi) for lo, hi in claim["ranges"]] or [np.zeros(0, np.int64)])
    if subset(claim["split"], claim["examples"], idx) != claim or (
        idx.size and idx.max() >= claim["examples"]
    ):
        raise TRMError("the report's subset does not match its own indices, count or digest")
    return idx


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm  # only when a progress bar is shown

    return tqdm(total=total, unit="puzzle", desc="eval", dynamic_ncols=True, leave=False)


def _example_identifiers(data: SplitData) -> np.ndarray:
    """[E] the puzzle identifier of every example."""
    return np.repeat(np.asarray(data.puzzle_identifiers), np.diff(data.puzzle_indices))


def _evaluate_grid(
    backend, n_sup: int, task: Task, data: SplitData, st: Settings, n_total: int, bar, lines: list | None
) -> dict[str, Any]:
    syms = task.symmetries(st.augment, st.seed)
    if len(syms) < st.augment:
        raise TRMError(f"{task.kind} has only {len(syms)} symmetries; use --augment {len(syms)} or fewer")
    C = len(syms) * st.samples
    acc = Accumulator(st.max_steps or n_sup, SWEEP if C == 1 else ())
    sound = Sound(backend, n_sup, task, st) if task.verifier_metric else None
    pids = _example_identifiers(data)
    chunk = max(1, max(CHUNK_ROWS, st.batch_size) // C)
    on_done = (lambda k: bar.update(k / C)) if bar is not None else None
    seen = np.zeros(n_total, np.int64)
    for start in range(0, n_total, chunk):
        idx = np.arange(start, min(n_total, start + chunk))
        seen[idx] += 1
        inputs, labels = data.batch_inputs(idx), data.batch_labels(idx)
        pred = predict(
            backend,
            n_sup,
            inputs,
            pids[idx],
            st,
            syms if st.augment > 1 else None,
            record=True,
            on_done=on_done,
        )
        keep = (labels != IGNORE).any(-1)
        exact = acc.add(pred, labels, keep)
        valid = None
        if task.verifier_metric:
            valid = [bool(task.accepts(inputs[i], pred.preds[i])) for i in np.flatnonzero(keep)]
            acc.add_extra(task.verifier_metric, sum(valid))
            done = sound.add(inputs, labels, pids[idx], np.flatnonzero(keep), pred, valid)
        if lines is not None:
            for n, i in enumerate(np.flatnonzero(keep)):
                line = {
                    "index": int(idx[i]),
                    "answer": pred.preds[i].tolist(),
                    "steps": int(pred.steps[i]),
                    "calls": int(pred.compute[i]),
                    "selector": st.select,
                    "confidence": round(float(pred.confidence[i]), 6),
                    "votes": int(pred.votes[i]),
                    "exact": bool(exact[n]),
                    **({} if valid is None else {"valid": valid[n], **done[n]}),
                }
                lines.append(json.dumps(line) + "\n")
    verified = {} if sound is None else {"verified": sound.report()}
    return {**acc.report(), **verified, "covered": int((seen == 1).sum())}


class Sound:
    """Verified solving over a dataset (tasks with a verifier): the protocol's answers (the plain evaluation)
    are rung 1; puzzles whose every candidate the verifier rejects climb the rest of the ladder within the
    budget (:class:`~.solver.VerifiedRequest`). Counts answered (verified), abstained and wrong: an answer
    returned as verified that neither equals the label nor passes the task's check re-run on the dataset's own
    question row (``Task.accepts``; maze: any shortest path is right). Zero by construction; counted anyway."""

    def __init__(self, backend, n_sup: int, task: Task, st: Settings):
        self.task, self.st = task, st
        self.solver = Solver(backend, task, n_sup, defaults=st, num_identifiers=2**62)
        self.ladder = plan(st, n_sup, len(task.symmetries(max(r.augment for r in LADDER), st.seed)))
        self.calls: list[int] = []
        self.answered = self.wrong = self.exact = 0
        self.rungs: dict[str, int] = {}

    def add(self, inputs, labels, pids, rows, pred, first_valid) -> list[dict[str, Any]]:
        """Rows ``rows`` of a chunk whose protocol answers are ``pred``, ``first_valid`` their verdicts; returns
        each row's verdict for the per-puzzle file."""
        task, st, ladder = self.task, self.st, self.ladder
        answer: dict[int, tuple[np.ndarray, str]] = {}
        calls = {int(i): int(pred.compute[i]) for i in rows}
        requests, which = [], []
        for n, i in enumerate(rows):
            i = int(i)
            tokens = pred.preds[i] if first_valid[n] else None
            if tokens is None and pred.candidates > 1:
                found = verified_candidate(
                    lambda t, q=inputs[i]: task.accepts(q, t), pred.every[i], pred.every_conf[i]
                )
                tokens = None if found is None else found[0]
            if tokens is not None:
                answer[i] = (tokens, ladder[0].rung.name)
            elif len(ladder) > 1 and calls[i] + ladder[1].cost <= st.budget:
                try:
                    parsed = task.parse(task.example_text(inputs[i]))
                except PuzzleError:  # not a puzzle the solver reads: it abstains
                    continue
                parsed.pid = int(pids[i])
                spent = (calls[i], [ladder[0].rung.name])
                requests.append(VerifiedRequest(task, parsed, ladder, st.budget, False, 1, spent))
                which.append(i)
        for i, res in zip(which, self.solver.run_requests(requests, st.batch_size), strict=True):
            calls[i] = res.calls
            if res.verified:
                answer[i] = (np.asarray(res.tokens), res.rung)
        out = []
        for i in map(int, rows):
            self.calls.append(calls[i])
            verdict: dict[str, Any] = {"verified": i in answer, "verified_calls": calls[i]}
            if i in answer:
                tokens, rung = answer[i]
                mask = labels[i] != IGNORE
                exact = bool((tokens[mask] == labels[i][mask]).all())
                wrong = not exact and not task.accepts(inputs[i], tokens)
                self.answered += 1
                self.exact += exact
                self.wrong += wrong
                self.rungs[rung] = self.rungs.get(rung, 0) + 1
                verdict.update(verified_rung=rung, verified_exact=exact, verified_wrong=wrong)
            out.append(verdict)
        return out

    def report(self) -> dict[str, Any]:
        n = max(len(self.calls), 1)
        calls = np.asarray(self.calls or [0])
        return {
            "budget": self.st.budget,
            "verified_rate": self.answered / n,
            "verified_rate_ci95": list(wilson(self.answered, len(self.calls))),
            "abstention_rate": 1 - self.answered / n,
            "wrong_rate": self.wrong / n,
            "wrong": self.wrong,
            "soundness": (self.answered - self.wrong) / self.answered if self.answered else None,
            "verified_exact_rate": self.exact / n,
            "calls_mean": float(calls.mean()),
            "calls_p50": float(np.percentile(calls, 50)),
            "calls_p95": float(np.percentile(calls, 95)),
            "by_rung": {r.rung.name: self.rungs.get(r.rung.name, 0) for r in self.ladder},
        }


def _evaluate_arc(
    backend,
    n_sup: int,
    data: SplitData,
    identifiers: list[str] | None,
    st: Settings,
    n_total: int,
    bar,
    data_dir,
    out_dir,
) -> dict[str, Any]:
    if identifiers is None:
        raise TRMError(
            f"{data_dir}: ARC evaluation needs identifiers.json (the names of the augmented versions)"
        )
    if st.augment > 1:
        raise TRMError("ARC votes over the dataset's own augmented versions; --augment does not apply")
    K = st.samples
    N = st.max_steps or n_sup
    acc = Accumulator(N)
    voter = ArcVoter()
    truth: dict[str, dict[bytes, tuple[np.ndarray, np.ndarray]]] = {}
    ex_ids = _example_identifiers(data)
    chunk = max(1, max(CHUNK_ROWS, st.batch_size) // K)
    on_done = (lambda k: bar.update(k / K)) if bar is not None else None
    seen = np.zeros(n_total, np.int64)
    for start in range(0, n_total, chunk):
        idx = np.arange(start, min(n_total, start + chunk))
        seen[idx] += 1
        inputs, labels, pids = data.batch_inputs(idx), data.batch_labels(idx), ex_ids[idx]
        keep = (labels != IGNORE).any(-1)
        # every trajectory is a vote of its own (no per-puzzle choice); trajectory 0 (noise-free) is scored
        B = len(idx)
        out = run(
            backend,
            np.repeat(inputs, K, 0),
            np.repeat(pids, K),
            st,
            n_sup,
            trajectory=np.tile(np.arange(K), B),
            record=True,
            on_done=on_done,
        )
        cand = out.preds.reshape(B, K, -1)
        conf = out.confidence.reshape(B, K)
        steps = out.steps.reshape(B, K)
        acc.add(
            Prediction(
                preds=cand[:, 0],
                confidence=conf[:, 0],
                steps=steps[:, 0],
                compute=steps.sum(-1),
                votes=np.ones(B, np.int64),
                candidates=K,
                step_preds=out.step_preds.reshape(N, B, K, -1)[:, :, 0],
            ),
            labels,
            keep,
        )
        for i in np.flatnonzero(keep):
            pid = int(pids[i])
            if not 0 <= pid < len(identifiers):
                raise TRMError(f"{data_dir}: puzzle identifier {pid} is not in identifiers.json")
            task, inp, out_grid = vote_arc(
                voter, identifiers[pid], inputs[i], cand[i], conf[i].tolist(), labels[i]
            )
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
        atomic_write_json(
            out / "submission.json", voter.submission({t: [p[0] for p in v] for t, v in pairs.items()})
        )
        atomic_write_json(out / "arc_per_task.json", scores["per_task"])
        report["submission"] = str(out / "submission.json")
    return {**report, "covered": int((seen == 1).sum())}


def vote_arc(
    voter: ArcVoter,
    identifier: str,
    inputs: np.ndarray,
    predictions: np.ndarray,
    confidences: list[float],
    labels: np.ndarray | None = None,
):
    """Count the predicted canvases [K, side²] of one augmented test example as votes (docs/DATA.md, ARC): crop each,
    undo the augmentation named by ``identifier`` and vote under (task, original test input). Returns (task,
    original input grid, original expected output grid or None)."""
    aug = ArcAugmentation.parse(identifier)
    inp = aug.invert(crop_canvas(inputs))
    for pred, conf in zip(predictions, confidences, strict=True):
        voter.add(aug.task, inp, aug.invert(crop_canvas(pred)), conf)
    out = None if labels is None else aug.invert(crop_canvas(np.where(labels < 0, 0, labels)))
    return aug.task, inp, out


def _arc_test_puzzles(data_dir) -> dict[str, list[tuple[np.ndarray, np.ndarray]]] | None:
    path = Path(data_dir) / "test_puzzles.json"
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
        return {
            name: [(np.asarray(t["input"]), np.asarray(t["output"])) for t in task["test"]]
            for name, task in raw.items()
        }
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise TRMError(f"{path}: not a valid test puzzle file ({e})") from None


def format_report(report: dict[str, Any]) -> str:
    """A human-readable summary: headline numbers, a per-step table with a bar plot, halting statistics."""
    lines = []
    ci = report.get("exact_accuracy_ci95", [0, 0])
    lines.append(
        f"task {report['task']}  mode {report['mode']}"
        + (f" (threshold {report['threshold']})" if report.get("threshold") is not None else "")
        + f"  max steps {report['max_steps']}  samples {report['samples']}  augment {report['augment']}"
    )
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
    lines.append(
        f"mean steps       {report['mean_steps']:.2f}  ({report['calls_per_puzzle']:.2f} network calls per "
        f"puzzle, selector {report['select']})   q_halt accuracy {report['q_halt_accuracy']:.4f}"
    )
    v = report.get("verified")
    if v:
        sound = "-" if v["soundness"] is None else f"{v['soundness']:.4f}"
        lines.append(
            f"verified solving (budget {v['budget']} calls): verified {v['verified_rate']:.4f}  abstained "
            f"{v['abstention_rate']:.4f}  wrong {v['wrong_rate']:.4f}  soundness {sound}"
        )
        lines.append(
            f"                 calls per puzzle mean {v['calls_mean']:.1f}  p50 {v['calls_p50']:g}  p95 "
            f"{v['calls_p95']:g}   verified by rung: "
            + ", ".join(f"{k} {c}" for k, c in v["by_rung"].items())
        )
    lines.append(f"speed            {report['puzzles_per_sec']:.1f} puzzles/s ({report['seconds']:.1f} s)")
    if report.get("per_step"):
        lines.append("")
        lines.append("step  exact   token   halted  exact accuracy")
        for row in report["per_step"]:
            bar = "#" * round(40 * row["exact_accuracy"])
            lines.append(
                f"{row['step']:>4}  {row['exact_accuracy']:.4f}  {row['token_accuracy']:.4f}  "
                f"{row['halted_fraction']:.3f}   |{bar}"
            )
    if report.get("threshold_sweep"):
        lines.append("")
        lines.append(
            "adaptive halting (from this run's per-step answers): threshold -> exact accuracy, mean steps"
        )
        for row in report["threshold_sweep"]:
            lines.append(f"  {row['threshold']:<5} {row['exact_accuracy']:.4f}  {row['mean_steps']:.2f}")
    if report.get("steps_histogram"):
        lines.append("")
        lines.append("steps used: " + "  ".join(f"{k}:{v}" for k, v in report["steps_histogram"].items()))
    return "\n".join(lines)


def save_report(report: dict[str, Any], out_dir: str | Path) -> list[str]:
    """Write ``report.json`` and, when pillow is installed, ``per_step.png``; returns notes for the user."""
    out = Path(out_dir)
    atomic_write_json(out / "report.json", json.loads(json.dumps(report)))
    notes = [f"wrote {out / 'report.json'}"]
    if report.get("per_step"):
        notes.append(plot_per_step(report, out / "per_step.png"))
    return notes
