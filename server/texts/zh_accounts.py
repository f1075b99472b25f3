"""The Chinese of the server's texts: part of the one catalogue (see :mod:`server.texts.zh`)."""

from __future__ import annotations

ZH: dict[str, str] = {
}
