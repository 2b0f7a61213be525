"""Call the subject under test so that nothing it does can crash or hang the suite.

Each call runs on a daemon thread with a time limit. An exception or a timeout becomes a
SubjectFailure with a one-line reason (a wing adds its own "malformed" checks of what came
back); the property that made the call reports it as a violation. A subject that hangs once is
not called again (its thread may still be running), and every later call says so: one Invoker
serves a subject for the whole run, whatever suite calls it, each call with its own limit.
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any, Callable


class SubjectFailure(Exception):
    """The subject raised, hung, or returned something malformed."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind  # "raised", "hung" or "malformed"
        self.message = message


class Invoker:
    """``invoker(description, fn, timeout_s) -> (fn(), seconds)`` under a time limit."""

    def __init__(self):
        self.hung_on: str | None = None  # description of the call that hung, once one has
        self.hung_after_s: float = 0.0  # the limit it ran past

    def __call__(self, description: str, fn: Callable[[], Any], timeout_s: float) -> tuple[Any, float]:
        if self.hung_on is not None:
            raise SubjectFailure(
                "hung", f"not called: it hung for over {self.hung_after_s:g} s earlier, on "
                f"{self.hung_on}")
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
            self.hung_on, self.hung_after_s = description, timeout_s
            raise SubjectFailure("hung", f"no result after {timeout_s:g} s")
        if "error" in box:
            error = box["error"]
            where = ""
            if box["trace"]:
                frame = box["trace"][-1]
                where = f" (at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})"
            raise SubjectFailure("raised", f"{type(error).__name__}: {error}{where}".strip())
        return box["result"], box["seconds"]
