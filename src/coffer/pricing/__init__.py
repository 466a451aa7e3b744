"""Billing policies (discounts), charge events (bonus cash) and the quote engine."""
