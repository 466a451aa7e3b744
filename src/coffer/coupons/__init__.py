"""Coupon campaigns, their codes, and redemption."""
