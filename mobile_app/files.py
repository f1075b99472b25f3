"""Files between the person's device and the app: pick a feed to send, save a report.

In web mode the app's Python runs on the app server, not on the phone or PC, so a picked file
first travels from the browser to the app server's upload folder (Flet's signed upload URL,
with progress), and from there is streamed to the API; it is deleted once sent. On a desktop
the picker gives a path and the file is read in place. A report is saved through the browser's
download (web) or a save dialog (desktop).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from pathlib import Path

import flet as ft

from mobile_app.state.office import FEED_EXTENSIONS, UploadState

__all__ = ["UPLOAD_DIR_ENV", "FileBridge"]

log = logging.getLogger(__name__)
UPLOAD_DIR_ENV = "XINBAO_APP_UPLOAD_DIR"  # set by ``mobile_app.main.serve`` beside ``upload_dir``
UPLOAD_TTL_S = 3600


class FileBridge:
    """One page's file picker (a Flet service; it must stay referenced to stay registered)."""

    def __init__(self, page: ft.Page) -> None:
        self.page = page
        self.picker = ft.FilePicker(on_upload=self._on_upload)
        self._uploads: dict[str, tuple[UploadState, asyncio.Future[str | None]]] = {}

    async def send_feed(self, state: UploadState) -> None:
        """Pick a CSV / JSON Lines file and send it as the state's chosen source."""
        if state.busy or state.source is None:
            return
        files = await self.picker.pick_files(
            file_type=ft.FilePickerFileType.CUSTOM, allowed_extensions=list(FEED_EXTENSIONS),
            cancel_upload_on_window_blur=False)
        if not files:
            return
        picked = files[0]
        state.started(picked.name, picked.size)
        if picked.path:  # a desktop: the file is here already
            await state.send(picked.name, Path(picked.path))
            return
        folder = os.environ.get(UPLOAD_DIR_ENV)
        if not folder:
            state.failed("uploads are not enabled on this app server")
            return
        relative = f"{uuid.uuid4().hex}/{_safe_name(picked.name)}"
        done: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._uploads[picked.name] = (state, done)
        try:
            url = self.page.get_upload_url(relative, UPLOAD_TTL_S)
            await self.picker.upload([ft.FilePickerUploadFile(upload_url=url, id=picked.id, name=picked.name)])
            problem = await asyncio.wait_for(done, UPLOAD_TTL_S)
            if problem:
                state.failed(problem)
                return
            await state.send(picked.name, Path(folder) / relative)
        except TimeoutError:
            state.failed("the upload did not finish")
        finally:
            self._uploads.pop(picked.name, None)
            shutil.rmtree(Path(folder) / relative.split("/")[0], ignore_errors=True)

    def _on_upload(self, e: ft.FilePickerUploadEvent) -> None:
        entry = self._uploads.get(e.file_name)
        if entry is None:
            return
        state, done = entry
        if e.error:
            if not done.done():
                done.set_result(e.error)
            return
        progress = e.progress or 0.0
        state.uploading(progress)
        if progress >= 1.0 and not done.done():
            done.set_result(None)

    async def save(self, file_name: str, data: bytes) -> None:
        """Hand ``data`` to the person as a file (a download in the browser)."""
        try:
            await self.picker.save_file(file_name=file_name, src_bytes=data)
        except Exception:  # noqa: BLE001 - a dialog closed or unsupported: nothing was lost
            log.warning("saving %s failed", file_name, exc_info=True)


def _safe_name(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[-80:]
    return keep or "feed"
