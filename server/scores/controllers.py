"""Admin routes for weight profiles (dynamic weight adjustment), hard-override rules and model
versions (the list, and promoting one that waits for confirmation)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.params import JSONBody, PathParameter

from server.deps import AppSettings, DbEngine, TrainingRuns
from server.scores import health, models, services
from server.scores.profile_change import apply_profile, in_force_on_latest, preview_profile
from server.scores.schemas import (
    ModelHealthOut,
    ModelPromote,
    ModelTrain,
    ModelVersionOut,
    OverrideRuleSetOut,
    OverrideRuleSetRevise,
    ProfilePreview,
    TrainingOut,
    WeightProfileCreate,
    WeightProfileOut,
)
from server.scores.training import start_training, training_status
from server.users.security import AuthUser, requires


class WeightProfileController(Controller):
    path = "/api/weight-profiles"
    tags = ["model"]
    opt = {"roles": requires("admin")}

    @post("/", summary="Create a weight profile, or a new version of one with the same name")
    async def create(self, request: Request[AuthUser, Any, Any], data: JSONBody[WeightProfileCreate],
                     settings: AppSettings, engine: DbEngine) -> Response[WeightProfileOut]:
        out = await services.create_or_revise(request.user, data)
        if not await in_force_on_latest(out.version):  # it applies from the first run on its start
            return Response(out, status_code=201)
        out.rescoring = True  # in force today: the region is re-scored with it after the answer
        return Response(out, status_code=201, background=BackgroundTask(
            apply_profile, settings, engine, out.version))

    @get("/", summary="Every version of every weight profile, oldest first")
    async def list_all(self) -> list[WeightProfileOut]:
        return await services.list_profiles()

    @post("/preview", status_code=200,
          summary="Who a weight profile would move: grades with and without it on the latest scoring date",
          description="Nothing is stored. The same body as creating the profile; the answer counts the "
                      "firms changing grade (up, down, by two or more, the migration matrix) and lists "
                      "the largest moves by name. 409 before the region is scored.")
    async def preview(self, request: Request[AuthUser, Any, Any], data: JSONBody[WeightProfileCreate],
                      settings: AppSettings, engine: DbEngine) -> ProfilePreview:
        return await preview_profile(engine, settings, request.user, data)


class OverrideRuleController(Controller):
    path = "/api/override-rules"
    tags = ["model"]
    opt = {"roles": requires("admin")}

    @post("/", summary="Revise the hard-override rules (enable, disable, thresholds) with a reason")
    async def revise(self, request: Request[AuthUser, Any, Any],
                     data: JSONBody[OverrideRuleSetRevise]) -> OverrideRuleSetOut:
        return await services.revise_override_rules(request.user, data)

    @get("/", summary="Every version of the override rules, oldest first (the last is in force)")
    async def list_all(self) -> list[OverrideRuleSetOut]:
        return await services.list_override_rules()


ModelVersionName = Annotated[str, PathParameter(min_length=1, max_length=64, description="a model version")]


class ModelVersionController(Controller):
    path = "/api/models"
    tags = ["model"]
    opt = {"roles": requires("admin")}

    @get("/", summary="Every model version, newest first: active, waiting, grade changes, the scale")
    async def list_all(self) -> list[ModelVersionOut]:
        return await models.list_models()

    @get("/health", summary="The model's health on matured outcomes (the latest check; made now if none)")
    async def model_health(self, engine: DbEngine, settings: AppSettings) -> ModelHealthOut | None:
        data = await health.latest_model_health()
        if data is None:
            data = await health.check_model_health(engine, settings)
        return None if data is None else msgspec.convert(data, ModelHealthOut)

    @post("/health", status_code=200, summary="Check the model's health now and store the result")
    async def check_health(self, request: Request[AuthUser, Any, Any], engine: DbEngine,
                           settings: AppSettings) -> ModelHealthOut | None:
        data = await health.check_model_health(engine, settings, actor=request.user)
        return None if data is None else msgspec.convert(data, ModelHealthOut)

    @post("/train", status_code=202,
          summary="Train a new model version on the platform's history (in the background)",
          description="Answers at once with the run's status; follow it with GET /api/models/training. One run "
                      "at a time (409 while one runs). With review (the default) the new version waits for "
                      "POST /api/models/{version}/promote.")
    async def train(self, request: Request[AuthUser, Any, Any], data: JSONBody[ModelTrain], settings: AppSettings,
                    engine: DbEngine, training_runs: TrainingRuns) -> TrainingOut:
        return await start_training(settings, engine, training_runs, request.user, data.review, data.as_of)

    @get("/training", summary="The latest training run: idle, running, done (with its version) or failed")
    async def training(self) -> TrainingOut:
        return await training_status()

    @post("/{version:str}/promote", status_code=200,
          summary="Make a model version the active one (confirm: true when it moves many grades)",
          description="A version that gives more than the configured share of firms another grade than "
                      "the active model waits for this confirmation. The region is re-scored with the "
                      "promoted model after the answer (rescoring: true).")
    async def promote(self, request: Request[AuthUser, Any, Any], version: ModelVersionName,
                      data: JSONBody[ModelPromote], settings: AppSettings, engine: DbEngine) -> Response[ModelVersionOut]:
        out = await models.promote_model(version, data.confirm, settings, request.user.id, request.user)
        if not out.rescoring:
            return Response(out)
        return Response(out, background=BackgroundTask(models.rescore_with, settings, version, engine))
