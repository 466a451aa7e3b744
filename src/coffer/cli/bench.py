"""``coffer bench …``: run the benchmarks in ``bench/`` (a source checkout is needed)."""

from __future__ import annotations

import os

import typer

app = typer.Typer(no_args_is_help=True, help="Benchmarks (figures as ratios to raw limits).")


@app.command("ledger")
def ledger_bench(
    postgresql: str | None = typer.Option(
        None,
        help="PostgreSQL URL to benchmark too (default COFFER_BENCH_DATABASE_URL, "
        "then COFFER_TEST_DATABASE_URL).",
    ),
    wallets: int = typer.Option(10_000, help="Wallets in the many-wallets run."),
    seconds: float = typer.Option(5.0, help="Seconds per measurement."),
    threads: int = typer.Option(8, help="Threads in the multi-threaded runs."),
) -> None:
    """Spends/s on one hot wallet and across many, against fsync and bare-transaction rates."""
    try:
        from bench import ledger
    except ImportError as error:  # pragma: no cover - installed without the source tree
        raise typer.BadParameter("benchmarks need a source checkout (bench/)") from error
    url = _postgresql_url(postgresql)
    for line in ledger.main(postgresql_url=url, wallets=wallets, seconds=seconds, threads=threads):
        typer.echo(line)


def _postgresql_url(given: str | None) -> str | None:
    return (
        given
        or os.environ.get("COFFER_BENCH_DATABASE_URL")
        or os.environ.get("COFFER_TEST_DATABASE_URL")
    )


@app.command("purchase")
def purchase_bench(
    postgresql: str | None = typer.Option(
        None,
        help="PostgreSQL URL to benchmark too (default COFFER_BENCH_DATABASE_URL, "
        "then COFFER_TEST_DATABASE_URL).",
    ),
    wallets: int = typer.Option(10_000, help="Wallets in the many-wallets run."),
    seconds: float = typer.Option(5.0, help="Seconds per measurement."),
    threads: int = typer.Option(8, help="Threads in the multi-threaded runs."),
    spends: bool = typer.Option(True, help="Also measure the ledger's spends/s for reference."),
) -> None:
    """One-line item purchases/s on one hot wallet and across many, against raw limits."""
    try:
        from bench import purchase
    except ImportError as error:  # pragma: no cover - installed without the source tree
        raise typer.BadParameter("benchmarks need a source checkout (bench/)") from error
    lines = purchase.main(
        postgresql_url=_postgresql_url(postgresql),
        wallets=wallets,
        seconds=seconds,
        threads=threads,
        spends=spends,
    )
    for line in lines:
        typer.echo(line)
