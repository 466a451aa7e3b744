"""What members own: items, passes, quantities and play time, and the usage that spends them."""
