"""Synthetic county generation: ``xinbao generate --firms 120000`` as a timed subprocess.

Prints one JSON object: seconds for generating and writing the feeds of 120,000 firms
(target: under 300 s), records written and the size of the files.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(firms: int = 120_000) -> None:
    xinbao = Path(sys.executable).parent / "xinbao"
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        proc = subprocess.run([str(xinbao), "generate", "--firms", str(firms), "--seed", "42", "--out", out],
                              check=True, capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - t
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
        size = sum(p.stat().st_size for p in Path(out).iterdir())
    print(json.dumps({"name": "generate_region", "firms": firms, "value": round(seconds, 1), "unit": "s",
                      "target": 300, "records": summary["records"], "bytes": size,
                      "generate_s": summary["generate_s"], "write_s": summary["write_s"]}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 120_000)
