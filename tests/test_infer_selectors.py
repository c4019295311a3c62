"""Test-time selectors (halt-first, converged, q-weighted), initial-state noise, network calls, the
evaluated subset and the per-puzzle JSONL, on a scripted numpy backend and on tiny fixed-weight models."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trm.infer import Settings
from trm.infer.engine import Engine, NumpyOps
from trm.infer.selectors import Selector
from trm.infer.voting import Candidates, choose

L, D, S = 3, 2, 4


class Script:
    """A numpy backend whose rows follow their input tokens: z[:, 0, 0] counts steps and z[:, 1, 0] carries
    an identity (inputs[:, 0] at the first step). The halting logit is +8 once the step count reaches
    inputs[:, 1] (or, with ``by_identity``, while the identity is 3; else -8); the answer is inputs[:, 2:]
    padded, with token 0 counting up (capped at inputs[:, 3]), or with ``by_identity`` the identity."""

    total_len, hidden_size, ops = L, D, NumpyOps()

    def __init__(self, by_identity: bool = False):
        self.by_identity, self.calls = by_identity, 0

    def init_state(self):
        return np.zeros(D, np.float32), np.zeros(D, np.float32)

    def puzzle_rows(self, pids):
        return None

    def step(self, y, z, x, rows):
        self.calls += len(x)
        z = z.copy()
        z[:, 1, 0] = np.where(z[:, 0, 0] == 0, x[:, 0], z[:, 1, 0])
        z[:, 0, 0] += 1
        ident, count = z[:, 1, 0].round().astype(int), z[:, 0, 0]
        if self.by_identity:
            q, ans = np.where(ident == 3, 8.0, -8.0), np.repeat(ident[:, None], S, 1)
        else:
            q = np.where(count >= x[:, 1], 8.0, -8.0)
            ans = np.stack([np.minimum(count, x[:, 3]), x[:, 1], x[:, 2], x[:, 3]], 1).astype(int)
        logits = np.eye(16, dtype=np.float32)[np.clip(ans, 0, 15)]
        return y, z, logits, q, -q


def _submit(backend, x, settings, group, batch=256):
    eng = Engine(backend, 6, batch)
    job = eng.submit(
        np.asarray(x), np.zeros(len(x), np.int64), settings, np.arange(len(x)) % group, group=group
    )
    eng.run()
    return job


def test_halt_first_stops_the_group_when_its_first_row_halts_and_saves_the_calls():
    # two groups of three rows, halting at steps (4, 2, 5) and (6, 6, 3); batch 5 holds one whole group only
    x = np.array([[0, h, 0, 9] for h in (4, 2, 5, 6, 6, 3)])
    be = Script()
    job = _submit(be, x, Settings(select="halt-first", noise=0.0), group=3, batch=5)
    assert job.steps.tolist() == [2, 2, 2, 3, 3, 3] and be.calls == 15
    assert job.settled.tolist() == [False, True, False, False, False, True]
    official = _submit(Script(), x, Settings(noise=0.0), group=3, batch=5)
    assert official.steps.sum() == 36 and not official.settled.any()  # majority runs every row 6 steps
    adaptive = _submit(Script(), x, Settings(mode="adaptive", noise=0.0), group=3)
    assert adaptive.steps.tolist() == [4, 2, 5, 6, 6, 3]  # rows halt on their own, groups do not


def test_halt_first_answer_is_the_row_that_halted_and_a_group_without_one_falls_back_to_majority():
    preds = np.array([[[1, 1], [2, 2], [1, 1]], [[5, 5], [5, 5], [7, 7]]])  # [B=2, C=3, S=2]
    conf = np.array([[0.2, 0.95, 0.3], [0.1, 0.1, 0.2]])
    w = np.array([[0, 1, 0], [1 / 3, 1 / 3, 1 / 3]])
    idx, votes, mean = choose(preds, conf, "majority", w)
    assert idx.tolist() == [1, 0] and votes.tolist() == [1, 2] and mean[1] == pytest.approx(0.1)
    # an answer given by more candidates than the winner loses when those are not eligible
    assert choose(preds, conf, "majority")[0].tolist() == [0, 0]


def test_converged_stops_a_row_once_its_answer_stays_put_for_patience_steps():
    # token 0 counts up to inputs[:, 3] (2, 4, 5) and then stays; the threshold never passes (inputs[:, 1] = 99)
    x = np.array([[0, 99, 0, 2], [0, 99, 0, 4], [0, 99, 0, 5]])
    job = _submit(Script(), x, Settings(select="converged", patience=2, noise=0.0), group=1)
    assert job.steps.tolist() == [4, 6, 6] and job.settled.tolist() == [True, True, False]
    one = _submit(Script(), x, Settings(select="converged", patience=1, noise=0.0), group=1)
    assert one.steps.tolist() == [3, 5, 6] and one.settled.all()
    # a tolerance of half the tokens: one changed token of four counts as unchanged from the second step on
    loose = _submit(Script(), x, Settings(select="converged", patience=1, tolerance=0.5, noise=0.0), group=1)
    assert loose.steps.tolist() == [2, 2, 2]


def test_q_weighted_copies_the_rows_the_halting_head_prefers_within_each_group():
    # group 0: identities (1, 3, 2): only the second is favoured; group 1: (4, 4, 4) all alike (no resampling)
    x = np.array([[i, 0, 0, 0] for i in (1, 3, 2, 4, 4, 4)])
    job = _submit(Script(by_identity=True), x, Settings(select="q-weighted", noise=0.0), group=3)
    assert job.preds[:3, 0].tolist() == [3, 3, 3] and job.preds[3:, 0].tolist() == [4, 4, 4]
    assert job.steps.tolist() == [6] * 6
    plain = _submit(Script(by_identity=True), x, Settings(noise=0.0), group=3)
    assert plain.preds[:3, 0].tolist() == [1, 3, 2]
    # adaptive mode: a group stops as soon as one particle passes the threshold
    ada = _submit(Script(by_identity=True), x, Settings(select="q-weighted", mode="adaptive", noise=0.0), 3)
    assert ada.steps.tolist() == [1, 1, 1, 6, 6, 6]


def test_initial_state_noise_is_seeded_and_only_on_extra_trajectories():
    from trm.infer.engine import noise_table

    class Probe(Script):
        def step(self, y, z, x, rows):
            self.seen = (y.copy(), z.copy())
            return super().step(y, z, x, rows)

    be = Probe()
    x = np.zeros((3, 4), np.int64)
    st = Settings(init_noise=0.5, noise=0.0, seed=7, max_steps=1)
    _submit(be, x, st, group=3)
    y, z = be.seen
    assert not y[0].any() and not z[0].any() and np.abs(y[1:]).min() > 0
    np.testing.assert_allclose(y[2], 0.5 * noise_table(7, 1022, 3, (L, D))[2])
    assert not np.allclose(y[1], z[1])  # y and z get different noise


def test_candidates_report_calls_and_vote_per_symmetric_copy():
    from trm.infer import TaskInfo
    from trm.tasks import get_task

    task = get_task(TaskInfo("sudoku", 4, (2, 2)), 16, 6)
    cand = Candidates(np.full((2, 16), 2), np.zeros(2), task.symmetries(2, 0), samples=3)
    assert (cand.B, cand.A, cand.K, cand.C, len(cand.rows)) == (2, 2, 3, 6, 12)


def test_selectors_through_the_solver_report_calls():
    from trm.data.sudoku_generate import generate
    from trm.infer import torch_solver
    from trm.tasks import sudoku as sd

    from .test_infer_engine import BOX, tiny_model

    model, cfg = tiny_model(seed=1)
    solver = torch_solver(model, cfg)
    puzzles = [sd.format_sudoku(p) for p in generate(3, BOX, blanks=(6, 10), seed=4)[0]]
    calls = {}
    for name in ("majority", "confidence", "halt-first", "converged", "q-weighted"):
        opts = dict(samples=4, noise=0.3, select=name, augment=2, threshold=0.6, budget=0)
        res = solver.solve_many(puzzles, **opts)
        assert [r.to_json() for r in res] == [solver.solve(p, **opts).to_json() for p in puzzles]  # seeded
        for r in res:
            assert r.to_json()["calls"] == r.compute and r.candidates == 8 and r.steps <= 6
        calls[name] = sum(r.compute for r in res)
    assert calls["majority"] == calls["confidence"] == calls["q-weighted"] == 3 * 8 * 6
    assert calls["halt-first"] <= calls["majority"] and calls["converged"] <= calls["majority"]


def test_eval_contract_per_puzzle_lines_and_subset(tmp_path, capsys):
    from trm.cli import main
    from trm.infer.evaluate import check_subset, subset

    from .test_infer_cli import _json_line

    root = _tiny_run(tmp_path)
    pp = tmp_path / "p.jsonl"
    args = ["eval", str(root / "run"), "--data", str(root / "data"), "--quiet", "--out", str(tmp_path)]
    code = main(
        [
            *args,
            "--samples",
            "3",
            "--select",
            "halt-first",
            "--noise",
            "0.2",
            "--json",
            "--limit",
            "5",
            "--per-puzzle",
            str(pp),
        ]
    )
    res = _json_line(capsys.readouterr().out)
    assert code == 0 and res["select"] == "halt-first" and res["count"] == 5
    lines = [json.loads(t) for t in pp.read_text().splitlines()]
    assert [r["index"] for r in lines] == [0, 1, 2, 3, 4] and {r["selector"] for r in lines} == {"halt-first"}
    assert res["calls_per_puzzle"] == pytest.approx(np.mean([r["calls"] for r in lines]))
    assert res["exact_accuracy"] == pytest.approx(np.mean([r["exact"] for r in lines]))
    assert all(r["calls"] <= 3 * 6 and len(r["answer"]) == 16 for r in lines)
    assert check_subset(res["subset"]).tolist() == [0, 1, 2, 3, 4]
    assert res["subset"]["ranges"] == [[0, 5]] and res["subset"]["examples"] == 8
    bad = dict(res["subset"], count=6)
    with pytest.raises(Exception, match="subset"):
        check_subset(bad)
    assert subset("test", 9, np.array([0, 1, 4]))["ranges"] == [[0, 2], [4, 5]]
    main([*args, "--vote", "confidence", "--samples", "2", "--json"])  # the option's former name
    assert _json_line(capsys.readouterr().out)["select"] == "confidence"


def _tiny_run(root):
    from trm.checkpoint import save_model
    from trm.data.build.sudoku import write_sudoku
    from trm.data.sudoku_generate import generate

    from .test_infer_engine import tiny_model

    model, cfg = tiny_model()
    save_model(root / "run" / "checkpoints" / "best", model, cfg, {"step": 0})
    puzzles, solutions = generate(12, (2, 2), blanks=(6, 10), seed=2)
    write_sudoku(root / "data", (puzzles[:4], solutions[:4]), (puzzles[4:], solutions[4:]), (2, 2))
    return root


def test_frontier_plot_is_written(tmp_path):
    pytest.importorskip("PIL")
    from trm.infer.render import plot_frontier

    pts = [
        {"select": s, "samples": k, "max_steps": 8, "exact_accuracy": a, "calls_per_puzzle": c}
        for s, k, a, c in (("majority", 1, 0.5, 8), ("majority", 4, 0.6, 32), ("halt-first", 4, 0.55, 15))
    ]
    assert plot_frontier(pts, tmp_path / "f.png").startswith("wrote") and (tmp_path / "f.png").stat().st_size


def test_the_selector_names_everywhere_come_from_the_registry_and_the_old_vote_key_still_loads():
    import argparse
    import dataclasses

    from trm.config import Config, EvalConfig
    from trm.infer import selectors
    from trm.infer.settings import Settings, add_arguments
    from trm.utils import TRMError

    assert selectors.names() == ("confidence", "converged", "halt-first", "majority", "q-weighted")
    meta = {f.name: f.metadata for f in dataclasses.fields(Settings)}["select"]
    assert meta["choices"] == selectors.names() and all(f"{n} (" in meta["help"] for n in selectors.names())
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    (action,) = [a for a in parser._actions if a.dest == "select" and a.help != argparse.SUPPRESS]
    assert tuple(action.choices) == selectors.names()
    d = Config().to_dict()
    d["eval"].pop("select")
    d["eval"]["vote"] = "confidence"  # a config saved before "select" replaced "vote"
    cfg = Config.from_dict(d)
    assert cfg.eval.select == "confidence"
    assert Settings.from_eval(EvalConfig(select="halt-first")).select == "halt-first"
    # the config only stores the name; the registry judges it where the run is used
    with pytest.raises(TRMError, match="select must be one of"):
        Settings.from_eval(Config.from_dict({"eval": {"select": "best"}}).eval).validate()


def test_each_built_in_selector_module_registers_one_selector_named_after_it():
    import pkgutil

    from trm.infer import selectors

    modules = sorted(m.name for m in pkgutil.iter_modules(selectors.__path__) if m.name != "base")
    registered: dict[str, list[str]] = {}
    for name, sel in selectors.SELECTORS.items():
        assert isinstance(sel, selectors.Selector) and sel.name == name and sel.help
        registered.setdefault(type(sel).__module__.rsplit(".", 1)[-1], []).append(name)
    assert sorted(registered) == modules
    assert all(registered[m] == [m.replace("_", "-")] for m in modules)
    with pytest.raises(ValueError, match="already registered"):
        selectors.register(type(selectors.get("majority")))


class First(Selector):
    """A plug-in written outside trm: the first trajectory's answer (of the first symmetric copy)."""

    name = "first"
    help = "the first trajectory"

    def score(self, support, mean, conf):
        return -np.broadcast_to(np.arange(conf.shape[-1], dtype=np.float64), conf.shape)


@pytest.fixture
def first_selector():
    from trm.infer import selectors

    selectors.register(First)
    yield
    del selectors.SELECTORS["first"]


def test_a_selector_defined_outside_trm_runs_end_to_end_after_register(first_selector, tmp_path, capsys):
    from trm.cli import main
    from trm.data.sudoku_generate import generate
    from trm.infer import load_solver
    from trm.tasks import sudoku as sd

    from .test_infer_cli import _json_line

    root = _tiny_run(tmp_path)
    solver = load_solver(root / "run")
    puzzles = [sd.format_sudoku(p) for p in generate(3, (2, 2), blanks=(6, 10), seed=4)[0]]
    for p in puzzles:  # trajectory 0 is noise-free: "first" answers what one trajectory answers
        first = solver.solve(p, select="first", samples=2, noise=0.5, budget=0).to_json()
        alone = solver.solve(p, samples=1, budget=0).to_json()
        assert (first["answer"], first["candidate"]) == (
            alone["answer"],
            alone["candidate"],
        )  # the confidence up to the batch size's rounding
        assert first["confidence"] == pytest.approx(alone["confidence"], abs=1e-4)
        assert first["calls"] == 2 * alone["calls"]
    assert Settings(select="first").validate().describe(6)["select"] == "first"
    args = ["eval", str(root / "run"), "--data", str(root / "data"), "--quiet", "--json"]
    assert main([*args, "--select", "first", "--samples", "2"]) == 0  # --select offers it
    first = _json_line(capsys.readouterr().out)
    assert main([*args, "--samples", "1"]) == 0
    alone = _json_line(capsys.readouterr().out)
    assert first["select"] == "first" and first["exact_accuracy"] == alone["exact_accuracy"]
    assert first["calls_per_puzzle"] == 2 * alone["calls_per_puzzle"]


def test_the_service_and_mcp_schemas_offer_registered_selectors(first_selector):
    pytest.importorskip("pydantic")
    from trm.deploy.batcher import Limits
    from trm.deploy.mcp_server import _option_parameters
    from trm.deploy.server import request_model
    from trm.infer import selectors

    enum = request_model("sudoku", 6).model_json_schema()["properties"]["select"]["anyOf"][0]["enum"]
    assert tuple(enum) == selectors.names() and "first" in enum
    (param,) = [p for p in _option_parameters(Limits()) if p.name == "select"]
    assert "first" in repr(param.annotation)
