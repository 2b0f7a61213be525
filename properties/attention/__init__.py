"""The kernel contract's suites: what must hold of a kernel's forward pass.

    recipe       a test case as a few plain fields (JSON for reproducers)
    strategies   hypothesis strategies that draw recipes the way kernels break
    cases        tensors of a recipe, and the oracle's exact view of them
    calls        a kernel called under the engine's invoker, its result checked for form
    compile_time first calls on a new input signature timed apart (a JIT kernel's compiling)
    conformance  a kernel's out and lse against the oracle under the derived budget
    context      one kernel under test as the properties and the driver see it
    forward/     the forward properties, one per claim (forward/__init__.py)
    profiles     the plans of each effort (examples, sizes, time limits)
    reproducer   the shell line and Python snippet that rebuild a case
    diagnosis    the declaration key that would express what a shared error's cases share
    suite        the ``attention`` and ``long_contexts`` suites, and ``attnspec reproduce``

Imports no paper wing (docs/architecture.md).
"""
