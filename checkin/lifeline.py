"""Worker processes that die with their parent, even when the parent is killed with SIGKILL.

`process_pool` builds a ProcessPoolExecutor whose processes, first thing in the child:
- ask Linux for SIGKILL when their parent goes (`prctl(PR_SET_PDEATHSIG)`), but only when
  started from the parent's main thread: the signal follows the *thread* that started the
  child, and a pool started from a short-lived worker thread would lose its processes;
- watch their parent in a daemon thread and exit as soon as they are re-parented (any
  platform, any thread; at most `WATCH_S` late).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing.context as mpc
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
WATCH_S = 0.5


def hold_to_parent(parent_pid: int, *, deathsig: bool) -> None:
    """In a child process: make sure it ends when the process `parent_pid` ends."""
    if deathsig and sys.platform == "linux":
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                logger.warning("prctl(PR_SET_PDEATHSIG) failed: errno %s", ctypes.get_errno())
        except OSError:  # no libc symbol: the watch below still holds
            logger.warning("prctl unavailable; relying on the parent watch")
    if os.getppid() != parent_pid:  # the parent died before we got here
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), name="parent-watch", daemon=True).start()


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCH_S)
    os._exit(1)  # no cleanup: the parent that owned the work is gone


class _Held:
    """Mixin for multiprocessing.Process: remember the parent at start(), hold on in run()."""

    _lifeline: tuple[int, bool]

    def start(self) -> None:
        self._lifeline = (os.getpid(), threading.current_thread() is threading.main_thread())
        super().start()  # type: ignore[misc]

    def run(self) -> None:
        hold_to_parent(self._lifeline[0], deathsig=self._lifeline[1])
        super().run()  # type: ignore[misc]


class _SpawnProcess(_Held, mpc.SpawnProcess):
    pass


class _ForkProcess(_Held, mpc.ForkProcess):
    pass


class _SpawnContext(mpc.SpawnContext):
    Process = _SpawnProcess


class _ForkContext(mpc.ForkContext):
    Process = _ForkProcess


def process_pool(workers: int, *, fork: bool = False, **kwargs: Any) -> ProcessPoolExecutor:
    """A ProcessPoolExecutor whose workers die with this process (spawned, or forked when
    `fork`: only for single-threaded parents such as the CLI)."""
    context = _ForkContext() if fork else _SpawnContext()
    return ProcessPoolExecutor(workers, mp_context=context, **kwargs)
