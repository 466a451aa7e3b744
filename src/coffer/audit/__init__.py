"""The audit log: one append-only, hash-chained row for every admin action that changes anything."""
