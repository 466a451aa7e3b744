"""The PG-facing endpoints: the member's browser on its way to and from the PG, and webhooks.

These carry no API key: the browser routes act only on a charge still waiting for them (and the
PG's answer is confirmed server to server), and a webhook is verified by the contract's webhook
secret before anything in it is read.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from coffer.api.context import RuntimeDep
from coffer.api.fields import object_id
from coffer.kernel.errors import CofferError
from coffer.payments import charging
from coffer.payments.charges import Charge, charge_by_id

router = APIRouter(prefix="/pg", tags=["pg"], include_in_schema=False)


def _charge_id(value: str) -> UUID:
    return object_id(value, "charge_not_found", "No such charge.")


def back_to_service(charge: Charge, problem: str | None = None) -> RedirectResponse:
    """Send the browser to the service's ``return_url`` with the charge's id and status."""
    parts = urlsplit(charge.return_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [("charge_id", str(charge.id)), ("status", charge.status)]
    if problem:
        query.append(("problem", problem))
    return RedirectResponse(urlunsplit(parts._replace(query=urlencode(query))), status_code=303)


@router.get("/checkout/{charge_id}", name="pg_checkout")
def checkout(charge_id: str, request: Request, runtime: RuntimeDep) -> RedirectResponse:
    """Hand the member to the PG's hosted checkout page."""
    cid = _charge_id(charge_id)
    payments = runtime.payments()
    try:
        url = charging.checkout_url(
            payments,
            cid,
            success_url=str(request.url_for("pg_return_success", charge_id=str(cid))),
            fail_url=str(request.url_for("pg_return_fail", charge_id=str(cid))),
        )
    except CofferError as error:
        if error.code == "charge_not_found":
            raise
        charge = runtime.db.read(lambda conn: charge_by_id(conn, cid))
        return back_to_service(charge, error.code)
    return RedirectResponse(url, status_code=303)


@router.get("/return/{charge_id}/success", name="pg_return_success")
def return_success(charge_id: str, request: Request, runtime: RuntimeDep) -> RedirectResponse:
    """The PG sends the member back here after authorising: confirm, credit, move on."""
    cid = _charge_id(charge_id)
    payments = runtime.payments()
    try:
        result = charging.complete_return(payments, cid, dict(request.query_params))
    except CofferError as error:
        if error.code == "charge_not_found":
            raise
        charge = runtime.db.read(lambda conn: charge_by_id(conn, cid))
        return back_to_service(charge, error.code)
    return back_to_service(result.charge, result.problem)


@router.get("/return/{charge_id}/fail", name="pg_return_fail")
def return_fail(charge_id: str, request: Request, runtime: RuntimeDep) -> RedirectResponse:
    """The member gave up on the PG's page, or the PG refused there."""
    charge = charging.fail_return(
        runtime.payments(), _charge_id(charge_id), dict(request.query_params)
    )
    return back_to_service(charge)


@router.post("/webhooks/{contract_id}")
async def webhook(contract_id: str, request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """A PG's webhook: 401 ``invalid_webhook`` unless its signature verifies; 200 otherwise.

    ``result`` is ``applied``, ``duplicate`` (this event id was seen before) or ``unmatched``.
    """
    cid = object_id(contract_id, "pg_contract_not_found", "No such PG contract.")
    body = await request.body()
    headers = dict(request.headers)
    result = await run_in_threadpool(
        charging.receive_webhook, runtime.payments(), cid, headers, body
    )
    return {"result": result}
