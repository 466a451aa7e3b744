"""Members: create, read, change grade or status."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.engine import Connection

from coffer import app
from coffer.api.auth import CallerDep
from coffer.api.context import RuntimeDep
from coffer.api.fields import member_key
from coffer.api.requests import MemberCreate, MemberUpdate
from coffer.api.responses import MemberOut
from coffer.grades import service as grades
from coffer.tenancy import service as tenancy

router = APIRouter(tags=["members"])


@router.post("/members", status_code=201, response_model=MemberOut)
def create_member(body: MemberCreate, caller: CallerDep, runtime: RuntimeDep) -> MemberOut:
    """Create a member with an empty wallet (409 `member_exists` if the id is taken)."""
    member = runtime.db.write(
        lambda conn: app.create_member(
            conn, caller.service, body.external_id, clock=runtime.clock, grade=body.grade
        )
    )
    return MemberOut.of(member)


@router.get("/members/{external_id}", response_model=MemberOut)
def get_member(external_id: str, caller: CallerDep, runtime: RuntimeDep) -> MemberOut:
    key = member_key(external_id)
    member = runtime.db.read(lambda conn: tenancy.get_member(conn, caller.service.id, key))
    return MemberOut.of(member)


@router.patch("/members/{external_id}", response_model=MemberOut)
def update_member(
    external_id: str, body: MemberUpdate, caller: CallerDep, runtime: RuntimeDep
) -> MemberOut:
    """Change the grade, or suspend (`suspended`), reactivate (`active`) or close (`closed`).

    A grade change is recorded in the member's grade history (source `api`); when the service
    has grade rules, the daily recompute may change it again (an override is an admin's).

    A closed member cannot be reopened (409 `member_closed`); a member with active holds
    cannot be closed (409 `member_has_active_holds`).
    """
    key = member_key(external_id)
    service_id = caller.service.id
    now = runtime.clock.now()

    def change(conn: Connection) -> MemberOut:
        member = tenancy.get_member(conn, service_id, key)
        if body.grade is not None:
            grades.set_grade(
                conn, service_id, member, body.grade, source="api", detail=None,
                actor=caller.actor, now=now,
            )  # fmt: skip
            member = tenancy.get_member(conn, service_id, key)
        if body.status is not None and body.status != member.status:
            member = app.change_member_status(
                conn, caller.service, key, body.status, clock=runtime.clock
            )
        return MemberOut.of(member)

    return runtime.db.write(change)
