import pytest

from airgap_transfer.errors import UsageError
from airgap_transfer.format.names import printable, sanitize_bundle_name


@pytest.mark.parametrize("name, expected", [
    ("model.tar.gz", "model.tar.gz"),
    ("../../etc/passwd", "_.._etc_passwd"),
    ("/abs/path", "_abs_path"),
    ("..", None),
    (".hidden", "hidden"),
    ("a\x00b\nc", "a_b_c"),
    ("back\\slash", "back_slash"),
    ("x" * 500, "x" * 200),
    ("ünïcødé.bin", "ünïcødé.bin"),
])
def test_sanitize(name, expected):
    if expected is None:
        with pytest.raises(UsageError):
            sanitize_bundle_name(name)
    else:
        cleaned = sanitize_bundle_name(name)
        assert cleaned == expected
        assert "/" not in cleaned and cleaned not in (".", "..")


def test_sanitize_caps_utf8_bytes_without_splitting_characters():
    cleaned = sanitize_bundle_name("é" * 300)
    assert len(cleaned.encode()) <= 200
    cleaned.encode().decode()


def test_printable_escapes_terminal_controls():
    shown = printable("evil\x1b[2Jname\n")
    assert "\x1b" not in shown and "\n" not in shown
    assert printable("plain.bin") == "plain.bin"


def test_a_cut_name_keeps_its_extension():
    from airgap_transfer.format.names import renamed_because
    from airgap_transfer.limits import MAX_NAME_BYTES
    for extension in (".bin", ".tar.gz", ".safetensors"):
        long = "model-" + "é" * 200 + extension
        cut = sanitize_bundle_name(long)
        assert cut.endswith(extension) and len(cut.encode()) <= MAX_NAME_BYTES
        assert sanitize_bundle_name(cut) == cut  # idempotent: the index check relies on it
        assert "extension kept" in renamed_because(long, cut)
    assert "refuse became _" in renamed_because("model:v1?.bin", sanitize_bundle_name("model:v1?.bin"))
    assert renamed_because("plain.bin", "plain.bin") is None
