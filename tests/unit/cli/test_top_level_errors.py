"""The one top-level handler: Ctrl-C is exit 130 however it arrives; anything else unexpected is exit 1."""

from __future__ import annotations

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
