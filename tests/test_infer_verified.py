"""Verified solving with escalation (issue 29): the ladder, the budget, the calls counted by the engine, and
attempts to make the solver present a wrong answer as verified (stub models that cheat in plausible ways)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from trm.data.sudoku_generate import generate
from trm.infer.engine import NumpyOps
from trm.infer.settings import DEFAULT_BUDGET, LADDER, Settings, plan
from trm.infer.solver import Solver
from trm.tasks import TaskInfo, get_task, maze
from trm.tasks import sudoku as sd

BOX = (2, 2)
N_SUP = 4
TASK = get_task(TaskInfo("sudoku", 4, BOX), 16, 6)


class Stub:
    """An engine backend without a network: every row's answer is a function of its input tokens (in the
    frame of its symmetric copy) and of its step count (carried in y). ``kind``: "oracle" (the solution),
    "swap" (the solution with two digits swapped: a complete valid grid that changes givens), "garbage"
    (digits drawn from the input), "late" (the solution only after ``late`` steps, garbage before)."""

    total_len, hidden_size, ops = 16, 2, NumpyOps()

    def __init__(self, kind: str, late: int = 0):
        self.kind, self.late, self.rows = kind, late, 0

    def init_state(self):
        return np.zeros(2, np.float32), np.zeros(2, np.float32)

    def puzzle_rows(self, pids):
        return None

    def answer(self, tokens: np.ndarray, step: int) -> np.ndarray:
        grid = sd.decode(tokens).reshape(4, 4)
        count, solution = sd.solve(grid, BOX, limit=1)
        rng = np.random.default_rng(int(tokens.sum()) * 7 + step)
        garbage = sd.encode(rng.integers(1, 5, (4, 4))).reshape(-1)
        picky = self.kind == "picky" and not ((grid.reshape(-1) > 0) == self.easy).all()
        if self.kind == "garbage" or (self.kind == "late" and step <= self.late) or picky or not count:
            return garbage
        if self.kind == "swap":
            solution = np.select([solution == 1, solution == 2], [2, 1], solution)
        return sd.encode(solution).reshape(-1)

    def step(self, y, z, inputs, rows):
        y = y + 1
        self.rows += len(inputs)
        logits = np.zeros((len(inputs), 16, 6), np.float32)
        for b, row in enumerate(np.asarray(inputs)):
            logits[b, np.arange(16), self.answer(row, int(y[b, 0, 0]))] = 10.0
        q = np.zeros(len(inputs), np.float32)
        return y, z, logits, q, q


def solver(kind: str, **kw) -> Solver:
    return Solver(Stub(kind, **kw), TASK, N_SUP)


def puzzles(count: int = 3, seed: int = 5) -> list[str]:
    return [sd.format_sudoku(p) for p in generate(count, BOX, blanks=(8, 10), seed=seed)[0]]


def is_solution(puzzle: str, answer: str) -> bool:
    return sd.is_valid_solution(puzzle, answer, BOX)


def test_the_ladder_is_declared_once_with_costs_in_calls():
    ladder = plan(Settings().validate(), N_SUP, 8)
    assert [p.rung.name for p in ladder] == [r.name for r in LADDER]
    assert [p.cost for p in ladder] == [4, 8, 64, 64, 256]  # steps x copies x trajectories
    assert ladder[0].settings == Settings().validate()  # rung 1 is the protocol asked for, as given
    # a server's caps and the task's symmetries bound every rung; rungs made equal by the caps are left out
    capped = plan(Settings().validate(), N_SUP, 1, {"samples": 1, "max_steps": 4})
    assert [p.rung.name for p in capped] == ["protocol"]
    assert (
        Settings().budget == DEFAULT_BUDGET and sum(p.cost for p in plan(Settings(), 8, 8)) <= DEFAULT_BUDGET
    )


def test_an_oracle_is_verified_at_the_first_rung_with_the_calls_the_engine_counted():
    s = solver("oracle")
    for p, r in zip(puzzles(), s.solve_many(puzzles()), strict=True):
        assert r.verified is True and r.answer and is_solution(p, r.answer)
        assert r.rung == "protocol" and r.rungs == ["protocol"] and r.calls == N_SUP
    assert s.backend.rows == 3 * N_SUP  # calls are the engine's row-steps, not an estimate


def test_escalation_is_per_puzzle_and_stops_at_the_first_verified_rung():
    s = solver(
        "late", late=N_SUP
    )  # right only after N_SUP steps: the depth rung (2 x N_SUP) is the first to verify
    ps = puzzles()
    res = s.solve_many(ps)
    for p, r in zip(ps, res, strict=True):
        assert r.verified is True and is_solution(p, r.answer)
        assert r.rungs == ["protocol", "depth"] and r.calls == N_SUP + 2 * N_SUP
    assert s.backend.rows == 3 * 3 * N_SUP
    # in one batch, a puzzle verified at rung 1 is not re-run while another climbs the whole ladder
    easy, hard = ps[0], ps[1]
    s = Solver(Stub("picky"), TASK, N_SUP)
    s.backend.easy = (
        sd.as_grid(easy, BOX).reshape(-1) > 0
    )  # the givens' pattern survives no symmetry but this
    a, b = s.solve_many([easy, hard])
    full = sum(x.cost for x in plan(Settings(), N_SUP, 8))
    assert (a.verified, a.calls, b.verified, b.calls) == (True, N_SUP, False, full)
    assert s.backend.rows == N_SUP + full


def test_no_verified_answer_is_never_presented_as_the_answer():
    for kind in ("garbage", "swap"):  # swap: complete, rule-abiding grids that change a given
        s = solver(kind)
        for p, r in zip(puzzles(), s.solve_many(puzzles()), strict=True):
            assert r.verified is False and r.answer is None and r.valid is False and r.errors
            assert r.candidate and not is_solution(p, r.candidate)
            if kind == "swap":
                assert any("was changed" in e for e in r.errors) and "." not in r.candidate
            assert r.rungs == [x.rung.name for x in plan(Settings(), N_SUP, 8)]  # the whole ladder fits
            assert r.calls == sum(x.cost for x in plan(Settings(), N_SUP, 8))
            out = r.to_json()
            assert out["answer"] is None and out["verified"] is False and out["candidate"] == r.candidate
            assert "NO VERIFIED ANSWER" in r.text()


def test_the_budget_bounds_the_calls_and_zero_turns_escalation_off():
    ladder = plan(Settings(), N_SUP, 8)
    p = puzzles(1)[0]
    for budget, rungs in (
        (0, 1),
        (ladder[0].cost + ladder[1].cost - 1, 1),
        (ladder[0].cost + ladder[1].cost, 2),
    ):
        r = solver("garbage").solve(p, budget=budget)
        assert len(r.rungs) == rungs and r.calls == sum(x.cost for x in ladder[:rungs])
        assert r.verified is False and r.answer is None
    assert solver("oracle").solve(p, budget=0).verified is True
    with pytest.raises(Exception, match="budget must be in"):
        solver("oracle").solve(p, budget=-1)


def test_any_verified_candidate_of_a_rung_is_taken_but_only_a_verified_one():
    """With 8 symmetric copies where only the identity copy is right, the vote picks a wrong answer; the verifier
    finds the right candidate among the others."""

    class IdentityOnly(Stub):
        def answer(self, tokens, step):
            self.kind = "oracle" if (sd.decode(tokens).reshape(-1) == self.first).all() else "swap"
            return super().answer(tokens, step)

    p = puzzles(1)[0]
    stub = IdentityOnly("swap")
    stub.first = sd.as_grid(p, BOX).reshape(-1)
    r = Solver(stub, TASK, N_SUP).solve(p, augment=8, budget=0)
    assert r.verified is True and is_solution(p, r.answer) and r.votes == 1


def test_tasks_without_a_verifier_are_not_escalated():
    task = get_task(TaskInfo("custom", 4), 16, 6)
    r = Solver(Stub("garbage"), task, N_SUP).solve(" ".join(["1"] * 16))
    assert r.verified is None and r.answer is not None and r.calls == N_SUP and r.rungs == []


def test_verifier_edge_cases():
    p = puzzles(1)[0]
    parsed = TASK.parse(p)
    solution = sd.solve(sd.as_grid(p, BOX), BOX)[1]
    assert TASK.verify(parsed, sd.encode(solution).reshape(-1))[0] is True
    swapped = np.select([solution == 1, solution == 2], [2, 1], solution)  # valid grid, givens changed
    ok, errors = TASK.verify(parsed, sd.encode(swapped).reshape(-1))
    assert ok is False and any("was changed" in e for e in errors)
    # maze: "verified" means a valid path AND a shortest one
    mt = get_task(TaskInfo("maze", 4), 16, maze.VOCAB_SIZE)
    mp = mt.parse("S G#\n   #\n####\n####")  # (a line of spaces alone would be a blank line, dropped)
    codes = maze.decode(mp.tokens).reshape(4, 4).copy()
    codes[1, 0:3] = maze.PATH  # down, across and up: valid, 4 moves where 2 suffice
    ok, errors = mt.verify(mp, maze.encode(codes).reshape(-1))
    assert ok is False and "shortest takes 2" in errors[0]
    codes = maze.decode(mp.tokens).reshape(4, 4).copy()
    codes[0, 1] = maze.PATH
    assert mt.verify(mp, maze.encode(codes).reshape(-1))[0] is True


def test_the_shipped_model_solves_verified_within_a_second():
    from trm.infer import load_solver

    s = load_solver("sudoku6", threads=1)
    p = sd.format_sudoku(generate(1, (2, 3), blanks=(23, 28), seed=123)[0][0])
    s.solve(p)  # warm-up
    t = time.perf_counter()
    r = s.solve(p)
    assert time.perf_counter() - t < 1.0
    assert r.verified is True and sd.is_valid_solution(p, r.answer, (2, 3)) and r.calls >= 8
    out = json.loads(json.dumps(r.to_json()))
    assert {"answer", "verified", "candidate", "calls", "rung", "rungs"} <= set(out)
