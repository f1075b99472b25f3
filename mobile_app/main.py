"""Start the 信宝 app: ``python -m mobile_app`` serves it in web mode on 127.0.0.1:8550.

Environment: ``XINBAO_API_URL`` (the API, default http://127.0.0.1:8000), ``XINBAO_APP_HOST`` /
``XINBAO_APP_PORT`` (where the web app listens; 0.0.0.0 lets phones on the same network in).
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile

import flet as ft

from mobile_app.api import ApiClient, api_url_from_env
from mobile_app.app import ASSETS_DIR, XinbaoApp
from mobile_app.files import UPLOAD_DIR_ENV
from mobile_app.storage import DeviceStore

__all__ = ["main", "serve"]


async def main(page: ft.Page) -> None:
    """One session of the app (a browser tab or a device)."""
    app = XinbaoApp(page, ApiClient(api_url_from_env()), DeviceStore(page))
    await app.start()


def serve(host: str | None = None, port: int | None = None) -> None:
    """Serve the app in web mode with everything bundled (no CDN: works with no internet)."""
    logging.basicConfig(level=os.environ.get("XINBAO_APP_LOG", "WARNING"))
    host = host or os.environ.get("XINBAO_APP_HOST", "127.0.0.1")
    port = port or int(os.environ.get("XINBAO_APP_PORT", "8550"))
    # Feed files picked in the browser land here on their way to the API (signed upload URLs;
    # each file is deleted once sent). The signing key lives as long as the process.
    upload_dir = os.environ.setdefault(UPLOAD_DIR_ENV, tempfile.mkdtemp(prefix="xinbao-app-uploads-"))
    os.environ.setdefault("FLET_SECRET_KEY", secrets.token_urlsafe(32))
    ft.run(main, name="", host=host, port=port, view=ft.AppView.WEB_BROWSER,
           assets_dir=str(ASSETS_DIR), upload_dir=upload_dir, no_cdn=True)


if __name__ == "__main__":  # pragma: no cover
    serve()
