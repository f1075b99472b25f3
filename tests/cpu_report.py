"""Sum a ``XINBAO_TEST_CPU_REPORT`` file: the test modules by CPU, largest first.

    XINBAO_TEST_CPU_REPORT=/tmp/cpu.jsonl make test && python -m tests.cpu_report /tmp/cpu.jsonl
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def main(path: str, top: int = 40) -> None:
    rows: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            r = json.loads(line)
            for i, key in enumerate(("cpu_own_s", "cpu_children_s", "wall_s")):
                rows[r["module"]][i] += r[key]
    own, kids, wall = (sum(r[i] for r in rows.values()) for i in range(3))
    print(f"{'cpu':>7} {'own':>7} {'started':>7} {'wall':>7}  module")
    print(f"{own + kids:7.1f} {own:7.1f} {kids:7.1f} {wall:7.1f}  (all {len(rows)} modules)")
    for module, (o, k, w) in sorted(rows.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:top]:
        print(f"{o + k:7.1f} {o:7.1f} {k:7.1f} {w:7.1f}  {module}")


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))
