"""``coffer bench ledger``: spends per second on one hot wallet and across many wallets.

Each figure is printed next to the raw limit measured in the same run (see ``bench.limits``),
as a ratio, so results compare across machines. Nothing here is a pass/fail assertion.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url
from sqlalchemy.engine import Connection

from bench import limits
from coffer import app
from coffer.db.engine import make_engine, sqlite_url
from coffer.db.transaction import Database
from coffer.kernel.clock import SystemClock
from coffer.ledger import service as ledger
from coffer.ledger.model import WalletRef
from coffer.migrations import upgrade

SETUP_BATCH = 500


@dataclass
class Result:
    label: str
    rate: float
    limit_label: str
    limit: float

    same_rows: float

    def line(self) -> str:
        return (
            f"{self.label:<44} {self.rate:>9.0f}/s   {self.rate / self.limit:>5.2f}x "
            f"{self.limit_label} ({self.limit:.0f}/s)   "
            f"{self.rate / self.same_rows:>5.2f}x same-rows txn"
        )


def _wallets(db: Database, count: int, balance: int) -> list[WalletRef]:
    clock = SystemClock()
    service, _key = db.write(
        lambda c: app.create_service(
            c, name="bench", currency="KRW", timezone="Asia/Seoul", clock=clock
        )
    )
    refs: list[WalletRef] = []
    suffix = random.randrange(1 << 30)
    for start in range(0, count, SETUP_BATCH):

        def batch(conn: Connection, start: int = start) -> list[WalletRef]:
            made = []
            for i in range(start, min(start + SETUP_BATCH, count)):
                member = app.create_member(conn, service, f"b{suffix}-{i}", clock=clock)
                wallet = app.wallet_ref(service, member)
                ledger.grant(
                    conn,
                    wallet,
                    amount=balance,
                    kind="paid",
                    source="api",
                    actor="bench",
                    now=clock.now(),
                )
                made.append(wallet)
            return made

        refs.extend(db.write(batch))
    return refs


def _spend_rate(db: Database, pick: Callable[[], WalletRef], seconds: float, threads: int) -> float:
    clock = SystemClock()

    def spend_one() -> None:
        wallet = pick()
        db.write(
            lambda c: ledger.spend(
                c, wallet, amount=1, reference="bench", actor="bench", now=clock.now()
            )
        )

    return limits.throughput(spend_one, seconds=seconds, threads=threads)


def run_database(
    name: str,
    url: str,
    bare: float,
    same_rows: float,
    *,
    wallets: int,
    seconds: float,
    threads: int,
) -> list[Result]:
    db = Database(make_engine(url, pool_size=threads + 2))
    try:
        upgrade(db.engine)
        hot = _wallets(db, 1, 10**12)[0]
        many = _wallets(db, wallets, 10**9)
        bare_label = f"bare {name} txn"
        runs: list[tuple[str, Callable[[], WalletRef], int]] = [
            ("1 hot wallet, 1 thread", lambda: hot, 1),
            (f"1 hot wallet, {threads} threads", lambda: hot, threads),
            (f"{wallets} wallets, {threads} threads", lambda: random.choice(many), threads),
        ]
        return [
            Result(
                f"{name}: spends, {label}",
                _spend_rate(db, pick, seconds, count),
                bare_label,
                bare,
                same_rows,
            )
            for label, pick, count in runs
        ]
    finally:
        db.dispose()


def _limit_line(label: str, rate: float, fsync: float) -> str:
    return f"{label:<44} {rate:>9.0f}/s   {rate / fsync:>5.2f}x fsync"


def main(*, postgresql_url: str | None, wallets: int, seconds: float, threads: int) -> list[str]:
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="coffer-bench-") as tmp:
        directory = Path(tmp)
        fsync = limits.fsync_rate(directory)
        lines.append(f"{'fsync (write 1 byte + fsync)':<44} {fsync:>9.0f}/s")
        bare = limits.bare_sqlite_rate(directory)
        lines.append(_limit_line("bare sqlite txn (update + insert, FULL)", bare, fsync))
        rows = limits.bare_sqlite_rate(directory, inserts=limits.SPEND_ROWS)
        lines.append(
            _limit_line(f"bare sqlite txn (update + {limits.SPEND_ROWS} inserts)", rows, fsync)
        )
        for result in run_database(
            "sqlite",
            sqlite_url(directory / "bench.sqlite3"),
            bare,
            rows,
            wallets=wallets,
            seconds=seconds,
            threads=threads,
        ):
            lines.append(result.line())
        if postgresql_url:
            dsn = (
                make_url(postgresql_url)
                .set(drivername="postgresql")
                .render_as_string(hide_password=False)
            )
            bare_pg = limits.bare_postgresql_rate(dsn)
            lines.append(_limit_line("bare postgresql txn (update + insert)", bare_pg, fsync))
            rows_pg = limits.bare_postgresql_rate(dsn, inserts=limits.SPEND_ROWS)
            label = f"bare postgresql txn (update + {limits.SPEND_ROWS} inserts)"
            lines.append(_limit_line(label, rows_pg, fsync))
            for result in run_database(
                "postgresql",
                postgresql_url,
                bare_pg,
                rows_pg,
                wallets=wallets,
                seconds=seconds,
                threads=threads,
            ):
                lines.append(result.line())
    return lines
