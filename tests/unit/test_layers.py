"""The import rule of docs/architecture.md: every import, lazy ones inside functions included,
points down the layers. A module of ``server`` sits in one unit (a top-level module, a domain
package, or a domain's controllers); a unit may import only units of lower rank.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Bottom to top. Units on one line share a rank and may not import each other.
SERVER_LAYERS: list[tuple[str, ...]] = [
    # ground floor: settings, pure helpers and every domain's tables
    ("server.texts",),
    ("server.settings", "server.engines", "server.uscc", "server.redis_client", "server.tables",
     "server.cluster", "server.runtime"),
    ("server.privacy", "server.lookup", "server.responses"),
    # infrastructure: Redis-backed stores, Piccolo's configuration, binding and migrating
    ("server.stores", "server.piccolo_app", "server.health", "server.changes"),
    ("server.piccolo_conf",),
    ("server.db",),
    # domains, each on the services of those below it only; every domain records its admins'
    # changes in the audit log
    ("server.audit",),
    ("server.users",),
    ("server.ingest",),
    ("server.consent",),
    ("server.notifications",),
    ("server.fund",),
    ("server.scores",),
    ("server.risk",),
    ("server.projects",),
    ("server.after_ingest",),
    ("server.policies",),
    ("server.objections",),
    ("server.firms",),
    ("server.financing",),
    # the region's reports (aggregates over every domain's data)
    ("server.reports",),
    # what handlers are handed (Litestar's Provide): the lifespan's resources, by name
    ("server.deps",),
    # HTTP: every domain's controllers (never imported by a domain)
    ("controllers",),
    # composition
    ("server.dask_preload",),
    ("server.jobs",),
    ("server.demo",),
    ("server.app",),
    ("server.cli",),
]

#: The libraries beside the server, and what each may import of the project.
LIBRARIES = {
    "scoring": {"scoring"},
    "alerts": {"alerts"},
    "mobile_app": {"mobile_app"},
}
PROJECT = {"server", "scoring", "alerts", "mobile_app"}


def unit_of(module: str) -> str:
    """The layer unit of a dotted module name of the server."""
    parts = module.split(".")
    return ".".join(parts[:3] if len(parts) >= 3 and parts[2] == "controllers" else parts[:2])


RANK = {unit: rank for rank, units in enumerate(SERVER_LAYERS) for unit in units}


def rank_of(unit: str) -> int | None:
    return RANK["controllers"] if unit.endswith(".controllers") else RANK.get(unit)


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Every absolute import in a module, at any depth: ``(line, dotted name)``; for ``from
    package import name`` the name counts as a submodule (it may be one)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.count(".") <= 1 and node.module.split(".")[0] == "server":
                found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def violations(module: str, source: str) -> list[str]:
    """What ``module`` (dotted name) imports against the layers."""
    top = module.split(".")[0]
    out = []
    for line, name in imported_modules(ast.parse(source)):
        target_top = name.split(".")[0]
        if target_top not in PROJECT:
            continue
        if top in LIBRARIES:
            if target_top not in LIBRARIES[top]:
                out.append(f"{module}:{line} imports {name}: {top} never imports {target_top}")
            continue
        if target_top != "server":
            if target_top == "mobile_app":
                out.append(f"{module}:{line} imports {name}: the server never imports the app")
            continue
        src, dst = unit_of(module), unit_of(name)
        if dst == "server.__init__" or dst == "server" or src == dst:
            continue
        src_rank, dst_rank = rank_of(src), rank_of(dst)
        if src_rank is None or dst_rank is None:
            missing = dst if dst_rank is None else src
            out.append(f"{module}:{line}: {missing} has no place in the layers (add it to "
                       "SERVER_LAYERS and docs/architecture.md)")
        elif dst_rank >= src_rank:
            out.append(f"{module}:{line} imports {name}: {src} may import only lower layers, "
                       f"and {dst} is {'level with' if dst_rank == src_rank else 'above'} it")
    return out


def project_modules() -> list[tuple[str, Path]]:
    mods = []
    for top in PROJECT:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            if "piccolo_migrations" in rel.parts:
                continue  # generated; they import Piccolo only
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            mods.append((".".join(parts), path))
    return mods


def test_every_import_points_down_the_layers():
    found = [v for module, path in project_modules() for v in violations(module, path.read_text())]
    assert not found, "imports against docs/architecture.md:\n" + "\n".join(found)


def test_every_server_unit_has_a_place():
    units = {unit_of(m) for m, _ in project_modules() if m.startswith("server.")}
    placed = {u for u in units if rank_of(u) is not None}
    assert units == placed, f"not in SERVER_LAYERS: {sorted(units - placed)}"
    stale = set(RANK) - {"controllers" if u.endswith(".controllers") else u for u in units}
    assert not stale, f"SERVER_LAYERS names units that no longer exist: {sorted(stale)}"


@pytest.mark.parametrize(("module", "source", "why"), [
    ("server.users.services", "from server.firms.services import x", "above"),
    ("server.scores.pipeline", "def f():\n    from server.risk.scan import scan", "above"),
    ("server.firms.services", "from server.firms import controllers", "above"),
    ("server.ingest.controllers", "from server.risk.controllers import x", "level with"),
    ("server.tables.firms", "from server import db", "above"),
    ("server.newthing", "import server.db", "no place"),
    ("scoring.features", "from server.settings import Settings", "never imports server"),
    ("alerts.outbox", "import scoring", "never imports scoring"),
    ("mobile_app.api", "from server.uscc import make_uscc", "never imports server"),
])
def test_the_rule_catches_an_import_against_the_layers(module, source, why):
    found = violations(module, source)
    assert len(found) == 1 and why in found[0], found


@pytest.mark.parametrize(("module", "source"), [
    ("server.firms.services", "from server.risk.scan import scan\nfrom server.tables.firms import Firm"),
    ("server.risk.controllers", "from server.risk import warnings\nfrom server.users.security import AuthUser"),
    ("server.app", "from server.firms.controllers import FirmController"),
    ("scoring.model", "from scoring.features import compute_features\nimport numpy"),
])
def test_the_rule_lets_an_import_down_the_layers_pass(module, source):
    assert violations(module, source) == []
