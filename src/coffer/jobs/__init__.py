"""Entry-point layer: the job queue, the worker loop, the schedule and outgoing webhooks."""
