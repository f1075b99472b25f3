"""Build the CJK font the app ships: the Simplified Chinese face of Noto Sans CJK, subset.

Why: the Flutter web client draws Chinese as boxes without a CJK font and cannot fetch one
offline. The subset keeps GB2312 levels 1 and 2 (6,763 hanzi), Latin, CJK punctuation and
every other character found in the project's texts (demo data, rule texts, i18n catalogue),
so rarer characters in firm names (鑫, 琮 ...) are not blank. Run after adding texts:

    python -m mobile_app.tools.build_font [/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc]

Needs fontTools (and Debian's fonts-noto-cjk). The app only reads the result.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "mobile_app" / "assets" / "fonts" / "NotoSansSC-Subset.otf"
DEFAULT_TTC = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SC_FACE = "Noto Sans CJK SC"
TEXT_DIRS = ("server", "scoring", "alerts", "mobile_app")


def gb2312_hanzi() -> set[str]:
    """Every hanzi of GB2312 levels 1 and 2 (rows 0xB0..0xF7)."""
    chars: set[str] = set()
    for hi in range(0xB0, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


def project_chars() -> set[str]:
    """Non-ASCII characters in the project's sources and catalogues (read as text, not imported)."""
    chars: set[str] = set()
    for folder in TEXT_DIRS:
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".json", ".csv", ".txt"} and path.is_file():
                chars.update(c for c in path.read_text("utf-8", errors="ignore") if ord(c) > 0x7F)
    return chars


def base_chars() -> set[str]:
    """Latin-1, general punctuation, CJK symbols and full-width forms."""
    ranges = [(0x20, 0x7E), (0xA0, 0xFF), (0x2000, 0x206F), (0x2190, 0x21FF), (0x2460, 0x24FF),
              (0x25A0, 0x25FF), (0x3000, 0x303F), (0xFF00, 0xFFEF)]
    return {chr(c) for lo, hi in ranges for c in range(lo, hi + 1)}


def build(ttc: Path = DEFAULT_TTC, out: Path = OUT) -> Path:
    """Extract the SC face of the collection and subset it to the app's characters."""
    collection = TTCollection(str(ttc))
    face = next(f for f in collection.fonts if SC_FACE in str(f["name"].getDebugName(1)))
    text = "".join(sorted(gb2312_hanzi() | project_chars() | base_chars()))
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.drop_tables += ["DSIG"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(face)
    out.parent.mkdir(parents=True, exist_ok=True)
    face.save(str(out))
    return out


if __name__ == "__main__":
    path = build(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_TTC)
    print(path, f"{path.stat().st_size / 1e6:.2f} MB")
