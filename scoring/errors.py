"""What the scoring library says when it refuses a value: an English template and its fields,
so a caller can word the refusal in its reader's language (the API's text catalogue keys its
Chinese by the same template)."""

from __future__ import annotations

__all__ = ["InvalidValue"]


class InvalidValue(ValueError):
    """A value the library refuses. ``str()`` is the English sentence; ``template`` (a
    ``str.format`` template, ``!r`` allowed) and ``fields`` are what it was made from."""

    def __init__(self, template: str, /, **fields: object) -> None:
        self.template, self.fields = template, fields
        super().__init__(template.format(**fields))
