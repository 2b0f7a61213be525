"""Run the subject's calls in a child process, so that a subject that kills its process is a
verdict and not the end of the run.

An Isolation owns one persistent worker process at a time. Each call is shipped to it (the
zero-argument callable the wing built, with everything it captured), run there, and what it
returned comes back; a worker that dies during a call (a segfault, an abort, the out-of-memory
killer, ``os._exit``) is reported as Died with its signal or exit status, and the next call
starts a fresh worker. The caller (invoker.py) turns each outcome into its one-line verdict.

Why a worker, and why from a fork server. A forked copy of the checking process inherits its
OpenMP thread pool in a state the child cannot use (a torch matmul in such a child was measured
to deadlock) and cannot use CUDA once the parent has initialised it; a spawned interpreter is
clean but costs seconds to start, too slow to replace after each crash while a crash is being
shrunk. multiprocessing's fork server is both: a clean interpreter, started once, that imports
the ``preload`` modules and forks each worker from that state (tens of milliseconds), and whose
workers initialise CUDA themselves.

How a call travels. It is pickled, over a socket pair, with three additions to the standard
pickle:

- stand-ins: objects the worker builds for itself (the kernel under test, which may hold what
  no pickle can carry, such as a compiled function or a backend enum) travel as a token; at its
  start the worker calls ``rebuild`` (``"module:function"``, with ``rebuild_args``), which
  returns ``{token: object}``; a token it could not rebuild travels by value instead;
- functions and classes travel by module and qualified name, the module found in the worker by
  name or else from the file it was loaded from here (a kernel file, a test module); functions
  that no name finds (closures, lambdas, functions of ``__main__``) travel by value: their
  code, defaults and captured values;
- ``reducers`` (type -> reduce function, from the wing) say how its own types travel; large
  arrays they produce go out of band (pickle protocol 5), written to the socket straight from
  their memory and read straight into the memory the rebuilt object keeps.

Calls that must show what they did to their arguments (a property that the subject leaves its
inputs unchanged) name them in ``watched``; they travel in the same pickle as the call, so in
the worker they are the objects the call captured, and their state after the call comes back to
be copied into the originals by the caller's ``restore``. After a call that raised, the worker
runs ``probe`` (``"module:function"``); if the probe raises, the subject left the process
unusable (a sticky device error), and the worker retires after its reply.
"""

from __future__ import annotations

import builtins
import copyreg
import importlib
import importlib.util
import io
import marshal
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import socket
import struct
import sys
import time
import traceback
import types
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Sequence

START_TIMEOUT_S = 300.0  # a fresh fork server imports the preload modules first
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_LENGTH = struct.Struct("!Q")  # the length that precedes each message


# ------------------------------------------------------------------ the outcomes of a call
@dataclass(frozen=True)
class Returned:
    """The call returned ``value``."""

    value: Any
    seconds: float  # the call itself, timed in the worker


@dataclass(frozen=True)
class Raised:
    """The call raised; told as the in-process invoker tells it."""

    type_name: str
    message: str
    where: tuple[str, int] | None  # (file name, line) of the innermost frame, as in-process
    retired: str | None  # why the worker was replaced after this call (its probe failed)


@dataclass(frozen=True)
class Died:
    """The worker died during the call."""

    how: str  # "died of signal 11 (SIGSEGV)", "exited with status 3", ...


@dataclass(frozen=True)
class TimedOut:
    """No reply within the time limit; the worker was killed."""


@dataclass(frozen=True)
class Unsendable:
    """The call returned something that cannot be pickled back (or read here)."""

    what: str  # the call returned something that cannot leave the worker


def death(exitcode: int | None) -> str:
    """How a process ended, in words: the signal (by number and name) or the exit status."""
    if exitcode is None:
        return "closed its connection and did not exit (it was killed)"
    if exitcode < 0:
        number = -exitcode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "an unknown signal"
        if number == signal.SIGKILL:
            name += "; the out-of-memory killer sends it"
        return f"died of signal {number} ({name})"
    return f"exited with status {exitcode} in the middle of a call"


# ------------------------------------------------------------------ pickling a call
class _EmptyCell:
    """Stands for a closure cell that has no value yet (a name bound later in its function)."""


def _findable(obj) -> bool:
    """Whether a function or class is found again by its module and qualified name (a
    closure, a lambda or a function of ``__main__`` is not: it travels by value)."""
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    qualname = getattr(obj, "__qualname__", "")
    if module is None or obj.__module__ == "__main__" or "<locals>" in qualname:
        return False
    found: Any = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found is obj


def _global(module: str, qualname: str):
    """The worker's half of a function or class sent by reference: its module found by name or
    from its file (``_module``), then the object by its qualified name."""
    found: Any = _module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def _make_function(code: bytes, module: str | None, name: str, cells: int):
    """The worker's half of a function sent by value: a function with empty cells, filled by
    ``_fill_function`` once its captured values are unpickled (they may include itself)."""
    namespace = _module(module).__dict__ if module else {"__builtins__": builtins}
    closure = tuple(types.CellType() for _ in range(cells)) or None
    return types.FunctionType(marshal.loads(code), namespace, name, None, closure)


def _fill_function(fn, state) -> None:
    """Give a function sent by value its captured values, defaults and attributes."""
    values, defaults, kwdefaults, qualname, attributes = state
    for cell, value in zip(fn.__closure__ or (), values):
        if value is not _EmptyCell:
            cell.cell_contents = value
    fn.__defaults__, fn.__kwdefaults__, fn.__qualname__ = defaults, kwdefaults, qualname
    fn.__dict__.update(attributes)


_OWN = (_global, _make_function, _fill_function)  # pickled by pickle itself: never by _global


class _CallPickler(pickle.Pickler):
    """Pickle with stand-ins (by token), functions and classes by reference through
    ``_global`` (so that a module known only by its file resolves), functions by value where
    their name does not find them; it records the file of every module a function or class
    comes from (``module_files``)."""

    def __init__(self, file, tokens: dict[int, str], reducers: dict, buffers: list):
        super().__init__(file, protocol=_PROTOCOL, buffer_callback=buffers.append)
        self.tokens = tokens  # id(object) -> token, for the stand-ins the other side holds
        self.module_files: dict[str, str] = {}
        self.dispatch_table = {**copyreg.dispatch_table, **reducers}

    def persistent_id(self, obj):
        return self.tokens.get(id(obj))

    def reducer_override(self, obj):
        if isinstance(obj, (types.FunctionType, type)) and obj not in _OWN:
            module = sys.modules.get(getattr(obj, "__module__", None) or "")
            path = getattr(module, "__file__", None)
            if path:
                self.module_files.setdefault(module.__name__, os.path.abspath(path))
            if _findable(obj):  # by reference, but resolved by _module, not by import alone
                return _global, (obj.__module__, obj.__qualname__)
            if isinstance(obj, types.FunctionType):
                cells = obj.__closure__ or ()
                values = tuple(_cell_value(c) for c in cells)
                state = (values, obj.__defaults__, obj.__kwdefaults__, obj.__qualname__,
                         dict(obj.__dict__))
                return (_make_function, (marshal.dumps(obj.__code__), obj.__module__,
                                         obj.__name__, len(cells)), state, None, None,
                        _fill_function)
        return NotImplemented


def _cell_value(cell):
    """What a closure cell holds (``_EmptyCell`` for a name not bound yet)."""
    try:
        return cell.cell_contents
    except ValueError:
        return _EmptyCell


def _encode(obj, tokens: dict[int, str], reducers: dict) -> list:
    """``obj`` as the messages that carry it: one with its pickle, the module files the other
    side may need to import first and the sizes of its out-of-band buffers (large arrays, not
    copied), then one per buffer. Nothing is sent: a failure to pickle leaves the line clean."""
    payload, buffers = io.BytesIO(), []
    pickler = _CallPickler(payload, tokens, reducers, buffers)
    pickler.dump(obj)
    views = [b.raw() for b in buffers]
    head = pickle.dumps((pickler.module_files, payload.getvalue(), [v.nbytes for v in views]),
                        protocol=_PROTOCOL)
    return [head, *views]


def _write(sock: socket.socket, messages: list) -> None:
    """Each message as its length (8 bytes) and its bytes, over a stream socket: a
    multiprocessing Connection copies a large message three times on its way in, measured at
    80 ms per 48 MB direction against 15-25 ms here."""
    for message in messages:
        view = memoryview(message).cast("B")
        sock.sendall(_LENGTH.pack(view.nbytes))
        sock.sendall(view)


def _read_into(sock: socket.socket, view: memoryview) -> None:
    """Fill ``view`` from the socket; EOFError if the other side closed it (or died)."""
    got = 0
    while got < view.nbytes:
        n = sock.recv_into(view[got:])
        if n == 0:
            raise EOFError("the other side closed the connection")
        got += n


def _read(sock: socket.socket) -> bytearray:
    """One message that ``_write`` sent."""
    head = bytearray(_LENGTH.size)
    _read_into(sock, memoryview(head))
    (size,) = _LENGTH.unpack(head)
    buffer = bytearray(size)
    _read_into(sock, memoryview(buffer))
    return buffer


def _ready(sock: socket.socket, timeout_s: float) -> bool:
    """Whether something (or the end of the stream) can be read within ``timeout_s``."""
    return bool(multiprocessing.connection.wait([sock], timeout_s))


def _receive(sock: socket.socket, objects: dict[str, Any]):
    """Receive what ``_encode`` made and ``_write`` sent, each buffer read straight into
    writable memory of its own (the arrays built on it are writable, and not copied again)."""
    module_files, payload, sizes = pickle.loads(_read(sock))
    buffers = [_read(sock) for _ in sizes]
    _MODULE_FILES.update(module_files)
    return _CallUnpickler(io.BytesIO(payload), objects, buffers).load()


_MODULE_FILES: dict[str, str] = {}  # module name -> file, as the other side last reported


def _module(name: str):
    """The module ``name``: already imported, imported by name, or else loaded from the file
    the other side loaded it from (a kernel file, a test module) under the same name, so that
    what refers to it resolves (``__main__`` is loaded as ``__mp_main__``, as multiprocessing
    does, and never run as a script)."""
    if name != "__main__":
        if name in sys.modules:
            return sys.modules[name]
        try:
            return importlib.import_module(name)
        except ImportError:
            if name not in _MODULE_FILES:
                raise
    as_name = "__mp_main__" if name == "__main__" else name
    if as_name in sys.modules:
        return sys.modules[as_name]
    path = _MODULE_FILES.get(name)
    if path is None:  # a __main__ with no file (an interactive session): its builtins only
        return types.SimpleNamespace(__builtins__=builtins)
    spec = importlib.util.spec_from_file_location(as_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[as_name] = module
    sys.path.insert(0, os.path.dirname(path))  # it may import its neighbours, as a script
    spec.loader.exec_module(module)
    return module


class _CallUnpickler(pickle.Unpickler):
    """The other half of _CallPickler: stand-ins by token, out-of-band buffers, and every
    global's module found by name or from the file the other side named."""

    def __init__(self, file, objects: dict[str, Any], buffers: list):
        super().__init__(file, buffers=buffers)
        self.objects = objects  # token -> this side's stand-in

    def persistent_load(self, token):
        return self.objects[token]

    def find_class(self, module: str, name: str):
        _module(module)  # by name, or from the file the other side named
        if module == "__main__" and "__main__" in _MODULE_FILES:
            module = "__mp_main__"
        return super().find_class(module, name)


def _resolve(target: str) -> Callable:
    """The object a ``"module:attribute"`` string names."""
    module, _, attribute = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


# ------------------------------------------------------------------ the worker process
def _serve(sock: socket.socket, rebuild: str | None, rebuild_args: tuple, probe: str | None,
           reducers: dict) -> None:
    """The worker's loop: build the stand-ins, then run calls until the connection closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the checking process, not us
    objects: dict[str, Any] = {}
    note = None
    if rebuild is not None:
        try:
            objects = dict(_resolve(rebuild)(*rebuild_args))
        except BaseException as error:  # noqa: BLE001 - the parent sends by value instead
            note = f"{type(error).__name__}: {error}"
    _write(sock, [pickle.dumps(("ready", sorted(objects), note), protocol=_PROTOCOL)])
    tokens = {id(obj): token for token, obj in objects.items()}
    while True:
        try:
            fn, watched = _receive(sock, objects)
        except (EOFError, OSError):
            return
        except Exception as error:  # noqa: BLE001 - attnspec's failure, not the subject's
            _write(sock, _encode(("unloadable", f"{type(error).__name__}: {error}", 0.0, None),
                                 tokens, reducers))
            continue
        start = time.perf_counter()
        try:
            reply: tuple = ("returned", fn(), time.perf_counter() - start, watched)
        except BaseException as error:  # noqa: BLE001 - the subject's failure is the finding
            frames = traceback.extract_tb(error.__traceback__)
            where = (frames[-1].filename.rsplit("/", 1)[-1], frames[-1].lineno) if frames else None
            retired = _probe(probe)
            reply = ("raised", (type(error).__name__, str(error), where, retired),
                     time.perf_counter() - start, watched)
        try:
            messages = _encode(reply, tokens, reducers)
        except Exception as error:  # noqa: BLE001 - what the subject returned cannot travel
            messages = _encode(("unsendable", f"{_kind(reply[1])} ({type(error).__name__}: "
                                              f"{error})", reply[2], None), tokens, reducers)
        try:
            _write(sock, messages)
        except OSError:  # the checking process has gone
            return
        if reply[0] == "raised" and reply[1][3] is not None:
            sock.close()
            os._exit(0)


def _probe(probe: str | None) -> str | None:
    """Why the process can no longer serve (the probe raised), or None."""
    if probe is None:
        return None
    try:
        _resolve(probe)()
    except BaseException as error:  # noqa: BLE001
        return f"{type(error).__name__}: {error}".strip()
    return None


def _kind(value) -> str:
    """A value's type, by module and qualified name."""
    return f"a {type(value).__module__}.{type(value).__qualname__}"


# ------------------------------------------------------------------ the checking process's side
def _context():
    """multiprocessing's fork server where there is one (Linux, macOS), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class Isolation:
    """The calls of one subject, each in a worker process, a fresh worker after a death.

    ``stand_ins`` maps a token to an object of this process that the worker rebuilds for
    itself with ``rebuild(*rebuild_args)`` (``"module:function"`` returning ``{token:
    object}``); ``probe`` (``"module:function"``) is run in the worker after a call that raised
    and retires it if it raises; ``preload`` names the modules the fork server imports once, so
    that each worker starts without importing them; ``reducers`` (type -> reduce function) say
    how the wing's own types travel; ``environment`` holds variables the workers start with,
    where this process has none of its own. ``workers_started`` counts the workers (the first,
    and one after each death)."""

    def __init__(self, stand_ins: dict[str, Any] | None = None, rebuild: str | None = None,
                 rebuild_args: tuple = (), probe: str | None = None,
                 preload: Sequence[str] = (), reducers: dict | None = None,
                 environment: dict[str, str] | None = None):
        self.stand_ins = dict(stand_ins or {})
        self.reducers = dict(reducers or {})
        self.environment = dict(environment or {})
        self.rebuild, self.rebuild_args, self.probe = rebuild, tuple(rebuild_args), probe
        self.preload = tuple(preload)
        self.workers_started = 0
        self.rebuild_note: str | None = None  # why the worker could not rebuild its stand-ins
        self._process = None
        self._sock = None
        self._tokens: dict[int, str] = {}
        self._finalizer = None

    # -------------------------------------------------------------- a worker's life
    def _start(self) -> None:
        """Start a worker and wait until it has built its stand-ins (outside any call's time
        limit: the first start also starts the fork server)."""
        context = _context()
        if self.preload and context.get_start_method() == "forkserver":
            context.set_forkserver_preload(list(self.preload))  # used by the first start only
        mine, theirs = socket.socketpair()
        for end in (mine, theirs):
            for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                try:
                    end.setsockopt(socket.SOL_SOCKET, option, 4 << 20)
                except OSError:
                    pass
        process = context.Process(target=_serve, name="attnspec-subject", daemon=True,
                                  args=(theirs, self.rebuild, self.rebuild_args, self.probe,
                                        self.reducers))
        _start_process(process, self.environment)
        theirs.close()
        try:
            if not _ready(mine, START_TIMEOUT_S):
                raise RuntimeError(f"no answer after {START_TIMEOUT_S:g} s")
            _, tokens, note = pickle.loads(_read(mine))
        except (EOFError, OSError, RuntimeError) as error:
            process.kill()
            process.join()
            mine.close()
            detail = death(process.exitcode) if isinstance(error, (EOFError, OSError)) else error
            raise RuntimeError(f"the subject's worker process could not start: {detail}") from None
        self.workers_started += 1
        self.rebuild_note = note
        self._process, self._sock = process, mine
        self._tokens = {id(self.stand_ins[t]): t for t in tokens if t in self.stand_ins}
        self._finalizer = weakref.finalize(self, _stop, process, mine)

    def _discard(self, kill: bool) -> str:
        """Forget the worker (killing it first if asked); how it ended, in words."""
        process, sock = self._process, self._sock
        self._process = self._sock = None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if kill and process.is_alive():
            process.kill()
        process.join(10.0)
        if process.exitcode is None:  # alive with its connection closed: it cannot serve
            process.kill()
            process.join()
            sock.close()
            return death(None)
        sock.close()
        return death(process.exitcode)

    def close(self) -> None:
        """Stop the worker, if one is running (a fresh one starts on the next call)."""
        if self._process is not None:
            self._discard(kill=True)

    @property
    def pid(self) -> int | None:
        """The running worker's process id, or None."""
        return None if self._process is None else self._process.pid

    # -------------------------------------------------------------- one call
    def call(self, fn: Callable[[], Any], timeout_s: float, watched: Sequence[Any] = (),
             restore: Callable[[Any, Any], None] | None = None):
        """Run ``fn()`` in the worker within ``timeout_s``: Returned, Raised, Died, TimedOut or
        Unsendable. After Returned or Raised, ``restore(original, after)`` is called for each
        of ``watched`` with its state in the worker after the call."""
        if self._process is not None and not self._process.is_alive():
            self._discard(kill=False)  # it died between calls (killed from outside)
        if self._process is None:
            self._start()
        try:
            messages = _encode((fn, list(watched)), self._tokens, self.reducers)
        except Exception as error:
            raise RuntimeError(f"this call cannot be sent to the subject's worker process "
                               f"({type(error).__name__}: {error}); run it without isolation"
                               ) from None
        try:
            _write(self._sock, messages)
        except OSError:  # it died while reading the call
            return Died(self._discard(kill=False))
        try:
            if not _ready(self._sock, timeout_s):
                self._discard(kill=True)
                return TimedOut()
            status, payload, seconds, after = _receive(self._sock, self.stand_ins)
        except (EOFError, OSError):
            return Died(self._discard(kill=False))
        except Exception as error:  # the reply refers to what this process cannot load
            return Unsendable(f"a reply this process cannot read ({type(error).__name__}: "
                              f"{error})")
        if restore is not None and after is not None:
            for original, changed in zip(watched, after):
                restore(original, changed)
        if status == "returned":
            return Returned(payload, seconds)
        if status == "unsendable":
            return Unsendable(payload)
        if status == "unloadable":
            raise RuntimeError(f"the subject's worker process could not load this call: "
                               f"{payload}")
        type_name, message, where, retired = payload
        if retired is not None:
            self._discard(kill=False)
        return Raised(type_name, message, where, retired)


def _start_process(process, environment: dict[str, str]) -> None:
    """Start ``process`` with ``environment`` set where this process has no value of its own
    (the fork server, started by the first start, keeps it for every worker), and without
    multiprocessing's re-import of the ``__main__`` module in the child (it would re-run a
    user's unguarded script in every worker; a function of ``__main__`` that a call captures
    travels by value instead)."""
    added = {k: v for k, v in environment.items() if k not in os.environ}
    main = sys.modules["__main__"]
    os.environ.update(added)
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        process.start()
    finally:
        sys.modules["__main__"] = main
        for key in added:
            os.environ.pop(key, None)


def _stop(process, sock) -> None:
    """Finalizer: close the connection (the worker then exits) and make sure it has."""
    try:
        sock.close()
    except OSError:
        pass
    process.join(2.0)
    if process.exitcode is None:
        process.kill()
        process.join()
