"""Self-describing model folders: ``save_pretrained`` / ``from_pretrained``.

A pretrained folder is a model folder (:mod:`trm.checkpoint`: ``config.json`` + ``model.safetensors``) plus a
generated ``README.md`` model card. Loading reads JSON and safetensors only: no pickle, no network.

The card states what a reader needs to trust (or distrust) the numbers: task, preset, training data and seed,
the evaluation protocol (N_sup, halting, voting, pass@k), results with their intervals, and limitations.
``card_info`` supplies what the config cannot know; every key is optional:

    data            str   training data, e.g. "6x6 Sudoku, 2000 generated puzzles, on-the-fly augmentation"
    seed            int   training seed (default: config train.seed)
    steps           int   optimizer steps trained
    results         list  [{"metric": "exact accuracy", "split": "test", "correct": 412, "total": 500}, ...]
                          or {"value": 0.82, "low": 0.78, "high": 0.85}; counts get a 95% Wilson interval
    evaluation      str   protocol description overriding the one derived from the config
    limitations     list  extra limitation sentences
    command         str   the exact command(s) that produced the model (shown as "How it was made")
    name            str   how users refer to the model in the card's usage lines (default PATH)
    datasets        list  Hub dataset ids for the card's metadata header
    notes           str   free text appended to the card

Folders follow the Hugging Face Hub layout (``config.json``, ``model.safetensors``, ``README.md`` with a YAML
metadata header: ``library_name: trm``, license, tags, metrics), so :func:`push_to_hub` uploads one as it is and
:func:`from_pretrained` also takes a Hub repo id (``owner/name``; needs the ``hub`` extra, works offline
from the Hub cache) or the name of a model shipped with trm (:mod:`trm.models`). A local path always wins.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_model, resolve_model_dir, save_model
from ..config import Config
from ..infer.metrics import wilson
from ..infer.settings import Settings
from ..model import TRM
from ..models import shipped_model
from ..tasks import task_class
from ..utils import TRMError, atomic_write_text, install_hint

CARD_FILE = "README.md"
HUB_FILES = (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE)  # what a Hub repo of a trm model holds
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


def save_pretrained(
    model: TRM,
    cfg: Config,
    path: str | os.PathLike,
    card_info: dict[str, Any] | None = None,
    state: dict[str, torch.Tensor] | None = None,
    data_info: dict[str, Any] | None = None,
) -> Path:
    """Write ``config.json``, ``model.safetensors`` and a ``README.md`` model card into ``path`` atomically.

    ``state`` overrides the weights (e.g. an EMA copy). ``card_info`` is stored in ``config.json`` under
    ``meta.card`` so the card can be regenerated from the folder alone. ``data_info`` (the training dataset's
    ``trm_task.json``, which a run's checkpoints keep as ``meta["data_info"]``) is kept the same way, so that
    ``trm serve``'s and the web export's example puzzles are made like the training ones.
    """
    card_info = dict(card_info or {})
    meta: dict[str, Any] = {"card": card_info}
    if data_info is not None:
        meta["data_info"] = dict(data_info)
    folder = save_model(path, model, cfg, meta=meta, state=state)
    n_dense = model.num_dense_parameters()
    n_table = model.puzzle_emb.weight.numel() if cfg.model.puzzle_emb_ndim > 0 else 0
    atomic_write_text(folder / CARD_FILE, model_card(cfg, card_info, n_dense, n_table))
    return folder


def from_pretrained(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
) -> tuple[TRM, Config, dict[str, Any]]:
    """Load a model in eval mode: a local folder (pretrained folder, checkpoint or run directory), else a model
    shipped with trm by name (``"sudoku6"``), else a Hugging Face Hub repo id (``"owner/name"``, at
    ``revision``). Returns ``(model, config, meta)``. Only JSON and safetensors are read, never a pickle."""
    p = Path(path)
    if not p.exists() and shipped_model(str(path)) is None:
        if not _REPO_ID.match(str(path)):
            raise TRMError(f"{p}: no such model folder, shipped model name or Hub repo id (owner/name)")
        p = hub_download(str(path), revision=revision, token=token)
    return load_model(p, device=device, dtype=dtype)


def hub_download(repo_id: str, revision: str | None = None, token: str | bool | None = None) -> Path:
    """The local folder of a Hub repo's model files (from the Hub cache when offline); a clear TRMError when
    huggingface_hub is missing or the repo cannot be had."""
    try:
        from huggingface_hub import constants, snapshot_download
    except ImportError:
        raise TRMError(
            f"{repo_id}: no such local folder; loading from the Hugging Face Hub needs huggingface_hub: "
            + install_hint("hub")
        ) from None
    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            token=token,
            allow_patterns=list(HUB_FILES),
            library_name="trm",
            library_version=__version__,
        )
    except Exception as e:  # noqa: BLE001 - offline, unknown or gated repo, network: one line naming the repo
        reason = " ".join(str(e).split())[:300] or type(e).__name__
        if constants.HF_HUB_OFFLINE:
            reason = "HF_HUB_OFFLINE is set and the repo is not in the local Hub cache"
        raise TRMError(
            f"{repo_id}: no such local folder, and the Hugging Face Hub repo could not be fetched ({reason})"
        ) from None
    return Path(folder)


def push_to_hub(
    path: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | bool | None = None,
    commit_message: str = "Upload trm model",
) -> str:
    """Upload a pretrained folder (``config.json``, ``model.safetensors``, ``README.md``; nothing else, never
    training state) to the Hub repo ``repo_id``, creating it if needed; returns the commit URL."""
    folder = resolve_model_dir(path)
    if not (folder / CARD_FILE).is_file():
        raise TRMError(f"{folder}: no {CARD_FILE} model card; write the folder with save_pretrained first")
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise TRMError(f"push_to_hub needs huggingface_hub: {install_hint('hub')}") from None
    api = HfApi(token=token, library_name="trm", library_version=__version__)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id, folder_path=folder, allow_patterns=list(HUB_FILES), commit_message=commit_message
        )
    except Exception as e:  # noqa: BLE001 - no network, no token, no permission: one line
        reason = " ".join(str(e).split())[:300] or type(e).__name__
        raise TRMError(f"{repo_id}: upload to the Hugging Face Hub failed ({reason})") from None
    return str(info.commit_url)


# ---------------------------------------------------------------------------------------------- model card
def wilson_interval(correct: int, total: int) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (the one ``trm eval`` reports)."""
    return wilson(correct, total)


def _result_row(r: dict[str, Any]) -> str:
    metric = r.get("metric", "accuracy")
    split = r.get("split", "test")
    if "correct" in r and "total" in r:
        c, t = int(r["correct"]), int(r["total"])
        lo, hi = wilson_interval(c, t)
        value = c / t if t else float("nan")
        return f"| {metric} | {split} | {value:.1%} | [{lo:.1%}, {hi:.1%}] | {c}/{t} |"
    if "value" in r:
        v = float(r["value"])
        ci = f"[{float(r['low']):.1%}, {float(r['high']):.1%}]" if "low" in r and "high" in r else "not given"
        return f"| {metric} | {split} | {v:.1%} | {ci} | {r.get('n', '')} |"
    raise TRMError(f"card_info result {r!r} needs 'correct' and 'total', or 'value'")


def _protocol(cfg: Config) -> list[str]:
    """The inference protocol of the config's eval section: the settings ``trm eval`` and ``trm solve`` of this
    model use unless told otherwise (:meth:`trm.infer.engine.Settings.from_eval`)."""
    m, st = cfg.model, Settings.from_eval(cfg.eval).validate()
    steps = st.max_steps or m.N_sup
    lines = [
        f"- Supervision steps: N_sup = {m.N_sup} in training; {steps} at evaluation"
        + (" (test-time depth larger than training's)" if steps > m.N_sup else "")
        + ".",
        f"- Recursion per step: T = {m.T} recursions of n = {m.n} latent updates "
        f"(effective depth {m.T * (m.n + 1) * m.num_layers} layers per step).",
    ]
    if st.mode == "official":
        lines.append(
            "- Halting: none at evaluation; every puzzle runs all steps and the last step's answer counts "
            "(the official protocol)."
        )
    else:
        lines.append(f"- Halting: adaptive; a puzzle stops once sigmoid(q_halt) > {st.threshold}.")
    if st.samples > 1:
        lines.append(
            f"- Sampling: {st.samples} trajectories per puzzle (latent noise {st.noise}, seed {st.seed})."
        )
    if st.augment > 1:
        lines.append(f"- Augmentation voting over {st.augment} symmetric copies (seed {st.seed}).")
    if st.samples > 1 or st.augment > 1:
        lines.append(f"- Answer chosen by the {st.select} selector over the candidates.")
    if task_class(cfg.task).per_task:
        lines.append(
            "- ARC scoring: predictions of all augmented versions are un-augmented and voted per test input; "
            "pass@k counts a task input solved if the label is among the k top-ranked answers; pass@2 is "
            "the Kaggle metric."
        )
    else:
        lines.append("- Metric: exact match of the whole grid (pass@1).")
    return lines


def _limitations(cfg: Config, extra: list[str]) -> list[str]:
    out = [
        "Trained for one puzzle family and one grid size; it cannot read other formats or sizes.",
        "Confidence is sigmoid(q_halt), the model's own estimate that its answer is right; it is a useful "
        "signal for halting but not a calibrated probability.",
    ]
    family = task_class(cfg.task)
    if family.per_task or cfg.model.num_puzzle_identifiers > 1:
        out.append(
            "Each task (and each augmented version of it) has its own learned puzzle embedding, fitted during "
            "training on that task's demonstration pairs. The model can only answer tasks whose identifiers are "
            "in its table; a new task needs its embedding trained first, so this is not a zero-shot solver."
        )
    if family.limitation:
        out.append(family.limitation)
    return out + [str(x) for x in extra]


def model_card(cfg: Config, card_info: dict[str, Any], n_dense: int, n_table: int = 0) -> str:
    """The README.md text for a pretrained folder."""
    m = cfg.model
    task = task_class(cfg.task).description or cfg.task
    seed = card_info.get("seed", cfg.train.seed)
    mixer = "MLP over positions (TRM-MLP)" if m.mixer == "mlp_t" else f"self-attention, {m.num_heads} heads"
    results = card_info.get("results") or []
    lines = [
        "---",  # the Hugging Face Hub metadata header
        "library_name: trm",
        "license: mit",
        f"tags: [tiny-recursive-model, trm, {cfg.task}, safetensors]",
        *(["metrics: [exact_match]"] if results else []),
        *([f"datasets: [{', '.join(map(str, card_info['datasets']))}]"] if card_info.get("datasets") else []),
        "---",
        "",
        f"# {cfg.name}: a Tiny Recursive Model for {cfg.task}",
        "",
        f"**Task:** {task}.",
        "",
        "## Model",
        "",
        "| field | value |",
        "|---|---|",
        f"| preset | `{cfg.name}` |",
        f"| architecture | {m.arch.upper()}, {m.num_layers} blocks, hidden {m.hidden_size}, {mixer}, "
        f"positions: {m.pos_encodings} |",
        f"| recursion | T = {m.T}, n = {m.n}, N_sup = {m.N_sup} |",
        f"| vocabulary / sequence | V = {m.vocab_size}, {m.seq_len} tokens + {m.prefix_len} prefix positions |",
        f"| dense parameters | {n_dense:,} |",
        f"| puzzle-embedding table | {n_table:,} values ({m.num_puzzle_identifiers:,} identifiers x "
        f"{m.puzzle_emb_ndim}) |"
        if n_table
        else "| puzzle-embedding table | none |",
        "",
        "## Training",
        "",
        f"- Data: {card_info.get('data', cfg.data.path or 'not recorded')}",
        f"- Seed: {seed}",
    ]
    if "steps" in card_info:
        lines.append(f"- Optimizer steps: {card_info['steps']}")
    t = cfg.train
    lines += [
        f"- Optimizer: {t.optimizer}, lr {t.lr:g}, weight decay {t.weight_decay:g}, global batch {t.global_batch_size}, "
        f"EMA {f'{t.ema_rate:g}' if t.ema else 'off'}",
        "",
        "## Evaluation protocol",
        "",
    ]
    lines += [card_info["evaluation"]] if "evaluation" in card_info else _protocol(cfg)
    lines += ["", "## Results", ""]
    if results:
        lines += ["| metric | split | value | 95% interval | n |", "|---|---|---|---|---|"]
        lines += [_result_row(r) for r in results]
        lines.append("")
        lines.append("Intervals are Wilson score intervals over puzzles where counts are given.")
    else:
        lines.append("No evaluation results were recorded with this model.")
    lines += ["", "## Limitations", ""]
    lines += [f"- {s}" for s in _limitations(cfg, list(card_info.get("limitations", [])))]
    name = card_info.get("name", "PATH")
    lines += [
        "",
        "## Usage",
        "",
        "```python",
        "from trm.deploy.pretrained import from_pretrained",
        "",
        f'model, cfg, meta = from_pretrained("{name}")',
        "```",
        "",
        "```bash",
        f"trm solve {name} PUZZLE --json        # one puzzle",
        f"trm export {name} --format onnx --out {name}-onnx",
        f"trm serve {name} --port 8000           # HTTP API and web page",
        f"trm mcp {name}                         # MCP server (stdio) for LLM agents",
        "```",
    ]
    if card_info.get("command"):
        lines += ["", "## How it was made", "", "```bash", str(card_info["command"]).strip(), "```"]
    if card_info.get("notes"):
        lines += ["", "## Notes", "", str(card_info["notes"])]
    return "\n".join(lines) + "\n"
