"""Supported-project routes: owners report, departments assess, close and watch their portfolio,
analysts see the region's summary."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.openapi.spec import Example
from litestar.params import JSONBody, PathParameter, QueryParameter

from server.audit.services import record
from server.deps import AppSettings, DbEngine
from server.projects import services
from server.projects.schemas import (
    AssessmentIn,
    CloseIn,
    PortfolioOut,
    ProjectOut,
    ProjectSummaryOut,
    SelfEvaluationIn,
    TrackRun,
)
from server.projects.tracking import track_projects
from server.users.security import AuthUser, requires

RowId = Annotated[int, PathParameter(ge=1, le=2_147_483_647)]
Status = Literal["on_track", "behind", "failed", "completed"]


class ProjectController(Controller):
    path = "/api/projects"
    tags = ["projects"]

    @get("/", roles=requires("owner", "dept_operator", "admin"),
         summary="Owner: the firm's supported projects; operator: the department's; admin: all")
    async def list_all(
        self, request: Request[AuthUser, Any, Any],
        status: Annotated[Status | None, QueryParameter(examples=[Example(value="behind")])] = None,
    ) -> list[ProjectOut]:
        return await services.list_projects(request.user, status)

    @get("/portfolio", roles=requires("dept_operator"),
         summary="The department's projects: on track, behind, failed, completed; money granted; outcomes")
    async def portfolio(self, request: Request[AuthUser, Any, Any]) -> PortfolioOut:
        return await services.portfolio(request.user)

    @get("/summary", roles=requires("analyst", "admin"),
         summary="The region's projects per department (withheld below K firms)")
    async def summary(self, settings: AppSettings) -> ProjectSummaryOut:
        return await services.summary(settings.min_group_size)

    @post("/track", roles=requires("admin"), status_code=200,
          summary="Run the monthly tracking of every open project now (the scheduler runs it daily)")
    async def track(self, request: Request[AuthUser, Any, Any], engine: DbEngine) -> TrackRun:
        done = await track_projects(engine)
        await record(request.user, "projects.track", "region", {
            "projects": done.projects, "checks": done.checks, "notified": done.notified, "reminded": done.reminded})
        return TrackRun(projects=done.projects, checks=done.checks, notified=done.notified, reminded=done.reminded)

    @get("/{project_id:int}", roles=requires("owner", "dept_operator", "admin"),
         summary="One project: promises against the data, milestones, reports and each month's finding")
    async def one(self, request: Request[AuthUser, Any, Any], project_id: RowId) -> ProjectOut:
        return await services.get_project(request.user, project_id)

    @post("/{project_id:int}/self-evaluations", roles=requires("owner"), status_code=201,
          summary="The owner's self-evaluation of a milestone (one per milestone: 409 on a second)")
    async def self_evaluate(self, request: Request[AuthUser, Any, Any], project_id: RowId, engine: DbEngine,
                            data: JSONBody[SelfEvaluationIn]) -> ProjectOut:
        return await services.self_evaluate(engine, request.user, project_id, data)

    @post("/{project_id:int}/assessments", roles=requires("dept_operator"), status_code=201,
          summary="The department's or a third party's assessment of a milestone (one per milestone)")
    async def assess(self, request: Request[AuthUser, Any, Any], project_id: RowId, engine: DbEngine,
                     data: JSONBody[AssessmentIn]) -> ProjectOut:
        return await services.assess(engine, request.user, project_id, data)

    @post("/{project_id:int}/close", roles=requires("dept_operator"), status_code=200,
          summary="The result evaluation: judge the promises on the data, close with a score")
    async def close(self, request: Request[AuthUser, Any, Any], project_id: RowId, engine: DbEngine,
                    data: JSONBody[CloseIn]) -> ProjectOut:
        return await services.close(engine, request.user, project_id, data)
