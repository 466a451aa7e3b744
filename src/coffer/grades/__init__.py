"""Customer grades: rules over paid charges, the daily recompute, overrides and history."""
