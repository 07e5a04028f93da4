"""Lab tooling: checkers pass solutions and explain wrong answers; student versions replace solutions."""
from __future__ import annotations

import nbformat
import pytest
import torch
import torch.nn.functional as F

from prefkit.labs import check
from prefkit.labs.student import LabFormatError, make_student, student_notebook


def dpo_ref(pc, pr, rc, rr, beta):
    return -F.logsigmoid(beta * ((pc - rc) - (pr - rr)))


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("fn, phrase", [
    (lambda pc, pr, rc, rr, b: -F.logsigmoid(-b * ((pc - rc) - (pr - rr))), "sign of beta h is flipped"),
    (lambda pc, pr, rc, rr, b: -F.logsigmoid((pc - rc) - (pr - rr)), "beta is missing"),
    (lambda pc, pr, rc, rr, b: -F.logsigmoid(b * (pc - pr)), "reference model is ignored"),
    (lambda pc, pr, rc, rr, b: dpo_ref(pc, pr, rc, rr, b).mean(), "one number for the whole batch"),
    (lambda pc, pr, rc, rr, b: dpo_ref(pc, pr, rc, rr, b).detach(), "no gradient"),
    (stub, "not implemented yet"),
])
def test_dpo_checker_explains_wrong_answers(fn, phrase, capsys):
    v = check.lab4.dpo_loss(fn)
    assert not v and phrase in v.message
    assert "[FAIL] lab4.dpo_loss" in capsys.readouterr().out


def test_dpo_checker_passes_the_solution():
    assert check.lab4.dpo_loss(dpo_ref, verbose=False)


def _logps(logits, ids, mask, average=False, shift=True):
    if shift:
        lp = torch.gather(F.log_softmax(logits[:, :-1], -1), 2, ids[:, 1:, None]).squeeze(-1)
        m = mask[:, 1:]
    else:
        lp = torch.gather(F.log_softmax(logits, -1), 2, ids[..., None]).squeeze(-1)
        m = mask
    return (lp * m).sum(-1) / (m.sum(-1) if average else 1)


def test_response_logps_checker():
    assert check.lab4.response_logps(_logps, verbose=False)
    assert "averaged where sums are asked" in check.lab4.response_logps(
        lambda *a: _logps(*a, average=True), verbose=False).message
    assert "not shifted" in check.lab4.response_logps(lambda *a: _logps(*a, shift=False), verbose=False).message
    assert not check.lab4.response_logps(stub, verbose=False)


def test_noise_checkers():
    def cdpo(cw, cl, beta, eps):
        h = cw - cl
        return -(1 - eps) * F.logsigmoid(beta * h) - eps * F.logsigmoid(-beta * h)

    def rdpo(cw, cl, beta, eps):
        h = cw - cl
        return (-(1 - eps) * F.logsigmoid(beta * h) + eps * F.logsigmoid(-beta * h)) / (1 - 2 * eps)

    assert check.lab5.cdpo_loss(cdpo, verbose=False) and check.lab5.rdpo_loss(rdpo, verbose=False)
    assert "this is cDPO" in check.lab5.rdpo_loss(cdpo, verbose=False).message
    assert "normalization is missing" in check.lab5.rdpo_loss(
        lambda cw, cl, b, e: rdpo(cw, cl, b, e) * (1 - 2 * e), verbose=False).message
    assert "plain DPO" in check.lab5.cdpo_loss(lambda cw, cl, b, e: -F.logsigmoid(b * (cw - cl)), verbose=False).message
    assert not check.lab5.cdpo_loss(stub, verbose=False)


def _solution_nb():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## Exercise 4.1 (★★ core): the DPO loss"),
        nbformat.v4.new_code_cell("def dpo_loss(h, beta):\n    ### BEGIN SOLUTION\n    ### HINT: start from h\n"
                                  "    return -torch.nn.functional.logsigmoid(beta * h)\n    ### END SOLUTION\n"
                                  "print('defined')"),
        nbformat.v4.new_markdown_cell("Why? <!-- BEGIN SOLUTION -->Because the margin grows.<!-- END SOLUTION -->"),
    ]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="defined\n")]
    nb.cells[1].execution_count = 3
    return nb


def test_student_version_replaces_solutions_with_stubs_and_hints(tmp_path):
    student, n = student_notebook(_solution_nb())
    assert n == 2
    code = student.cells[1].source
    assert "logsigmoid" not in code and "BEGIN SOLUTION" not in code
    assert '    # YOUR CODE HERE (hint: start from h)\n    raise NotImplementedError("Exercise 4.1 is yours to write")' in code
    assert code.endswith("print('defined')") and student.cells[1].outputs == [] and student.cells[1].execution_count is None
    assert student.cells[2].source == "Why? *Your answer here.*"
    ns = {}
    exec(code.replace("print('defined')", ""), ns)
    with pytest.raises(NotImplementedError, match="Exercise 4.1"):
        ns["dpo_loss"](1.0, 0.1)
    nbformat.write(_solution_nb(), tmp_path / "lab4.ipynb")
    first = make_student(tmp_path)[0].read_bytes()
    assert make_student(tmp_path)[0].read_bytes() == first  # deterministic


def test_unpaired_markers_are_reported_with_their_place():
    nb = _solution_nb()
    nb.cells[1].source = "x = 1\n### BEGIN SOLUTION\ny = 2"
    with pytest.raises(LabFormatError, match="cell 2, line 2: BEGIN SOLUTION is never closed"):
        student_notebook(nb, "lab.ipynb")
