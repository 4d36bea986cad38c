"""Time budgets: every proof attempt and every evaluation of a user's expression runs under one.

SymPy's ``simplify`` can run for minutes, and a hostile expression can ask for a huge integer.
:func:`run_limited` runs a callable under a limit and raises :class:`BudgetExceeded` when the limit
passes.  In the main thread the limit is on the processor time this process spends (an ITIMER_PROF
timer: cheap, interrupts pure-Python work), so that what is proved, parsed and generated does not
depend on how busy the machine is: under wall-clock limits a loaded machine gave up on proofs and
parses that an idle one finished (a three-term LaTeX fraction failed its 3 s on a busy CI machine).
A wall-clock limit of :data:`WALL_FACTOR` times as long stays behind it, for a call that waits
instead of computing.  With ``isolate=True`` or off the main thread the call runs in a forked
process that is killed when the wall-clock limit passes, which also stops work stuck inside a C
extension.
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


#: the wall-clock limit behind each processor-time limit, as a multiple of it (a call that sleeps or waits on
#: a lock spends no processor time)
WALL_FACTOR = 10.0

#: (timer, its signal, its clock): the processor-time limit, then the wall-clock one behind it
_TIMERS = (
    (signal.ITIMER_PROF, signal.SIGPROF, time.process_time),
    (signal.ITIMER_REAL, signal.SIGALRM, time.monotonic),
)


def _run_alarm(fn, seconds, args, kwargs):
    # A timer whose enclosing budget ends first is left to that budget's handler.
    armed = []
    for (timer, signum, clock), limit in zip(_TIMERS, (seconds, seconds * WALL_FACTOR)):
        remaining, interval = signal.getitimer(timer)
        if not remaining or remaining >= limit:
            armed.append((timer, signum, clock, limit, remaining, interval))
    if not armed:
        return fn(*args, **kwargs)
    done = False

    def on_alarm(signum, frame):
        if not done:
            raise BudgetExceeded(f"gave up after {seconds:g} s")

    restore = []
    for timer, signum, clock, limit, remaining, interval in armed:
        restore.append((timer, signum, clock, signal.signal(signum, on_alarm), remaining, interval, clock()))
        signal.setitimer(timer, limit, REPEAT)
    try:
        return fn(*args, **kwargs)
    finally:
        done = True  # an alarm already on its way no longer raises, so the rest of this block runs
        for timer, signum, clock, handler, remaining, interval, start in restore:
            signal.setitimer(timer, 0)
            signal.signal(signum, handler)
            if remaining:
                signal.setitimer(timer, max(remaining - (clock() - start), 1e-3), interval)


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
