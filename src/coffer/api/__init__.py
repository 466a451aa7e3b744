"""The open REST API (``/api/v1``): FastAPI routers, request and response bodies, auth,
idempotency keys and the error envelope. Build the app with :func:`coffer.api.asgi.create_app`.
"""
