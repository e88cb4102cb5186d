"""The one top-level handler: Ctrl-C is exit 130 however it arrives; anything else unexpected is exit 1."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airgap_transfer.cli import app


def _raising(error: BaseException):
    def run(*_args, **_kwargs):
        raise error
    return run


def _wrapped_ctrl_c() -> RuntimeError:
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as exc:  # as Python wraps it when it lands inside __set_name__ at import time
        wrapped = RuntimeError("Error calling __set_name__ on 'Field' instance 'text' in 'Signed'")
        wrapped.__cause__ = exc
        return wrapped


@pytest.mark.parametrize("error, code, says", [
    (KeyboardInterrupt(), 130, "interrupted — run the same command again"),
    (_wrapped_ctrl_c(), 130, "interrupted — run the same command again"),
    (RuntimeError("a real bug"), 1, "internal error: RuntimeError: a real bug"),
])
def test_how_an_unexpected_end_is_reported(monkeypatch, capsys, error, code, says):
    monkeypatch.setattr(app.cli, "main", _raising(error))
    assert app.main(["status", "/nowhere"]) == code
    assert says in capsys.readouterr().err


# The console script as installed, with loading the command line itself interrupted: the first
# tenth of a second of every run, before app.main and its handler exist.
_INTERRUPTED_WHILE_LOADING = '''
import builtins, sys
real_import = builtins.__import__
def interrupting(name, *args, **kwargs):
    if name == "airgap_transfer.cli.app":
        if sys.argv[1] == "ctrl-c":
            raise KeyboardInterrupt
        if sys.argv[1] == "wrapped":
            raise RuntimeError("Error calling __set_name__") from KeyboardInterrupt()
        raise ImportError("a broken install")
    return real_import(name, *args, **kwargs)
builtins.__import__ = interrupting
from airgap_transfer.cli import entry_point
entry_point()
'''


@pytest.mark.parametrize("how, code, says", [
    ("ctrl-c", 130, "airgap-transfer: error: interrupted — run the same command again"),
    ("wrapped", 130, "airgap-transfer: error: interrupted — run the same command again"),
    ("broken", 1, "ImportError: a broken install"),   # not a Ctrl-C: Python's own report, nothing hidden
])
def test_a_ctrl_c_while_the_command_line_loads_is_exit_130_without_a_traceback(how, code, says):
    run = subprocess.run([sys.executable, "-c", _INTERRUPTED_WHILE_LOADING, how],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == code, run.stderr
    assert says in run.stderr
    assert ("Traceback" in run.stderr) == (how == "broken")
