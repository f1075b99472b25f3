"""Piccolo configuration: ``DB`` from the settings and the one app of the platform.

``server.db.bind`` replaces ``DB`` when a process (or a test) opens another database.
"""

from __future__ import annotations

from piccolo.conf.apps import AppRegistry

from server.engines import engine_from_url
from server.settings import database_url_from_env

# Only the URL is read here: importing this module opens, creates and writes nothing.
DB = engine_from_url(database_url_from_env())

APP_REGISTRY = AppRegistry(apps=["server.piccolo_app"])
