"""The ``/api/v1`` resources, one module per group of endpoints."""
