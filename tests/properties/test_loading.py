"""Selectors load kernels; every way they can fail gives one line a user can act on."""

from __future__ import annotations

import textwrap

import pytest
import torch

from attnspec.kernels import KernelSpec, attnspec_kernel
from attnspec.kernels.registry import BUILTINS
from attnspec.properties.loading import LoadError, load_kernel


def write(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


GOOD = """
    import torch
    def attention(q, k, v, *, scale=None):
        s = q @ k.transpose(-1, -2) * (q.shape[-1] ** -0.5 if scale is None else scale)
        return (torch.softmax(s.float(), -1) @ v.float()).to(q.dtype)
    attention.attnspec = {"dtypes": ["float32"]}
    class Holder:
        kernel = staticmethod(attention)
"""


def test_file_selector_and_dotted_attribute(tmp_path):
    path = write(tmp_path, "kern.py", GOOD)
    subject = load_kernel(f"{path}:attention")
    assert subject.spec.dtypes == ("float32",) and subject.devices == ("cpu",)
    assert load_kernel(f"{path}:Holder.kernel").spec.dtypes == ("float32",)


def test_module_selector(tmp_path, monkeypatch):
    write(tmp_path, "my_attn_mod.py", GOOD)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_kernel("my_attn_mod:attention").name == "attention"


def test_a_kernel_file_may_import_its_neighbours(tmp_path):
    write(tmp_path, "helper_for_kernel.py", GOOD)
    path = write(tmp_path, "uses_helper.py", "from helper_for_kernel import attention\n")
    assert load_kernel(f"{path}:attention").name == "attention"


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_builtin_loads_or_says_why_not(name):
    reason = BUILTINS[name].unavailable()
    if reason:
        with pytest.raises(LoadError, match="unavailable"):
            load_kernel(name)
    else:
        assert load_kernel(name).spec.dtypes


@pytest.mark.parametrize(
    "selector_body, message",
    [
        (("missing_mod_xyz:attention", None), "cannot import 'missing_mod_xyz'"),
        (("{dir}/nope.py:attention", None), "no such kernel file"),
        (("{path}:absent", GOOD), "has no attribute 'absent'"),
        (("{path}:VALUE", "VALUE = 3\n"), "not a callable"),
        (("{path}:f", "def f(q, k, v):\n    return q\n"), "no attnspec declaration"),
        (("{path}:f", "def f(q, k, v):\n    return q\nf.attnspec = {'dtypes': ['float8']}\n"),
         "unsupported value"),
        (("{path}:f", "def f(q, k, v):\n    return q\nf.attnspec = {'dtypes': ['float32'], "
                      "'causl': 'top_left'}\n"), "unknown capability key"),
        (("{path}:f", "def f(q, k, v):\n    return q\nf.attnspec = {'causal': 'top_left'}\n"),
         "must name its 'dtypes'"),
        (("{path}:f", "def f(q, k, v):\n    return q\nf.attnspec = {'dtypes': ['float32'], "
                      "'causal': True}\n"), "which alignment"),
        (("{path}:f", "def f(:\n"), "SyntaxError"),
        (("{path}:f", "raise RuntimeError('no GPU')\n"), "RuntimeError: no GPU"),
        (("not-a-kernel", None), "not a built-in name"),
        (("{path}:", GOOD), "no attribute after ':'"),
    ],
)
def test_load_errors_are_one_line(tmp_path, selector_body, message):
    selector, body = selector_body
    path = write(tmp_path, "k.py", body) if body is not None else tmp_path / "k.py"
    selector = selector.format(path=path, dir=tmp_path)
    with pytest.raises(LoadError, match=message) as error:
        load_kernel(selector)
    assert "\n" not in str(error.value)


def test_typed_spec_and_decorator_give_the_same_declaration():
    @attnspec_kernel(dtypes=["float16"], causal="top_left", mask=True)
    def a(q, k, v, **kw):
        return q

    @KernelSpec(dtypes=("float16",), causal="top_left", mask=True)
    def b(q, k, v, **kw):
        return q

    assert a.attnspec == b.attnspec
    assert KernelSpec.from_declaration(a.attnspec) == KernelSpec.from_declaration(b.attnspec)
    assert a.attnspec["causal"] == "top_left" and a.attnspec["lse"] is False


def test_blhd_kernels_are_adapted(tmp_path):
    path = write(tmp_path, "blhd.py", """
        import torch
        def flash_style(q, k, v):  # q [B, L, H, D]
            s = torch.einsum("blhd,bmhd->bhlm", q, k) * q.shape[-1] ** -0.5
            return torch.einsum("bhlm,bmhd->blhd", torch.softmax(s, -1), v)
        flash_style.attnspec = {"dtypes": ["float32"], "layout": "blhd", "scale": False}
    """)
    subject = load_kernel(f"{path}:flash_style")
    q, k, v = (torch.randn(2, 3, 5, 4) for _ in range(3))  # [B, H, L, D]
    expected = torch.softmax(q @ k.transpose(-1, -2) / 2, -1) @ v
    torch.testing.assert_close(subject.fn(q, k, v), expected)


def test_a_module_selector_finds_a_module_in_the_current_directory(tmp_path):
    """As `python -m` does: the attnspec script's own sys.path lacks the current directory."""
    import subprocess
    import sys

    write(tmp_path, "users_kernel_here.py", GOOD)
    script = ("import sys; sys.path[:] = [p for p in sys.path if p not in ('', sys.argv[1])]; "
              "from attnspec.properties.loading import load_kernel; "
              "print(load_kernel('users_kernel_here:attention').name)")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "attention", done.stderr


def test_an_import_failure_suggests_the_file_form():
    with pytest.raises(LoadError, match=r"a kernel in a file can be given as path/to/file.py:ATTR"):
        load_kernel("no_such_module_anywhere:attention")
