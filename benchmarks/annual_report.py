"""The annual credit-index report on the demo region (issue 14: made in at most 60 s).

Builds the demo region (``--firms``, 2,000 by default, as ``make demo``) in a temporary SQLite
database, then times making the last full year's report the way the route does when its data
changed: the figures read from the database, the charts and the PDF built. Prints one JSON
object per language: ``{"name", "firms", "year", "lang", "seconds", "gather_s", "pages", "bytes"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


async def main(firms: int) -> None:
    from server import db
    from server.demo.setup import prepare_demo
    from server.reports.annual.figures import gather
    from server.reports.annual.store import annual_pdf
    from server.settings import Settings

    year = datetime.now(UTC).year - 1
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        settings = Settings(database_url=url, jwt_secret="bench-secret-not-for-production-0123456789",
                            data_dir=Path(folder) / "data", demo=True)
        engine = await db.open_engine(url)
        try:
            await db.migrate(engine)
            await prepare_demo(settings, n_firms=firms, seed=42)
            for lang in ("zh", "en"):
                t0 = time.perf_counter()
                await gather(year, settings.min_group_size)
                gather_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                made = await annual_pdf(year, lang, settings.min_group_size, force=True)  # type: ignore[arg-type]
                seconds = time.perf_counter() - t0
                print(json.dumps({"name": "annual_report", "firms": firms, "year": year, "lang": lang,
                                  "seconds": round(seconds, 2), "gather_s": round(gather_s, 2),
                                  "pages": made.pages, "bytes": len(made.pdf)}), flush=True)
        finally:
            await db.close(engine)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=2000)
    asyncio.run(main(parser.parse_args().firms))
