"""Four-eyes approvals: admin actions that wait for a second admin before they take effect.

For now one kind: a cash grant at or above the service's ``grant_approval_threshold``. This
package keeps the request and its decision only; the entry point that approves performs the
grant in the same transaction as the decision.
"""
