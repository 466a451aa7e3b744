"""The sandbox PG: a realistic test payment gateway (its own process, port and SQLite file).

An entry point: it imports only :mod:`coffer.kernel` and its own modules. See docs/sandbox-pg.md.
"""
