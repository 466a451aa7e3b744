"""Purchases of catalog products with cash, and their use-cancellation."""
