"""``attrs`` as read from the database: each distinct JSON text parsed once, and every row with
that text given the same dict (``server.scores.frames._parsed_attrs``)."""

from __future__ import annotations

import math

import pandas as pd

from server.scores.frames import _parsed_attrs


def test_each_text_is_parsed_once_and_missing_values_stay_as_they_were() -> None:
    meter = '{"meter_id": "M-1"}'
    values = pd.Series([meter, None, '{"a": 1}', meter, float("nan"), "{}", meter], dtype=object)
    out = list(_parsed_attrs(values))
    assert out[0] == {"meter_id": "M-1"} and out[0] is out[3] is out[6]
    assert out[2] == {"a": 1} and out[5] == {}
    assert out[1] is None and isinstance(out[4], float) and math.isnan(out[4])
    assert len(out) == len(values)


def test_values_parsed_already_are_kept() -> None:
    given = {"meter_id": "M-2"}
    out = list(_parsed_attrs(pd.Series([given, '{"b": 2}', None, '{"b": 2}'], dtype=object)))
    assert out[0] is given and out[1] == {"b": 2} and out[1] is out[3] and out[2] is None


def test_no_rows() -> None:
    assert len(_parsed_attrs(pd.Series([], dtype=object))) == 0


def test_every_text_reads_as_json_reads_it() -> None:
    """The texts are parsed by msgspec where it can, by ``json`` where only it can: the
    values are ``json.loads``' on every text, types included."""
    import json

    texts = ['{"year": 2023, "revenue": 3734976836, "margin": 0.125, "note": "季度"}',
             '{"big": 123456789012345678901234567890, "neg": -0.0, "tiny": 1e-7}',
             '{"a": NaN, "b": Infinity}', '{"huge": 1e400}', '{"a": 1, "a": 2}',
             '[1, {"x": [true, false, null]}]', '"text"', '{"u": "\\u00e9\\ud83d\\ude00"}']
    out = list(_parsed_attrs(pd.Series(texts, dtype=object)))
    for text, got in zip(texts, out, strict=True):
        want = json.loads(text)
        assert repr(got) == repr(want), text  # nan and inf compare by their text
        assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)
