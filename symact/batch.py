"""Grading many claims: ``symact verify --batch FILE`` and :func:`verify_batch`.

The input is JSON Lines, one claim a line, with the options of ``symact verify`` as keys::

    {"id": "q1", "lhs": "\\\\sigma(-x)", "rhs": "1 - \\\\sigma(x)", "latex": true}
    {"id": "q2", "lhs": "diff(elu(x), x)", "rhs": "elu(x) + alpha", "assume": ["x<0"], "var": "x"}

``lhs`` and ``rhs`` are required; ``id`` (a string or an integer, default the line number), ``latex``
(true/false), ``var`` and ``assume`` (a string or a list of strings) are optional.  Blank lines are skipped.
The output is one JSON record per claim, in input order::

    {"id": "q1", "line": 1, "exit": 0, "verdict": {...}, "error": null, "seconds": 0.41}

``verdict`` is what ``symact verify --json`` prints for the claim; ``exit`` is the exit code the single
command would give it (0 equal, 1 not equal, 2 unusable or undecided); when it is 2, ``verdict`` is null and
``error`` is ``{"kind": ..., "message": ...}``: ``ParseError``, ``InputError`` (a line that is not a JSON
object, an unknown key, a missing side: the message names the line and the fix), ``Undecided`` (no verdict
within the time limit) or ``WorkerError`` (the process grading the claim died).  A bad line never stops the
batch.

Each claim is graded by :func:`symact.verify.verify_command`, as ``symact verify`` grades one: parsing and proof in a
forked process that is killed at :data:`symact.verify.LIMIT` seconds, under a memory cap.  The batch adds no
second budget: with ``jobs > 1`` the claims are spread over worker processes (the ``spawn`` context), each
of which calls the same function.  A worker that dies gives its claim a ``WorkerError`` record and is
replaced; a worker that has not answered :data:`GRACE` seconds after the claim's limit (a backstop: the
claim's own limit ends it first) is killed likewise.  With ``client=`` (a ``distributed.Client``) the claims
are graded on a Dask cluster instead.
"""

from __future__ import annotations

import difflib
import json
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from multiprocessing.connection import wait

from .errors import InputError, SymactError

__all__ = ["KEYS", "verify_batch", "verify_lines"]

#: the keys a claim may have: the options of ``symact verify``, and an id
KEYS = ("id", "lhs", "rhs", "latex", "var", "assume")
EXAMPLE = '{"id": "q1", "lhs": "diff(sigmoid(x), x)", "rhs": "sigmoid(x)*(1 - sigmoid(x))"}'
#: seconds past a claim's limit after which a silent worker is killed (covers a worker's start-up and the
#: SymPy-or-LaTeX hint of a parse error, which has its own limit of 8 s)
GRACE = 40.0
#: the most workers --jobs starts
MAX_JOBS = 256
#: how many claims may be graded or waiting to be written, per worker, ahead of the first unwritten one
WINDOW = 4

DASK_MISSING = "grading on a Dask cluster needs dask and distributed: pip install 'symact[dask]'"
DAEMONIC = (
    "the Dask workers are daemonic processes, which cannot start the process each claim is graded in: "
    "start them with DASK_DISTRIBUTED__WORKER__DAEMON=False, or dask.config.set({'distributed.worker.daemon': "
    "False}) before creating a LocalCluster"
)


class _Done:
    """A claim whose record is known without grading it (a line that could not be read)."""

    __slots__ = ("record",)

    def __init__(self, record: dict):
        self.record = record


# --------------------------------------------------------------------------------------------
# reading claims


def read_lines(lines: Iterable[bytes | str]) -> Iterator[tuple[int, str | _Done]]:
    """``(line number, text)`` for each line that is not blank; a line that is not UTF-8 comes as a finished
    error record."""
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                message = f"line {number}: not UTF-8 text (byte {exc.start + 1}); save the file as UTF-8"
                yield number, _Done(_record(number, number, 2, None, "InputError", message, 0.0))
                continue
        text = raw.strip()
        if text:
            yield number, text


def _kind(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}.get(
        type(value), "an object"
    )


class _LineError(InputError):
    """A claim that cannot be graded as written; ``ident`` is its id where it has a usable one."""

    def __init__(self, message: str, ident):
        super().__init__(message)
        self.ident = ident


def _claim(number: int, item, defaults: Mapping) -> tuple[object, dict]:
    """The id and the keyword arguments of one claim; :class:`_LineError` naming the line and the fix."""
    at = f"line {number}:"
    if isinstance(item, str):
        try:
            item = json.loads(item)
        except json.JSONDecodeError as exc:
            raise _LineError(
                f"{at} not JSON ({exc.msg}, column {exc.colno}); write one object a line: {EXAMPLE}", number
            ) from None
        except RecursionError:
            message = f"{at} the JSON is nested too deeply; write one flat object a line: {EXAMPLE}"
            raise _LineError(message, number) from None
    if not isinstance(item, Mapping):
        raise _LineError(f"{at} a claim is a JSON object, not {_kind(item)}: {EXAMPLE}", number)
    ident = item.get("id")
    if ident is None:
        ident = number
    elif isinstance(ident, bool) or not isinstance(ident, (str, int)):
        raise _LineError(f'{at} "id" must be a string or an integer, not {_kind(ident)}', number)
    try:
        return ident, _options(at, item, defaults)
    except InputError as exc:
        raise _LineError(str(exc), ident) from None


def _options(at: str, item: Mapping, defaults: Mapping) -> dict:
    for key in item:
        if key not in KEYS:
            close = difflib.get_close_matches(str(key), KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"{at} unknown key {str(key)!r}{hint}; the keys are {', '.join(KEYS)}")
    for side in ("lhs", "rhs"):
        if side not in item:
            raise InputError(f'{at} no "{side}": every claim has "lhs" and "rhs", e.g. {EXAMPLE}')
        if not isinstance(item[side], str):
            raise InputError(f'{at} "{side}" must be a string (a formula), not {_kind(item[side])}')
    options = {**defaults, **{k: v for k, v in item.items() if k in ("latex", "var", "assume")}}
    latex = options.get("latex", False)
    if not isinstance(latex, bool):
        raise InputError(f'{at} "latex" must be true or false, not {_kind(latex)}')
    var = options.get("var")
    if var is not None and not isinstance(var, str):
        raise InputError(f'{at} "var" must be a string such as "x", not {_kind(var)}')
    assume = options.get("assume", ())
    if isinstance(assume, str):
        assume = [assume]
    if not isinstance(assume, (list, tuple)) or not all(isinstance(a, str) for a in assume):
        raise InputError(f'{at} "assume" must be a string or a list of strings, e.g. ["alpha>0", "x<0"]')
    return {"lhs": item["lhs"], "rhs": item["rhs"], "latex": latex, "var": var, "assume": tuple(assume)}


def _tasks(entries: Iterable[tuple[int, object]], defaults: Mapping, limit: float | None):
    """A task ``(id, line, claim, limit)`` for each claim, or a :class:`_Done` record for a line that is unusable."""
    for number, item in entries:
        if isinstance(item, _Done):
            yield item
            continue
        try:
            ident, claim = _claim(number, item, defaults)
        except _LineError as exc:
            yield _Done(_record(exc.ident, number, 2, None, "InputError", str(exc), 0.0))
            continue
        yield (ident, number, claim, limit)


# --------------------------------------------------------------------------------------------
# grading one claim


def _record(ident, line, code, verdict, kind, message, seconds) -> dict:
    error = None if kind is None else {"kind": kind, "message": message}
    return {"id": ident, "line": line, "exit": code, "verdict": verdict, "error": error, "seconds": round(seconds, 3)}


def _grade(task) -> dict:
    """One claim's record: the verdict of ``symact verify`` (the same function, the same limit), or its error."""
    from .verify import verify_command

    ident, line, claim, limit = task
    start = time.monotonic()
    try:
        verdict = verify_command(**claim, limit=limit, fix='set "latex": false')
    except SymactError as exc:
        return _record(ident, line, 2, None, type(exc).__name__, str(exc), time.monotonic() - start)
    except Exception as exc:  # verify turns its own failures into Undecided: this is a failure around it
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        message = f"the claim could not be graded ({type(exc).__name__}: {first})"
        return _record(ident, line, 2, None, "WorkerError", message, time.monotonic() - start)
    return _record(ident, line, 0 if verdict.equal else 1, verdict.to_json(), None, None, time.monotonic() - start)


def _failed(task, kind: str, message: str, seconds: float) -> dict:
    ident, line, _, _ = task
    return _record(ident, line, 2, None, kind, message, seconds)


def _limit(limit: float | None) -> float:
    from .verify import LIMIT

    return LIMIT if limit is None else float(limit)


# --------------------------------------------------------------------------------------------
# worker processes


def _serve(conn, fn) -> None:
    """A worker: answer ``(index, item)`` with ``(index, fn(item))`` until told to stop (None)."""
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            if message is None:
                return
            index, item = message
            try:
                result = ("ok", fn(item))
            except Exception as exc:
                result = ("error", f"{type(exc).__name__}: {exc}")
            conn.send((index, result))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the parent reports it, once
        pass


class _Worker:
    def __init__(self, ctx, fn):
        self.conn, child = ctx.Pipe()
        # not a daemon: a daemonic process may not start the forked process each claim is graded in
        self.process = ctx.Process(target=_serve, args=(child, fn), name="symact-verify-worker")
        self.process.start()
        child.close()

    def stop(self, wait_s: float = 1.0) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(wait_s)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()


def ordered_map(
    fn: Callable,
    items: Iterable,
    jobs: int,
    *,
    deadline: float,
    failed: Callable[[object, str, str, float], object],
) -> Iterator:
    """``fn(item)`` for each item, in order, computed by up to ``jobs`` worker processes (spawned as needed).

    An item that is a :class:`_Done` is its own result.  When a worker dies, or has not answered ``deadline``
    seconds after it got its item, the result is ``failed(item, kind, message, seconds)`` and a new worker
    takes the next item.  ``fn`` must be a module-level function (it is sent to the workers by name).
    """
    ctx = multiprocessing.get_context("spawn")
    items = iter(items)
    idle: list[_Worker] = []
    busy: dict[_Worker, tuple[int, object, float]] = {}
    done: dict[int, object] = {}
    submitted = written = 0
    exhausted = False
    try:
        while True:
            while not exhausted and len(busy) < jobs and submitted - written < WINDOW * jobs:
                try:
                    item = next(items)
                except StopIteration:
                    exhausted = True
                    break
                if isinstance(item, _Done):
                    done[submitted] = item.record
                else:
                    worker = idle.pop() if idle else _Worker(ctx, fn)
                    worker.conn.send((submitted, item))
                    busy[worker] = (submitted, item, time.monotonic())
                submitted += 1
            while written in done:
                yield done.pop(written)
                written += 1
            if not busy:
                if exhausted:
                    return
                continue
            now = time.monotonic()
            timeout = max(0.0, min(started + deadline - now for _, _, started in busy.values()))
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout)
            now = time.monotonic()
            for worker in list(busy):
                index, item, started = busy[worker]
                answer = None
                if worker.conn in ready or worker.process.sentinel in ready:
                    try:
                        if worker.conn.poll():
                            answer = worker.conn.recv()
                    except (EOFError, OSError):
                        answer = None
                    if answer is None:  # the pipe is closed with nothing in it: the worker died
                        worker.process.join(1.0)  # reaped, so that its exit code is known
                        code = worker.process.exitcode
                        worker.kill()
                        del busy[worker]
                        how = (
                            "cause unknown" if code is None else f"exit code {code}" if code >= 0 else f"signal {-code}"
                        )
                        message = f"the worker process grading this claim died ({how}); the batch went on"
                        done[index] = failed(item, "WorkerError", message, now - started)
                        continue
                    del busy[worker]
                    idle.append(worker)
                    status, value = answer[1]
                    if status == "ok":
                        done[index] = value
                    else:
                        done[index] = failed(
                            item, "WorkerError", f"the claim could not be graded ({value})", now - started
                        )
                elif now - started >= deadline:
                    worker.kill()
                    del busy[worker]
                    message = f"no answer within {deadline:g} s; the worker was stopped and the batch went on"
                    done[index] = failed(item, "Undecided", message, now - started)
    finally:
        for worker in busy:
            worker.kill()
        for worker in idle:
            worker.stop()


# --------------------------------------------------------------------------------------------
# Dask


def _grade_on_dask(task) -> dict:
    if multiprocessing.current_process().daemon:
        return _failed(task, "WorkerError", DAEMONIC, 0.0)
    return _grade(task)


def _daemonic() -> bool:
    return bool(multiprocessing.current_process().daemon)


def _check_client(client) -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise InputError(DASK_MISSING) from None
    if any(client.run(_daemonic).values()):
        raise InputError(DAEMONIC)


def _on_dask(client, tasks: Iterable) -> Iterator[dict]:
    """Each task's record, in order, from ``client``'s cluster; a failed task (a worker that died on it more
    often than Dask retries) gives a ``WorkerError`` record."""
    threads = sum(client.nthreads().values()) or 1
    queue: deque = deque()

    def collect(entry) -> dict:
        if isinstance(entry, _Done):
            return entry.record
        future, task, submitted = entry
        try:
            return future.result()
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            message = f"the Dask task grading this claim failed ({type(exc).__name__}: {first}); the batch went on"
            return _failed(task, "WorkerError", message, time.monotonic() - submitted)

    try:
        for task in tasks:
            if isinstance(task, _Done):
                queue.append(task)
            else:
                queue.append((client.submit(_grade_on_dask, task, pure=False), task, time.monotonic()))
            while len(queue) > WINDOW * threads:
                yield collect(queue.popleft())
        while queue:
            yield collect(queue.popleft())
    finally:
        pending = [entry[0] for entry in queue if not isinstance(entry, _Done)]
        if pending:
            client.cancel(pending)


# --------------------------------------------------------------------------------------------


def verify_batch(
    claims: Iterable[Mapping | str],
    *,
    jobs: int = 1,
    client=None,
    limit: float | None = None,
    defaults: Mapping | None = None,
) -> Iterator[dict]:
    """Grade each claim as :func:`symact.verify.verify` does; yield one record per claim, in order.

    A claim is a mapping (or its JSON text) with the keys :data:`KEYS`: ``lhs`` and ``rhs`` required,
    ``id``, ``latex``, ``var`` and ``assume`` optional; ``defaults`` gives ``latex``, ``var`` or ``assume`` to
    every claim that does not set them.  ``line`` in a record is the claim's 1-based position.  ``jobs``
    worker processes grade the claims (1: in this process, each claim in its own forked process as
    ``verify`` does); ``client``, a ``distributed.Client``, grades them on its Dask cluster instead.  ``limit``
    is the seconds per claim (default :data:`symact.verify.LIMIT`, the single command's).

    >>> [r["exit"] for r in verify_batch([{"lhs": "tanh(x)", "rhs": "2*sigmoid(2*x) - 1"}, {"lhs": "x"}])]
    [0, 2]

    Raises :class:`~symact.errors.InputError` for a bad ``jobs``, for ``jobs`` with ``client``, and for a
    Dask cluster whose workers cannot grade claims; a bad claim is a record, never an exception.
    """
    return _run(enumerate(claims, start=1), jobs=jobs, client=client, limit=limit, defaults=defaults)


def verify_lines(lines: Iterable[bytes | str], **options) -> Iterator[dict]:
    """:func:`verify_batch` over the lines of a JSON Lines file (bytes or text, read lazily): blank lines are
    skipped, and ``line`` in a record is the claim's line number in the file."""
    return _run(read_lines(lines), **options)


def _run(entries, *, jobs: int = 1, client=None, limit=None, defaults=None) -> Iterator[dict]:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_JOBS:
        raise InputError(f"jobs must be a whole number from 1 to {MAX_JOBS}, not {jobs!r}")
    if client is not None and jobs != 1:
        raise InputError("jobs and a Dask client exclude each other: the cluster's workers grade the claims")
    for key in defaults or {}:
        if key not in ("latex", "var", "assume"):
            raise InputError(f"defaults takes latex, var and assume, not {key!r}")
    tasks = _tasks(entries, defaults or {}, _limit(limit))
    if client is not None:
        _check_client(client)
        return _on_dask(client, tasks)
    if jobs == 1:
        return (task.record if isinstance(task, _Done) else _grade(task) for task in tasks)
    return ordered_map(_grade, tasks, jobs, deadline=_limit(limit) + GRACE, failed=_failed)
