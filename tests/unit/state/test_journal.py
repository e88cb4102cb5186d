import json

import pytest

from airgap_transfer import limits
from airgap_transfer.errors import UsageError
from airgap_transfer.state import journal
from airgap_transfer.state.journal import PackJournal, SourceIdentity, UnpackJournal


def pack_journal() -> PackJournal:
    return PackJournal(transfer_id="ab" * 16, source=SourceIdentity("/src", 10, 1, 2, 3), bundle_name="b",
                       key_id="00" * 8, readback=True)


def chunk(seq: int) -> dict:
    return {"seq": seq, "offset": seq * 10, "length": 10, "root": "/d"}


def test_appended_records_fold_into_the_journal(tmp_path):
    path = tmp_path / "p.json"
    journal.save(path, pack_journal())
    journal.append(path, [{"drive": {"ordinal": 1, "root": "/d"}}, {"chunk": chunk(1)}])
    journal.append(path, [{"chunk": chunk(2)}, {"complete": True}])
    loaded = journal.load(path, PackJournal)
    assert [c["seq"] for c in loaded.chunks] == [1, 2] and loaded.drives[0]["ordinal"] == 1
    assert loaded.complete and loaded.source.size == 10


def test_a_torn_last_line_is_ignored(tmp_path):
    path = tmp_path / "p.json"
    journal.save(path, pack_journal())
    journal.append(path, [{"chunk": chunk(1)}])
    with open(path, "ab") as handle:  # a crash in the middle of appending chunk 2
        handle.write(json.dumps({"chunk": chunk(2)}).encode()[:17])
    assert [c["seq"] for c in journal.load(path, PackJournal).chunks] == [1]


def test_a_later_line_for_the_same_chunk_replaces_the_earlier(tmp_path):
    path = tmp_path / "u.json"
    journal.save(path, UnpackJournal("ab" * 16, "/out/b", "/out/.b", placed=[{"seq": 1, "offset": 0}]))
    journal.append(path, [{"placed": {"seq": 1, "offset": 5}}, {"placed": {"seq": 2, "offset": 9}}])
    placed = journal.load(path, UnpackJournal).placed
    assert placed == [{"seq": 1, "offset": 5}, {"seq": 2, "offset": 9}]


@pytest.mark.parametrize("content", [b"", b"not json\n{}\n", b"[1]\n", b'{"journal": "pack", "version": 1}\n',
                                     b'{"journal": "pack", "version": 2}\n"oops"\n{"chunk": {}}\n'])
def test_damaged_journals_are_a_clear_usage_error(tmp_path, content):
    path = tmp_path / "p.json"
    path.write_bytes(content)
    with pytest.raises(UsageError) as info:
        journal.load(path, PackJournal)
    assert "--restart" in info.value.one_line() and info.value.exit_code == 2


def test_journal_size_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_JOURNAL_BYTES", 100)
    path = tmp_path / "p.json"
    journal.save(path, pack_journal())
    journal.append(path, [{"chunk": chunk(n)} for n in range(10)])
    with pytest.raises(UsageError, match="size limit"):
        journal.load(path, PackJournal)


def test_local_progress_counts_a_journal_line_by_line(tmp_path):
    path = journal.pack_journal_path(tmp_path / "src")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    journal.save(path, pack_journal())
    journal.append(path, [{"chunk": chunk(seq)} for seq in range(1, 2001)] + [{"chunk": chunk(5)}])
    with open(path, "ab") as handle:  # torn last line: not counted
        handle.write(json.dumps({"chunk": chunk(2001)}).encode()[:17])
    assert journal.local_progress("ab" * 16) == {
        "pack": {"source": "/src", "size": 10, "chunks": 2000, "bytes": 20_000, "complete": False}}
    assert journal.local_progress("cd" * 16) == {}
    with open(path, "ab") as handle:  # a damaged line that is not the last: the journal says nothing
        handle.write(b"\n" + json.dumps({"complete": True}).encode() + b"\n")
    assert journal.local_progress("ab" * 16) == {}


def test_local_progress_of_an_unpack(tmp_path):
    path = journal.unpack_journal_path("ab" * 16, tmp_path / "out")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    journal.save(path, UnpackJournal("ab" * 16, "/out/b", "/out/.b", placed=[{"seq": 1, "offset": 0, "length": 7}]))
    journal.append(path, [{"placed": {"seq": 2, "offset": 7, "length": 3}}])
    assert journal.local_progress("ab" * 16) == {
        "unpack": {"output": "/out/b", "partial": "/out/.b", "chunks": 2, "bytes": 10}}
