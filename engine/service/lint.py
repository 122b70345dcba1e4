"""Loading what :mod:`engine.lint` checks: an organisation's policies, the schedules they page and its
users. Read-only."""

from __future__ import annotations

from engine import lint as lint_engine
from engine.errors import NotFound
from engine.model import Policy, Schedule
from engine.service import Ctx
from engine.service.drills import drill_zone
from engine.service.orgs import active_user_ids, user_names
from engine.service.policies import find_policy, load_policy_model
from engine.service.schedules import load_schedule_model
from storage.queries import policies as policy_queries
from storage.queries import schedules as schedule_queries


def lint(ctx: Ctx, policy: str | None = None, *, weeks: int = 4) -> list[lint_engine.Finding]:
    """Findings for one policy (by name or id) and the schedules it pages, or, with ``policy=None``,
    every policy and every schedule of the organisation. Ordered errors first."""
    with ctx.db.read():
        names = user_names(ctx)
        active = frozenset(active_user_ids(ctx))
        if policy is not None:
            ids = [find_policy(ctx, policy)["id"]]
        else:
            ids = policy_queries.policy_ids(ctx.db, ctx.org_id)
        plans: list[Policy] = [load_policy_model(ctx.db, pid) for pid in ids]
        schedules: dict[str, Schedule] = {}
        if policy is None:
            wanted = schedule_queries.schedule_ids(ctx.db, ctx.org_id)
        else:
            wanted = [la.target.schedule_id for p in plans for la in p.layers if la.target.type == "schedule"]  # type: ignore[misc]
        for sid in wanted:
            if sid and sid not in schedules:
                try:
                    schedules[sid] = load_schedule_model(ctx.db, sid)
                except NotFound:
                    pass
        zones = {plan.id: drill_zone(ctx.db, plan) for plan in plans}
    start, end = lint_engine.window(ctx.now(), weeks)
    findings: list[lint_engine.Finding] = []
    for plan in plans:
        findings += lint_engine.lint_policy(plan, schedules, active, names, start, end, zones[plan.id])
    for sched in schedules.values():
        findings += lint_engine.lint_schedule(sched, active, names, start, end)
    return lint_engine.sort_findings(findings)
