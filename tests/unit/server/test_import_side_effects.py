"""Importing the server writes nothing (issue 12 must-show 3): no ``./xinbao.db``, no
``./data/jwt_secret``; files appear only when a process opens its database or reads its settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "server").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def test_importing_every_server_module_in_an_empty_folder_creates_no_file(tmp_path: Path) -> None:
    modules = _modules()
    assert "server.piccolo_conf" in modules and "server.app" in modules
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINBAO_")}
    env["PYTHONPATH"] = str(ROOT)
    env["XINBAO_DEMO"] = "1"  # demo mode is where settings would write a secret
    done = subprocess.run([sys.executable, "-c", code, *modules], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_opening_the_database_still_creates_the_sqlite_file(tmp_path: Path) -> None:
    code = ("import asyncio\nfrom server import db\n"
            "async def main():\n    e = await db.open_engine('sqlite:///sub/x.db')\n    await db.close(e)\n"
            "asyncio.run(main())\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("XINBAO_")}, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "sub" / "x.db").exists()
