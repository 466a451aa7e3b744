"""What-if: replay a draft policy or event over the last days of real purchases and charges."""
