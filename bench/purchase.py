"""``coffer bench purchase``: one-line item purchases per second, on one hot wallet and many.

Each purchase is what ``POST /api/v1/purchases`` does below HTTP: look the product up, check it,
lock the wallet, spend (journal, postings, lot draw, ``cash.spent``), grant the item, write the
purchase, its line and its revenue row, and queue ``purchase.completed`` — one transaction,
one commit. Figures are printed next to the ledger benchmark's raw limits measured in the same
run (``bench.limits``: fsync, the bare transaction, the same-rows transaction of a spend) plus
a bare transaction writing as many rows as a purchase, and, for reference, the ledger's own
spend rate measured in the same run. Nothing here is a pass/fail assertion.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url
from sqlalchemy.engine import Connection

from bench import ledger as ledger_bench
from bench import limits
from coffer import app
from coffer.catalog import products, providers
from coffer.catalog.model import Product
from coffer.db.engine import make_engine, sqlite_url
from coffer.db.transaction import Database
from coffer.kernel.clock import SystemClock
from coffer.ledger import service as ledger
from coffer.migrations import upgrade
from coffer.pricing.versioned import POLICIES
from coffer.purchases import buying
from coffer.purchases.records import Buyer
from coffer.tenancy.model import Service

SETUP_BATCH = 500

#: Rows a one-line item purchase inserts besides the wallet update: the spend's rows
#: (``limits.SPEND_ROWS``) plus the purchase, its line, its revenue row, the entitlement and
#: the ``purchase.completed`` outbox job.
PURCHASE_ROWS = limits.SPEND_ROWS + 5


@dataclass(frozen=True)
class Limits:
    """The raw limits of one database, measured in this run."""

    name: str
    bare: float
    spend_rows: float
    purchase_rows: float


@dataclass(frozen=True)
class Result:
    label: str
    rate: float
    limits: Limits
    spends: float | None

    def line(self) -> str:
        text = (
            f"{self.label:<48} {self.rate:>8.0f}/s   "
            f"{self.rate / self.limits.bare:>5.2f}x bare {self.limits.name} txn "
            f"({self.limits.bare:.0f}/s)   "
            f"{self.rate / self.limits.purchase_rows:>5.2f}x same-rows txn"
        )
        if self.spends:
            text += f"   {self.rate / self.spends:>5.2f}x spends"
        return text


def _shop(db: Database, count: int, balance: int) -> tuple[Service, Product, list[Buyer]]:
    """A service selling one durable item at 1, and ``count`` members holding ``balance``."""
    clock = SystemClock()

    def open_shop(conn: Connection) -> tuple[Service, Product]:
        service, _key = app.create_service(
            conn, name=f"bench-{random.randrange(1 << 30)}", currency="KRW",
            timezone="Asia/Seoul", clock=clock,
        )  # fmt: skip
        cp = providers.create_provider(conn, service.id, name="bench", now=clock.now())
        item = products.create_product(
            conn, service.id,
            {"sku": "BENCH-ITEM", "kind": "item", "cp_id": cp.id, "name_ko": "bench",
             "name_en": "bench", "price": 1, "consumable": False},
            now=clock.now(), status="on_sale",
        )  # fmt: skip
        return service, item

    service, item = db.write(open_shop)
    buyers: list[Buyer] = []
    for start in range(0, count, SETUP_BATCH):

        def batch(conn: Connection, start: int = start) -> list[Buyer]:
            made: list[Buyer] = []
            for i in range(start, min(start + SETUP_BATCH, count)):
                member = app.create_member(conn, service, f"p{i}", clock=clock)
                wallet = app.wallet_ref(service, member)
                ledger.grant(
                    conn, wallet, amount=balance, kind="paid", source="api", actor="bench",
                    now=clock.now(),
                )  # fmt: skip
                made.append((member, wallet))
            return made

        buyers.extend(db.write(batch))
    return service, item, buyers


def _purchase_rate(
    db: Database,
    service: Service,
    item: Product,
    pick: Callable[[], Buyer],
    seconds: float,
    threads: int,
) -> float:
    clock = SystemClock()

    def buy_one() -> None:
        buyer = pick()
        db.write(
            lambda c: buying.purchase(
                c, service, buyer, [(item.id, 1)], gift_to=None, actor="bench", now=clock.now(),
            )
        )  # fmt: skip

    return limits.throughput(buy_one, seconds=seconds, threads=threads)


#: Live policies the last run prices against: each is read, checked and left out (a grade
#: nobody has, a first-purchase rule, and buy 2 get 1 on one-unit lines), so the figure is the
#: cost of pricing with policies live, not of a cheaper (discounted) spend.
LIVE_POLICIES: tuple[tuple[str, dict[str, object]], ...] = (
    ("vip only", {"conditions": {"grades": ["vip"]},
                  "effect": {"kind": "percent_off", "value": 1000}}),
    ("welcome", {"conditions": {"first_purchase": True, "min_amount": 1000},
                 "effect": {"kind": "amount_off", "value": 1}}),
    ("2+1", {"effect": {"kind": "buy_n_get_m", "buy": 2, "get": 1}, "stacking": "stackable"}),
)  # fmt: skip


def _live_policies(conn: Connection, service: Service) -> None:
    now = SystemClock().now()
    for name, rule in LIVE_POLICIES:
        made = POLICIES.create(
            conn, service.id, name=name, rule=rule, budget=None, actor="bench", now=now
        )
        POLICIES.activate(conn, service.id, made.id, now=now)


def run_database(
    url: str, raw: Limits, *, wallets: int, seconds: float, threads: int, spends: bool
) -> list[str]:
    """Purchases/s in the three ledger-bench shapes, each against ``raw`` and (optionally) the
    ledger's spends/s on the same database in the same run."""
    db = Database(make_engine(url, pool_size=threads + 2))
    try:
        upgrade(db.engine)
        service, item, many = _shop(db, wallets, 10**9)
        hot = many[0]
        runs: list[tuple[str, Callable[[], Buyer], int]] = [
            ("1 hot wallet, 1 thread", lambda: hot, 1),
            (f"1 hot wallet, {threads} threads", lambda: hot, threads),
            (f"{wallets} wallets, {threads} threads", lambda: random.choice(many), threads),
        ]
        rates = [
            (label, _purchase_rate(db, service, item, pick, seconds, count))
            for label, pick, count in runs
        ]
        db.write(lambda conn: _live_policies(conn, service))
        label = f"{wallets} wallets, {threads} threads, 3 live policies"
        rates.append((label, _purchase_rate(db, service, item, runs[2][1], seconds, threads)))
    finally:
        db.dispose()
    spend_rates: list[float | None] = [None] * len(rates)
    lines: list[str] = []
    if spends:
        measured = ledger_bench.run_database(
            raw.name, url, raw.bare, raw.spend_rows, wallets=wallets, seconds=seconds,
            threads=threads,
        )  # fmt: skip
        spend_rates = [result.rate for result in measured] + [None]
        lines += [result.line() for result in measured]
    lines += [
        Result(f"{raw.name}: purchases, {label}", rate, raw, spend).line()
        for (label, rate), spend in zip(rates, spend_rates, strict=True)
    ]
    return lines


def _limit_line(label: str, rate: float, fsync: float) -> str:
    return f"{label:<48} {rate:>8.0f}/s   {rate / fsync:>5.2f}x fsync"


def _raw_limits(
    name: str, measure: Callable[[int], float], fsync: float, lines: list[str]
) -> Limits:
    """The bare, spend-rows and purchase-rows transactions of one database (``bench.limits``)."""
    found = {rows: measure(rows) for rows in (1, limits.SPEND_ROWS, PURCHASE_ROWS)}
    lines.append(_limit_line(f"bare {name} txn (update + insert)", found[1], fsync))
    for rows in (limits.SPEND_ROWS, PURCHASE_ROWS):
        lines.append(_limit_line(f"bare {name} txn (update + {rows} inserts)", found[rows], fsync))
    return Limits(name, found[1], found[limits.SPEND_ROWS], found[PURCHASE_ROWS])


def main(
    *,
    postgresql_url: str | None,
    wallets: int,
    seconds: float,
    threads: int,
    spends: bool = True,
) -> list[str]:
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="coffer-bench-") as tmp:
        directory = Path(tmp)
        fsync = limits.fsync_rate(directory)
        lines.append(f"{'fsync (write 1 byte + fsync)':<48} {fsync:>8.0f}/s")
        sqlite = _raw_limits(
            "sqlite", lambda rows: limits.bare_sqlite_rate(directory, inserts=rows), fsync, lines
        )
        lines += run_database(
            sqlite_url(directory / "bench.sqlite3"), sqlite, wallets=wallets, seconds=seconds,
            threads=threads, spends=spends,
        )  # fmt: skip
        if postgresql_url:
            dsn = (
                make_url(postgresql_url)
                .set(drivername="postgresql")
                .render_as_string(hide_password=False)
            )
            postgresql = _raw_limits(
                "postgresql", lambda rows: limits.bare_postgresql_rate(dsn, inserts=rows), fsync,
                lines,
            )  # fmt: skip
            lines += run_database(
                postgresql_url, postgresql, wallets=wallets, seconds=seconds, threads=threads,
                spends=spends,
            )  # fmt: skip
    return lines
