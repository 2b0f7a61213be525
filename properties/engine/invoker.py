"""Call the subject under test so that nothing it does can crash or hang the suite.

Each call runs under a time limit, in one of two places:

- in this process, on a daemon thread (the default for a subject that is trusted not to kill
  its process: a built-in kernel). An exception or a timeout becomes a SubjectFailure; a crash
  of the subject ends the run.
- in a worker process (``isolate``; isolation.py), where a subject that kills its process (a
  segfault, an abort, the out-of-memory killer, ``os._exit``) gives a SubjectFailure of kind
  "crashed" naming the signal, and the next call runs in a fresh worker.

Either way the failure is one line (a wing adds its own "malformed" checks of what came back),
and the property that made the call reports it as a violation. A subject that hangs once is not
called again (in-process its thread may still be running; isolated, its worker is killed, but a
subject that hung once would cost the full time limit on each later call), and every later call
says so: one Invoker serves a subject for the whole run, whatever suite calls it, each call
with its own limit.
"""

from __future__ import annotations

import threading
import time
import traceback
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from attnspec.properties.engine.isolation import (Died, Isolation, Raised, Returned, TimedOut,
                                                  Unsendable)


class SubjectFailure(Exception):
    """The subject raised, hung, crashed, or returned something malformed."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind  # "raised", "hung", "crashed" or "malformed"
        self.message = message


def raised(type_name: str, message: str, where: tuple[str, int] | None) -> SubjectFailure:
    """The one line for a subject that raised: its exception and the innermost frame."""
    at = f" (at {where[0]}:{where[1]})" if where else ""
    return SubjectFailure("raised", f"{type_name}: {message}{at}".strip())


class Invoker:
    """``invoker(description, fn, timeout_s) -> (fn(), seconds)`` under a time limit."""

    def __init__(self):
        self.hung_on: str | None = None  # description of the call that hung, once one has
        self.hung_after_s: float = 0.0  # the limit it ran past
        self.isolation: Isolation | None = None  # None: calls run in this process
        self._watched: tuple[Sequence[Any], Callable[[Any, Any], None]] | None = None

    def isolate(self, isolation: Isolation | None) -> None:
        """Run every later call in ``isolation``'s worker process, or in this one (None)."""
        if self.isolation is not None and self.isolation is not isolation:
            self.isolation.close()
        self.isolation = isolation

    @contextmanager
    def writing_back(self, objects: Sequence[Any], restore: Callable[[Any, Any], None]
                     ) -> Iterator[None]:
        """Within the block, calls that run in a worker copy the state ``objects`` have there
        after the call back into them (``restore(original, after)``), so that a subject that
        writes to its arguments is seen to, as it is in-process, where the call has them."""
        previous, self._watched = self._watched, (tuple(objects), restore)
        try:
            yield
        finally:
            self._watched = previous

    def __call__(self, description: str, fn: Callable[[], Any], timeout_s: float) -> tuple[Any, float]:
        if self.hung_on is not None:
            raise SubjectFailure(
                "hung", f"not called: it hung for over {self.hung_after_s:g} s earlier, on "
                f"{self.hung_on}")
        if self.isolation is not None:
            return self._in_worker(description, fn, timeout_s)
        return self._in_thread(description, fn, timeout_s)

    def _hung(self, description: str, timeout_s: float) -> SubjectFailure:
        self.hung_on, self.hung_after_s = description, timeout_s
        return SubjectFailure("hung", f"no result after {timeout_s:g} s")

    def _in_thread(self, description: str, fn: Callable[[], Any], timeout_s: float):
        box: dict = {}

        def target():
            start = time.perf_counter()
            try:
                box["result"] = fn()
            except BaseException as error:  # noqa: BLE001 - the subject's failure is the finding
                box["error"] = error
                box["trace"] = traceback.extract_tb(error.__traceback__)
            box["seconds"] = time.perf_counter() - start

        thread = threading.Thread(target=target, daemon=True, name="attnspec-subject-call")
        thread.start()
        thread.join(timeout_s)
        if thread.is_alive():
            raise self._hung(description, timeout_s)
        if "error" in box:
            error, trace = box["error"], box["trace"]
            where = (trace[-1].filename.rsplit("/", 1)[-1], trace[-1].lineno) if trace else None
            raise raised(type(error).__name__, str(error), where)
        return box["result"], box["seconds"]

    def _in_worker(self, description: str, fn: Callable[[], Any], timeout_s: float):
        watched, restore = self._watched or ((), None)
        outcome = self.isolation.call(fn, timeout_s, watched, restore)
        if isinstance(outcome, Returned):
            return outcome.value, outcome.seconds
        if isinstance(outcome, TimedOut):
            raise self._hung(description, timeout_s)
        if isinstance(outcome, Died):
            raise SubjectFailure("crashed", f"the kernel's process {outcome.how}")
        if isinstance(outcome, Unsendable):
            raise SubjectFailure("malformed", f"returned {outcome.what}, which cannot leave the "
                                              f"kernel's process")
        assert isinstance(outcome, Raised)
        failure = raised(outcome.type_name, outcome.message, outcome.where)
        if outcome.retired is not None:
            failure = SubjectFailure("raised", f"{failure.message}; after it the kernel's process "
                                               f"could not run anything ({outcome.retired}) and "
                                               f"was replaced")
        raise failure
