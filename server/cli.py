"""The ``xinbao`` command: serve, worker, migrate, generate, ingest, train, score, demo."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import date
from pathlib import Path

import click

from server.settings import Settings

__all__ = ["main"]


def _settings(demo: bool = False) -> Settings:
    return Settings.from_env(demo=demo or None)


@click.group(help="Xinbao (信宝) enterprise credit platform.")
def main() -> None:
    from server.runtime import tune_memory

    tune_memory()


@main.command(help="Apply database migrations (SQLite or PostgreSQL from XINBAO_DATABASE_URL).")
def migrate() -> None:
    from server import db

    async def run() -> None:
        engine = await db.open_engine(_settings(demo=True).database_url)
        try:
            await db.migrate(engine)
        finally:
            await db.close(engine)

    asyncio.run(run())


#: How ``xinbao serve`` and ``xinbao demo`` run uvicorn (and ``benchmarks/api_load.py`` its
#: trivial app, to compare like with like). X-Forwarded-For is read only from
#: ``settings.trusted_proxies``. No line per request: uvicorn's access log costs about 8 % of a
#: light request's server time (measured with py-spy under load); ``--access-log`` turns it on.
UVICORN_OPTIONS: dict = {"log_level": "info", "proxy_headers": False, "access_log": False}


@main.command(help="Serve the API with uvicorn.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="API processes sharing the port; every piece of state is in the database or Redis.")
@click.option("--scheduler/--no-scheduler", default=False, help="Run the scheduled jobs in-process.")
@click.option("--access-log/--no-access-log", default=False, show_default=True,
              help="Log one line per request.")
def serve(host: str, port: int, workers: int, scheduler: bool, access_log: bool) -> None:
    import uvicorn

    if scheduler:
        if workers > 1:
            raise click.UsageError("--scheduler runs the jobs in one API process: with --workers, "
                                   "run `xinbao worker` beside the API instead")
        os.environ["XINBAO_SCHEDULER"] = "1"
    settings = _settings()
    options = {**UVICORN_OPTIONS, "access_log": access_log}
    if workers > 1:
        if not settings.redis_url:
            raise click.UsageError("--workers needs Redis (XINBAO_REDIS_URL): pushes, caches, locks and "
                                   "rate limits are shared through it")
        if settings.is_sqlite:
            raise click.UsageError("--workers needs PostgreSQL (XINBAO_DATABASE_URL)")
        # Each worker process builds its own app from the same environment.
        uvicorn.run("server.app:create_app", factory=True, host=host, port=port, workers=workers, **options)
        return
    from server.app import create_app

    uvicorn.run(create_app(settings), host=host, port=port, **options)


@main.command(help="Run the scheduler alone (one instance per deployment).")
def worker() -> None:
    import logging

    from server.jobs import run_worker

    # The worker's own lines (which job ran for which fire time, which it found done).
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    asyncio.run(run_worker(_settings()))


@main.command(help="Generate a synthetic county and write its department feeds.")
@click.option("--firms", "n_firms", default=2000, show_default=True, type=int)
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--out", "out_dir", default="data/region", show_default=True, type=click.Path())
@click.option("--format", "fmt", default="csv", type=click.Choice(["csv", "jsonl"]), show_default=True)
@click.option("--density", "density", default=None, type=click.IntRange(min=1),
              metavar="RECORDS_PER_FIRM",
              help="Write the monthly tax, utility and customs rows in parts (invoice lines, meter "
                   "reads, declarations) until the region has about this many records per firm; "
                   "written in chunks, so memory stays that of the base region.")
def generate(n_firms: int, seed: int, out_dir: str, fmt: str, density: int | None) -> None:
    import time

    from server.demo.synth import generate_region, plan_density, write_feeds

    t0 = time.perf_counter()
    region = generate_region(n_firms, seed)
    plan = None
    if density is not None:
        try:
            plan = plan_density(region, density, seed=seed)
        except ValueError as exc:
            raise click.UsageError(f"--density: {exc}") from exc
    t1 = time.perf_counter()
    files = write_feeds(region, Path(out_dir), fmt=fmt, density=plan)
    t2 = time.perf_counter()
    records = plan.records if plan is not None else len(region.records)
    click.echo(json.dumps({
        "firms": n_firms, "records": records, "records_per_firm": round(records / n_firms, 1),
        "seed": seed, "out": out_dir,
        "generate_s": round(t1 - t0, 2), "write_s": round(t2 - t1, 2), "files": len(files),
    }))


@main.command(help="Ingest a department file (CSV or JSON Lines) for one source.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--source", required=True, help="Feed name, e.g. tax_monthly, firms, guarantees.")
@click.option("--backfill", is_flag=True,
              help="The file is the department's archive: its records count as known from their "
                   "event date when the model trains on past dates.")
def ingest(file: str, source: str, backfill: bool) -> None:
    from server import db
    from server.after_ingest import after_ingest
    from server.ingest.parse import detect_format, iter_file
    from server.ingest.services import IngestError, file_sha256
    from server.ingest.services import ingest as run_ingest

    settings = _settings(demo=True)

    async def run() -> int:
        engine = await db.open_engine(settings.database_url)
        try:
            with open(file, "rb") as fh:
                head = fh.read(64)
            fmt = detect_format(file, None, head)
            result = await run_ingest(engine, source, iter_file(file), fmt, filename=Path(file).name,
                                      person_salt=settings.person_id_salt, backfill=backfill,
                                      fingerprint=file_sha256(file))
            # What follows a stored batch, as the ingest route does it.
            after = await after_ingest(engine, settings, result.touched_usccs)
        except IngestError as exc:
            click.echo(json.dumps({"error": {"field": exc.field, "message": exc.message}},
                                  ensure_ascii=False), err=True)
            return 2
        finally:
            await db.close(engine)
        click.echo(json.dumps({
            "accepted": result.accepted, "duplicates": result.duplicates,
            "rejected": [{"row": r.row, "field": r.field, "message": r.message} for r in result.rejected[:1000]],
            "rejected_rows": result.rejected_rows, "batch_id": result.batch_id, "rows": result.rows,
            "resumed_after": result.resumed_after,
            "rescored": 0 if after is None or after.rescore is None else len(after.rescore.scores),
            "warnings_raised": 0 if after is None else after.scan.raised,
        }, ensure_ascii=False))
        return 0

    sys.exit(asyncio.run(run()))


@main.command(help="Train a model: on the platform's data, or on any CSV (--csv/--target).")
@click.option("--csv", "csv_path", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--target", default=None, help="Target column of the CSV.")
@click.option("--bad", default=None, help="Target value meaning default (else 1).")
@click.option("--as-of", "as_of", default=None, help="Training date for platform data (YYYY-MM-DD).")
@click.option("--bags", type=click.IntRange(1, 100), default=None,
              help="With --csv: fits in the scorecard's committee (default 20).")
@click.option("--rounds", type=click.IntRange(1, 100_000), default=None,
              help="With --csv: boosting rounds per fit (default 2,000).")
def train(csv_path: str | None, target: str | None, bad: str | None, as_of: str | None,
          bags: int | None, rounds: int | None) -> None:
    settings = _settings(demo=True)
    if csv_path:
        if not target:
            raise click.UsageError("--target is required with --csv")
        from scoring.cli import train_csv

        params = {k: v for k, v in (("n_bags", bags), ("max_iter", rounds)) if v is not None}
        version = train_csv(csv_path, target, bad=bad, registry_dir=settings.model_dir, **params)
        click.echo(version)
        return
    from server.scores.pipeline import train_platform_model

    version = asyncio.run(train_platform_model(settings, as_of=date.fromisoformat(as_of) if as_of else None))
    state = asyncio.run(_model_state(settings, version))
    changes = state["grade_changes"] or {}
    if changes:
        click.echo(f"{changes['changed']} of {changes['firms']} firms ({changes['share']:.1%}) change grade "
                   f"against {changes['against']}", err=True)
    if state["awaiting_confirmation"]:
        click.echo(f"not activated: over {settings.grade_change_confirm_share:.1%}; an admin promotes it with "
                   f"`xinbao promote {version} --confirm` or POST /api/models/{version}/promote", err=True)
    click.echo(version)


async def _on_database(settings: Settings, work):
    """Run ``await work(engine)`` on the settings' database, opened and closed around it."""
    from server import db

    engine = await db.open_engine(settings.database_url)
    try:
        return await work(engine)
    finally:
        await db.close(engine)


async def _model_state(settings: Settings, version: str) -> dict:
    from server.tables.scores import ModelVersion

    return await _on_database(settings, lambda _engine: ModelVersion.select(
        ModelVersion.grade_changes, ModelVersion.awaiting_confirmation).where(
        ModelVersion.version == version).output(load_json=True).first())


@main.command("model-card", help="Write the model card (Markdown) of the active model or --version.")
@click.option("--version", "version", default=None)
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None, help="File (default: stdout).")
def model_card_command(version: str | None, out_path: str | None) -> None:
    settings = _settings(demo=True)
    from server.scores.model_card import model_card

    try:
        text = asyncio.run(_on_database(settings, lambda _engine: model_card(settings, version)))
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    if out_path:
        Path(out_path).write_text(text, encoding="utf-8")
        click.echo(out_path)
    else:
        click.echo(text)


@main.group(help="The region's reports.")
def report() -> None:
    pass


@report.command("annual", help="Write the annual credit-index report (PDF) of a full year.")
@click.option("--year", type=int, required=True, help="A full year before this one, e.g. 2025.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), required=True, help="The PDF file to write.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
def report_annual(year: int, out_path: str, lang: str) -> None:
    settings = _settings(demo=True)
    from litestar.exceptions import HTTPException

    from server.reports.annual.store import annual_pdf
    from server.texts import render

    async def run(_engine):  # type: ignore[no-untyped-def]
        try:
            return await annual_pdf(year, lang, settings.min_group_size,  # type: ignore[arg-type]
                                    dask=settings.dask_scheduler)
        except HTTPException as exc:
            raise click.ClickException(render(exc.detail, lang)) from exc  # type: ignore[arg-type]

    made = asyncio.run(_on_database(settings, run))
    Path(out_path).write_bytes(made.pdf)
    click.echo(f"{out_path}: {made.pages} pages, {len(made.pdf):,} bytes, data version {made.data_version}")


@main.command(help="Make a trained model version the active one and re-score the region.")
@click.argument("version")
@click.option("--confirm", is_flag=True, help="Needed when the version moves many firms to another grade.")
def promote(version: str, confirm: bool) -> None:
    settings = _settings(demo=True)
    from litestar.exceptions import HTTPException

    from server.scores.models import promote_model, rescore_with

    async def run(engine) -> None:
        try:
            out = await promote_model(version, confirm, settings, promoted_by=None)
        except HTTPException as exc:
            raise click.ClickException(exc.detail) from exc
        if out.rescoring:
            await rescore_with(settings, version, engine)

    asyncio.run(_on_database(settings, run))
    click.echo(version)


@main.command(help="Score: every firm on the platform, or a CSV (--model/--csv/--out).")
@click.option("--model", "version", default=None)
@click.option("--csv", "csv_path", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--out", "out_path", type=click.Path(), default=None)
@click.option("--as-of", "as_of", default=None)
def score(version: str | None, csv_path: str | None, out_path: str | None, as_of: str | None) -> None:
    settings = _settings(demo=True)
    if csv_path:
        if not (version and out_path):
            raise click.UsageError("--model and --out are required with --csv")
        from scoring.cli import score_csv

        score_csv(version, csv_path, out_path, registry_dir=settings.model_dir)
        click.echo(out_path)
        return
    from server.scores.pipeline import score_platform

    summary = asyncio.run(score_platform(settings, as_of=date.fromisoformat(as_of) if as_of else None,
                                         version=version))
    click.echo(json.dumps(summary, ensure_ascii=False, default=str))


@main.command(help="Everything on embedded defaults: migrate, demo region, train, score, serve.")
@click.option("--firms", "n_firms", default=2000, show_default=True, type=int)
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Prepare the demo data and stop.")
@click.option("--app-port", default=8550, show_default=True, type=int,
              help="Serve the mobile app (web mode) here beside the API; 0 = no app.")
def demo(n_firms: int, seed: int, host: str, port: int, no_serve: bool, app_port: int) -> None:
    from server.demo.setup import prepare_demo

    os.environ.setdefault("XINBAO_DEMO", "1")
    os.environ.setdefault("XINBAO_SCHEDULER", "1")
    settings = _settings(demo=True)
    info = asyncio.run(prepare_demo(settings, n_firms=n_firms, seed=seed, progress=click.echo))
    click.echo(info.banner(host, port))
    if no_serve:
        return
    import uvicorn

    from server.app import create_app

    app_process = _start_app(host, port, app_port) if app_port else None
    try:
        uvicorn.run(create_app(settings), host=host, port=port, **UVICORN_OPTIONS)
    finally:
        if app_process is not None:
            app_process.terminate()
            app_process.wait(timeout=10)


def _start_app(host: str, api_port: int, app_port: int):  # type: ignore[no-untyped-def]
    """The mobile app in web mode, in its own process (it talks to the API over HTTP only)."""
    import subprocess

    env = {**os.environ, "XINBAO_API_URL": f"http://{host}:{api_port}", "XINBAO_APP_HOST": host,
           "XINBAO_APP_PORT": str(app_port)}
    process = subprocess.Popen([sys.executable, "-m", "mobile_app"], env=env)
    click.echo(f"  app        http://{host}:{app_port}   (信宝 mobile app, web mode)")
    return process


if __name__ == "__main__":  # pragma: no cover
    main()
