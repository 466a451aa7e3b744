"""Charging cash through payment gateways (DESIGN section 8).

``gateways`` holds the Gateway port and its adapters; they import the kernel only and never move
money.
"""
