"""Raw limits measured in the same run as a benchmark: what the disk and database allow.

- ``fsync_rate``: small appends each followed by ``fsync`` (what one durable commit costs).
- ``bare_sqlite_rate`` / ``bare_postgresql_rate``: a one-row UPDATE plus ``inserts`` INSERTs
  per transaction, committed one by one, on the same pragmas/server Coffer uses, without
  Coffer. With ``inserts=1`` it is the issue's "bare transaction"; with ``SPEND_ROWS`` it
  writes as many rows as one spend does, so the gap to it is Coffer's own overhead.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

#: Rows a spend inserts besides the wallet update: journal, 2 postings, the lot update's draw
#: row, the lot update itself and the outbox job (a lot update is counted as an insert here).
SPEND_ROWS = 6


def fsync_rate(directory: Path, seconds: float = 2.0) -> float:
    path = directory / "fsync.bench"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            os.write(fd, b"x")
            os.fsync(fd)
            count += 1
        return count / (time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink()


def bare_sqlite_rate(directory: Path, seconds: float = 3.0, inserts: int = 1) -> float:
    path = directory / "bare.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE w (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
        conn.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, w INTEGER, amount INTEGER)")
        conn.execute("INSERT INTO w VALUES (1, 0)")
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE w SET balance = balance + 1 WHERE id = 1")
            for _ in range(inserts):
                conn.execute("INSERT INTO log (w, amount) VALUES (1, 1)")
            conn.execute("COMMIT")
            count += 1
        return count / (time.perf_counter() - start)
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def bare_postgresql_rate(dsn: str, seconds: float = 3.0, inserts: int = 1) -> float:
    with psycopg.connect(dsn, autocommit=False) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_w, bench_log")
        conn.execute("CREATE TABLE bench_w (id int PRIMARY KEY, balance bigint NOT NULL)")
        conn.execute("CREATE TABLE bench_log (id bigserial PRIMARY KEY, w int, amount bigint)")
        conn.execute("INSERT INTO bench_w VALUES (1, 0)")
        conn.commit()
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            conn.execute("UPDATE bench_w SET balance = balance + 1 WHERE id = 1")
            for _ in range(inserts):
                conn.execute("INSERT INTO bench_log (w, amount) VALUES (1, 1)")
            conn.commit()
            count += 1
        rate = count / (time.perf_counter() - start)
        conn.execute("DROP TABLE bench_w, bench_log")
        conn.commit()
        return rate


def throughput(operation: Callable[[], object], *, seconds: float, threads: int) -> float:
    """Operations per second of ``operation`` run back to back on ``threads`` threads."""
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def run(slot: int) -> None:
        while time.perf_counter() < deadline:
            operation()
            counts[slot] += 1

    start = time.perf_counter()
    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - start)
