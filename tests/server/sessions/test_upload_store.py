"""The per-session upload store on its own (pure asyncio, real files under tmp_path)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from openreactor.sessions.uploads import (
    UnknownUploadError,
    UnresolvedUploadError,
    UploadConflictError,
    UploadSizeError,
    UploadStore,
    UploadTooLargeError,
    find_references,
    replace_references,
    sanitize_file_name,
)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("photo.png", "photo.png"),
        ("../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("C:\\Users\\me\\a b.png", "a b.png"),
        ("..", "upload"),
        ("a\x00b.txt", "a_b.txt"),
        (".hidden", "hidden"),
        ("", "upload"),
        ("dir/", "upload"),
    ],
)
def test_sanitized_names_stay_in_their_folder(name: str, expected: str) -> None:
    assert sanitize_file_name(name) == expected


def test_long_names_keep_their_extension() -> None:
    name = sanitize_file_name("x" * 500 + ".png")
    assert len(name) <= 128 and name.endswith(".png")


async def test_stored_files_never_escape_the_folder(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "s", max_bytes=100, slot_ttl_s=60)
    for name in ("../../escape.txt", "/abs/path.txt", "..\\..\\win.txt", "nul\x00.txt", "../"):
        slot = store.issue(name, 3, "text/plain")
        await store.receive(slot.upload_id, chunks(b"abc"), 3)
        assert slot.path.resolve().is_relative_to((tmp_path / "s").resolve()), slot.path
        assert slot.path.read_bytes() == b"abc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]
    assert store.file_count() == 5
    store.close()
    assert not (tmp_path / "s").exists()


async def test_put_rules(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "s", max_bytes=10, slot_ttl_s=60)
    with pytest.raises(UploadTooLargeError):
        store.issue("big", 11, "x/y")
    slot = store.issue("f", 4, "x/y")
    with pytest.raises(UnknownUploadError):
        await store.receive("nope", chunks(b"abcd"), 4)
    with pytest.raises(UploadSizeError):
        await store.receive(slot.upload_id, chunks(b"abc"), None)  # short
    with pytest.raises(UploadSizeError):
        await store.receive(slot.upload_id, chunks(b"abc", b"de"), None)  # long
    with pytest.raises(UploadSizeError):
        await store.receive(slot.upload_id, chunks(b"abcd"), 5)  # Content-Length says otherwise
    assert store.file_count() == 0, "refused bodies leave nothing behind"
    await store.receive(slot.upload_id, chunks(b"ab", b"cd"), None)
    with pytest.raises(UploadConflictError):
        await store.receive(slot.upload_id, chunks(b"abcd"), 4)
    full = store.issue("full", 10, "x/y")
    with pytest.raises(UploadTooLargeError):
        await store.receive(full.upload_id, chunks(b"0123456789", b"x"), None)
    store.close()


async def test_unfilled_slots_expire(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "s", max_bytes=10, slot_ttl_s=0.05)
    slot = store.issue("f", 1, "x/y")
    done = store.issue("g", 1, "x/y")
    await store.receive(done.upload_id, chunks(b"1"), 1)
    await asyncio.sleep(0.1)
    assert store.get(slot.upload_id) is None
    assert store.get(done.upload_id) is not None, "stored uploads do not expire"
    with pytest.raises(UnknownUploadError):
        await store.receive(slot.upload_id, chunks(b"1"), 1)
    store.close()


async def test_resolve_waits_for_the_bytes(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "s", max_bytes=10, slot_ttl_s=60)
    loop = asyncio.get_running_loop()
    slot = store.issue("late.bin", 2, "x/y")
    waiter = asyncio.ensure_future(store.resolve(slot.upload_id, loop.time() + 5))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await store.receive(slot.upload_id, chunks(b"hi"), 2)
    file = await asyncio.wait_for(waiter, 5)
    assert (file.name, file.size, file.read_bytes()) == ("late.bin", 2, b"hi")
    never = store.issue("never", 1, "x/y")
    with pytest.raises(UnresolvedUploadError, match="not received in time"):
        await store.resolve(never.upload_id, loop.time() + 0.05)
    with pytest.raises(UnresolvedUploadError, match="unknown upload"):
        store.check_known(["0" * 32])
    pending = asyncio.ensure_future(store.resolve(never.upload_id, loop.time() + 5))
    await asyncio.sleep(0.01)
    store.close()
    with pytest.raises(UnresolvedUploadError):
        await asyncio.wait_for(pending, 5)


def test_inline_references_are_found_and_replaced_anywhere() -> None:
    ref = {"upload_id": "u1", "name": "a.png", "mime_type": "image/png", "size": 3.0}
    not_ref = {"upload_id": "u2", "name": "b", "mime_type": "x", "size": 1, "extra": True}
    data = {"layers": [{"image": ref}, not_ref], "top": dict(ref, upload_id="u3"), "n": 1}
    assert find_references(data) == ["u1", "u3"]
    out = replace_references(data, {"u1": "FILE1", "u3": "FILE3"})  # type: ignore[dict-item]
    assert out == {"layers": [{"image": "FILE1"}, not_ref], "top": "FILE3", "n": 1}
