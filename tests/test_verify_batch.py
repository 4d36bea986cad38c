"""``symact verify --batch`` and :func:`symact.batch.verify_batch`: many claims, one record each, in order; a bad line
or a claim over its budget is a record and the batch goes on; the same records whatever the number of workers, and
on a Dask cluster (tested when dask and distributed are installed: the optional extra symact[dask])."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from symact import batch
from symact.batch import _Done, ordered_map, verify_batch
from symact.cli import main

ROOT = Path(__file__).resolve().parents[1]

CLAIMS = [
    {"id": "q1", "lhs": "diff(sigmoid(x), x)", "rhs": "sigmoid(x)*(1 - sigmoid(x))"},
    {"id": "q2", "lhs": "(1 - exp(-x))/(1 + exp(-x))", "rhs": "tanh(x)"},
    {"id": "q3", "lhs": "x", "rhs": "x", "asume": "x>0"},  # a typo in a key
    "not json",
    {"lhs": r"\sigma(-x)", "rhs": r"1-\sigma(x)", "latex": True},  # no id: the line number is the id
    {"id": 6, "rhs": "x"},
    {"id": "q7", "lhs": "diff(elu(x), x)", "rhs": "Piecewise((1, x > 0), (elu(x) + 1, True))", "assume": ["alpha=1"]},
]
VERDICT_KEYS = ["equal", "method", "counterexample", "lhs", "rhs", "note", "readings"]  # as `symact verify --json`


def _without_seconds(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


@pytest.fixture(scope="module")
def one_job():
    return list(verify_batch(CLAIMS))


def test_one_record_per_claim_in_order_with_the_ids(one_job):
    assert [r["id"] for r in one_job] == ["q1", "q2", "q3", 4, 5, 6, "q7"]  # a bad line keeps its id
    assert [r["line"] for r in one_job] == [1, 2, 3, 4, 5, 6, 7]
    assert [r["exit"] for r in one_job] == [0, 1, 2, 2, 0, 2, 0]
    for record in one_job:
        assert list(record) == ["id", "line", "exit", "verdict", "error", "seconds"]
        assert record["seconds"] >= 0
        if record["exit"] == 2:
            assert record["verdict"] is None and record["error"]["kind"] == "InputError"
        else:
            assert list(record["verdict"]) == VERDICT_KEYS and record["error"] is None
            assert record["verdict"]["equal"] is (record["exit"] == 0)
    assert one_job[1]["verdict"]["counterexample"]["point"] == {"x": "0.001"}


def test_a_bad_line_names_the_line_and_the_fix(one_job):
    messages = {r["line"]: r["error"]["message"] for r in one_job if r["error"]}
    assert messages[3].startswith("line 3: unknown key 'asume' (did you mean 'assume'?)")
    assert messages[4].startswith("line 4: not JSON") and '{"id": "q1", "lhs":' in messages[4]
    assert messages[6].startswith('line 6: no "lhs"')
    assert all("\n" not in m for m in messages.values())


def test_two_workers_give_the_same_records(one_job):
    assert _without_seconds(verify_batch(CLAIMS, jobs=2)) == _without_seconds(one_job)


def test_a_claim_over_its_budget_is_undecided_and_the_batch_goes_on():
    claims = [CLAIMS[0], {"id": "slow", "lhs": "diff(x**x**x**x, x, 10)", "rhs": "x"}, CLAIMS[1]]
    start = time.monotonic()
    records = list(verify_batch(claims, limit=2))
    assert time.monotonic() - start < 8
    assert [r["exit"] for r in records] == [0, 2, 1]
    assert records[1]["id"] == "slow" and records[1]["error"]["kind"] == "Undecided"
    assert "no verdict within 2 s" in records[1]["error"]["message"]


def _failed(item, kind, message, seconds):
    return (kind, message)


def test_a_worker_that_dies_gives_its_item_an_error_and_the_pool_goes_on():
    # signal.raise_signal as the work: SIGCHLD is ignored (the item returns None), SIGKILL kills the worker
    items = [signal.SIGCHLD, signal.SIGKILL, _Done("read"), signal.SIGCHLD, signal.SIGKILL, signal.SIGCHLD]
    results = list(ordered_map(signal.raise_signal, items, 2, deadline=60, failed=_failed))
    assert results[0] is None and results[2] == "read" and results[3] is None and results[5] is None
    for died in (results[1], results[4]):
        assert died[0] == "WorkerError" and "died (signal 9)" in died[1]


def test_a_worker_that_does_not_answer_is_stopped_at_the_deadline():
    start = time.monotonic()
    results = list(ordered_map(time.sleep, [0, 60, 0], 2, deadline=1.5, failed=_failed))
    assert time.monotonic() - start < 15
    assert results[0] is None and results[2] is None
    assert results[1][0] == "Undecided" and "no answer within 1.5 s" in results[1][1]


def test_bad_arguments_of_the_python_api():
    with pytest.raises(batch.InputError, match="jobs must be"):
        verify_batch(CLAIMS, jobs=0)
    with pytest.raises(batch.InputError, match="defaults takes"):
        verify_batch(CLAIMS, defaults={"json": True})


def test_symact_verify_batch_from_the_package():
    import symact

    assert symact.verify_batch is verify_batch


# --------------------------------------------------------------------------------------------
# the command line


def _run(capsys, *argv):
    code = main(["verify", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def claims_file(tmp_path):
    path = tmp_path / "claims.jsonl"
    lines = [json.dumps(c) if not isinstance(c, str) else c for c in CLAIMS[:4]]
    path.write_text("\n".join([lines[0], "", *lines[1:]]) + "\n")  # a blank line is skipped
    return path


def test_cli_batch_to_stdout(capsys, claims_file):
    code, out, err = _run(capsys, "--batch", str(claims_file))
    assert code == 0 and err == ""  # exit 0 although a claim is not equal and two lines are unusable
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["id"], r["line"], r["exit"]) for r in records] == [("q1", 1, 0), ("q2", 3, 1), ("q3", 4, 2), (5, 5, 2)]


def test_cli_defaults_apply_to_lines_that_do_not_say(capsys, tmp_path):
    path = tmp_path / "claims.jsonl"
    path.write_text('{"lhs": "\\\\sigma(-x)", "rhs": "1-\\\\sigma(x)"}\n{"lhs": "x", "rhs": "x", "latex": false}\n')
    code, out, _ = _run(capsys, "--latex", "--batch", str(path))
    assert code == 0 and [json.loads(line)["exit"] for line in out.splitlines()] == [0, 0]


def test_cli_out_is_written_whole_or_not_at_all(capsys, claims_file, tmp_path, monkeypatch):
    out_file = tmp_path / "verdicts.jsonl"
    code, out, err = _run(capsys, "--batch", str(claims_file), "--out", str(out_file))
    assert code == 0 and out == "" and err == ""
    written = out_file.read_text()
    assert [json.loads(line)["id"] for line in written.splitlines()] == ["q1", "q2", "q3", 5]

    graded = []

    def fail_on_the_second(task):  # a batch that stops half way: the earlier file stays as it was
        if graded:
            raise batch.InputError("stopped")
        graded.append(task)
        return batch._failed(task, "Undecided", "-", 0.0)

    monkeypatch.setattr(batch, "_grade", fail_on_the_second)
    code, out, err = _run(capsys, "--batch", str(claims_file), "--out", str(out_file))
    assert code == 2 and err.strip() == "symact: error: stopped"
    assert out_file.read_text() == written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["claims.jsonl", "verdicts.jsonl"]  # no temporary file


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--batch", "{tmp}/missing.jsonl"], "no such file"),
        (["--batch", "{tmp}"], "is a folder, not a file"),
        (["--batch", "{claims}", "--jobs", "0"], "--jobs takes a number of worker processes from 1 to 256, not 0"),
        (["--batch", "{claims}", "x", "x"], "give no LHS or RHS with it"),
        (["--batch", "{claims}", "--jobs", "2", "--dask", "tcp://127.0.0.1:8786"], "exclude each other"),
        (["--batch", "{claims}", "--out", "{tmp}/no/such/folder.jsonl"], "does not exist"),
        (["--jobs", "2", "x", "x"], "--jobs needs --batch FILE"),
        (["--out", "{tmp}/o.jsonl", "x", "x"], "--out needs --batch FILE"),
        (["x"], "verify needs LHS and RHS"),
    ],
)
def test_cli_bad_batch_input_is_one_line_and_exit_2(argv, message, capsys, claims_file):
    argv = [a.format(tmp=claims_file.parent, claims=claims_file) for a in argv]
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_cli_dask_without_dask_says_what_to_install(capsys, claims_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails as if not installed
    code, out, err = _run(capsys, "--batch", str(claims_file), "--dask", "tcp://127.0.0.1:8786")
    assert code == 2 and out == ""
    assert err.strip() == "symact: error: " + batch.DASK_MISSING and "symact[dask]" in err


def test_cli_batch_from_stdin_with_two_workers_as_a_user_runs_it(claims_file):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run(
        [sys.executable, "-m", "symact", "verify", "--batch", "-", "--jobs", "2"],
        input=claims_file.read_text(),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0 and result.stderr == ""
    assert [json.loads(line)["exit"] for line in result.stdout.splitlines()] == [0, 1, 2, 2]


def test_the_same_record_whatever_process_grades_it():
    # workers are other processes, with another string hash: a claim's counterexample must not depend on it
    # (the sample values of z[0] and z[1] once followed the order of a set of Indexed atoms)
    claim = {"id": "ce", "lhs": r"-\log\frac{e^{z_y}}{\sum_k e^{z_k}}", "rhs": r"\sum_k e^{z_k} - z_y", "latex": True}
    records = []
    for seed in ("1", "2"):
        env = {
            **os.environ,
            "PYTHONHASHSEED": seed,
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        result = subprocess.run(
            [sys.executable, "-m", "symact", "verify", "--batch", "-"],
            input=json.dumps(claim),
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        records.append(_without_seconds([json.loads(result.stdout)]))
    assert records[0] == records[1] and records[0][0]["exit"] == 1


# --------------------------------------------------------------------------------------------
# Dask (the optional extra symact[dask]; skipped when it is not installed)


def test_dask_local_cluster_gives_the_same_records(one_job, claims_file, capsys):
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:  # the optional extra symact[dask] is not installed (as on CI)
        pytest.skip("dask and distributed are not installed: pip install 'symact[dask]'")

    options = {"n_workers": 1, "threads_per_worker": 2, "processes": True, "dashboard_address": None}
    with LocalCluster(**options) as cluster, Client(cluster) as client:  # daemonic workers: refused, with the fix
        with pytest.raises(batch.InputError, match="DASK_DISTRIBUTED__WORKER__DAEMON=False"):
            verify_batch(CLAIMS, client=client)
    with dask.config.set({"distributed.worker.daemon": False}):
        with LocalCluster(**options) as cluster, Client(cluster) as client:
            records = list(verify_batch(CLAIMS, client=client))
            code, out, err = _run(capsys, "--batch", str(claims_file), "--dask", cluster.scheduler_address)
    assert _without_seconds(records) == _without_seconds(one_job)
    assert code == 0 and err == ""
    assert [json.loads(line)["exit"] for line in out.splitlines()] == [0, 1, 2, 2]  # as test_cli_batch_to_stdout
