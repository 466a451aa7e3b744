from __future__ import annotations

import itertools
import threading
import time
import uuid

from coffer.kernel.ids import uuid7


def test_uuid7_has_version_7_and_rfc_variant() -> None:
    value = uuid7()
    assert isinstance(value, uuid.UUID)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_uuid7_embeds_the_current_unix_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    # The generator runs ahead of the clock only when more than ~4096 ids share a millisecond.
    assert before <= value.int >> 80 <= after + 1_000


def test_uuid7_is_strictly_monotonic() -> None:
    ids = [uuid7() for _ in range(10_000)]
    assert all(a < b for a, b in itertools.pairwise(ids))
    assert all(a.bytes < b.bytes for a, b in itertools.pairwise(ids))
    assert all(str(a) < str(b) for a, b in itertools.pairwise(ids))


def test_uuid7_is_unique_and_ordered_across_threads() -> None:
    threads_count, per_thread = 8, 2_000
    results: list[list[uuid.UUID]] = [[] for _ in range(threads_count)]
    start = threading.Barrier(threads_count)

    def generate(out: list[uuid.UUID]) -> None:
        start.wait()
        out.extend(uuid7() for _ in range(per_thread))

    threads = [threading.Thread(target=generate, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every = [value for out in results for value in out]
    assert len(set(every)) == threads_count * per_thread
    for out in results:
        assert all(a < b for a, b in itertools.pairwise(out))
