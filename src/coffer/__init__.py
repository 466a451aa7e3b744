"""Coffer: prepaid-cash billing for online services."""
