"""Time budgets: every proof attempt and every evaluation of a user's expression runs under one.

SymPy's ``simplify`` can run for minutes, and a hostile expression can ask for a huge integer.
:func:`run_limited` runs a callable under a wall-clock limit and raises :class:`BudgetExceeded`
when the limit passes.  In the main thread it uses a SIGALRM timer (cheap, interrupts pure-Python
work); with ``isolate=True`` or off the main thread it runs the call in a forked process that is
killed at the limit, which also stops work stuck inside a C extension.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["BudgetExceeded", "run_limited"]

T = TypeVar("T")


class BudgetExceeded(TimeoutError):
    """A computation did not finish within its time budget."""


def _can_use_alarm() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def run_limited(fn: Callable[..., T], seconds: float, *args: Any, isolate: bool = False, **kwargs: Any) -> T:
    """Return ``fn(*args, **kwargs)``, or raise :class:`BudgetExceeded` after ``seconds``.

    Exceptions raised by ``fn`` propagate unchanged (from a forked child, re-raised when they pickle).
    """
    if seconds <= 0:
        raise BudgetExceeded("no time left in the budget")
    if isolate or not _can_use_alarm():
        return _run_forked(fn, seconds, args, kwargs)
    return _run_alarm(fn, seconds, args, kwargs)


#: after the limit the alarm fires again this often until the call has ended: SymPy catches exceptions in places
#: (factor's fallbacks under simplify), and an alarm raised once inside such a handler was swallowed and the call
#: ran on for as long as it liked (a proof of gelu_tanh's derivative under load: 40 minutes)
REPEAT = 0.25


def _run_alarm(fn, seconds, args, kwargs):
    outer_remaining, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    if outer_remaining and outer_remaining < seconds:
        # An enclosing budget ends first: let its handler fire.
        return fn(*args, **kwargs)
    start = time.monotonic()
    done = False

    def on_alarm(signum, frame):
        if not done:
            raise BudgetExceeded(f"gave up after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT)
    try:
        return fn(*args, **kwargs)
    finally:
        done = True  # an alarm already on its way no longer raises, so the rest of this block runs
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_remaining:
            left = outer_remaining - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), outer_interval)


def _child(conn, fn, args, kwargs):
    try:
        result = ("ok", fn(*args, **kwargs))
    except BaseException as exc:  # sent back to the parent, which re-raises it
        result = ("error", exc, traceback.format_exc())
    try:
        conn.send(result)
    except Exception as exc:  # the result or the exception did not pickle
        conn.send(("error", RuntimeError(f"result could not be sent back: {exc}"), ""))
    finally:
        conn.close()
        os._exit(0)


def _run_forked(fn, seconds, args, kwargs):
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(send, fn, args, kwargs), daemon=True)
    process.start()
    send.close()
    try:
        if not receive.poll(seconds):
            raise BudgetExceeded(f"gave up after {seconds:g} s")
        try:
            message = receive.recv()
        except EOFError:
            raise RuntimeError("the worker process died without an answer") from None
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        receive.close()
    if message[0] == "ok":
        return message[1]
    raise message[1]
