"""Preparing the demo platform: reference data, demo accounts, the synthetic region, a model.

Each step checks what is already there, so ``make demo`` run twice does the work once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from server import db
from server.scores.services import seed_override_rules
from server.settings import Settings
from server.tables.financing import Bank, LoanProduct
from server.tables.firms import Firm
from server.tables.fund import FundLedger, GuaranteeFund
from server.tables.ingest import Department
from server.tables.users import User
from server.texts import t
from server.texts.stored import store
from server.users.services import create_user

__all__ = ["DEMO_PASSWORD", "DEPARTMENTS", "DemoInfo", "prepare_demo", "seed_reference_data"]

DEMO_PASSWORD = "demo1234"

DEPARTMENTS = {
    "market": ("市场监督管理局", "Market Regulation Bureau"),
    "tax": ("税务局", "Tax Bureau"),
    "hrss": ("人力资源和社会保障局", "Human Resources and Social Security Bureau"),
    "utilities": ("供电公司与水务燃气集团", "Power, Water and Gas Utilities"),
    "court": ("人民法院", "People's Court"),
    "development": ("发展和改革局", "Development and Reform Bureau"),
    "natural_resources": ("自然资源和规划局", "Natural Resources and Planning Bureau"),
    "customs": ("海关", "Customs"),
    "bank": ("人民银行支行（征信）", "PBoC Branch (Credit Reference)"),
    "science": ("科学技术局", "Science and Technology Bureau"),
}

BANKS = [
    ("ICBC-SY", "工商银行上虞支行"),
    ("RCB-SY", "上虞农商银行"),
    ("CCB-SY", "建设银行上虞支行"),
]

# (bank code, name, min, max amount yuan, terms, rate bp range, grades, collateral-free, fund-covered)
PRODUCTS = [
    ("ICBC-SY", "信易贷·信用贷", 100_000, 5_000_000, (6, 36), (350, 480), "AB", True, True),
    ("ICBC-SY", "经营快贷", 50_000, 1_000_000, (3, 12), (420, 600), "ABC", True, False),
    ("RCB-SY", "小微信用贷", 30_000, 2_000_000, (6, 24), (400, 650), "ABC", True, True),
    ("RCB-SY", "抵押经营贷", 500_000, 20_000_000, (12, 60), (330, 420), "ABCD", False, False),
    ("CCB-SY", "善营贷", 100_000, 3_000_000, (12, 36), (360, 500), "AB", True, True),
]

DEMO_ACCOUNTS = [
    ("13800000001", "owner", "企业主 张先生"),
    ("13800000002", "bank_manager", "客户经理 李女士"),
    ("13800000003", "subscriber", "关注者 王先生"),
    ("13800000004", "dept_operator", "税务局 操作员"),
    ("13800000005", "admin", "平台管理员"),
    ("13800000006", "analyst", "区金融办 分析员"),
]
SUBSCRIBER_PHONE = next(phone for phone, role, _ in DEMO_ACCOUNTS if role == "subscriber")


@dataclass
class DemoInfo:
    firm_uscc: str
    firm_name: str
    firms: int
    records: int
    model_version: str
    timings: dict[str, float] = field(default_factory=dict)

    def banner(self, host: str, port: int) -> str:
        base = f"http://{host}:{port}"
        lines = [
            "",
            "=" * 72,
            "  信宝 Xinbao demo is ready",
            f"  API        {base}/api       OpenAPI {base}/schema  (JSON: {base}/schema/openapi.json)",
            f"  region     {self.firms} firms, {self.records} department records; model {self.model_version}",
            f"  password   {DEMO_PASSWORD} for every demo account (phone numbers are the logins):",
        ]
        for phone, role, name in DEMO_ACCOUNTS:
            extra = f"  firm {self.firm_uscc} {self.firm_name}" if role == "owner" else ""
            lines.append(f"    {phone}  {role:<14} {name}{extra}")
        lines += [
            f"  try: curl -s -XPOST {base}/api/auth/login -H 'content-type: application/json' "
            f"-d '{{\"phone\":\"13800000001\",\"password\":\"{DEMO_PASSWORD}\"}}'",
            "  stop with Ctrl-C",
            "=" * 72,
        ]
        return "\n".join(lines)


async def seed_reference_data() -> None:
    """Departments, banks, loan products, the guarantee fund and version 1 of the override
    rules (each only once)."""
    await seed_override_rules()
    for code, (zh, en) in DEPARTMENTS.items():
        found = await Department.objects().where(Department.code == code).first()
        if found is None:
            await Department(code=code, name_zh=zh, name_en=en).save()
        elif found.name_zh == code:  # created bare by an early ingest: give it its names
            await Department.update({Department.name_zh: zh, Department.name_en: en}).where(
                Department.id == found.id)
    banks: dict[str, int] = {}
    for code, name in BANKS:
        bank = await Bank.objects().where(Bank.code == code).first()
        if bank is None:
            bank = Bank(code=code, name=name)
            await bank.save()
        banks[code] = bank.id
    if not await LoanProduct.exists():
        for code, name, lo, hi, (t0, t1), (r0, r1), grades, free, covered in PRODUCTS:
            await LoanProduct(
                bank=banks[code], name=name, min_amount_fen=lo * 100, max_amount_fen=hi * 100,
                min_term_months=t0, max_term_months=t1, min_rate_bp=r0, max_rate_bp=r1,
                eligible_grades=grades, industries=[], collateral_free=free, fund_covered=covered,
            ).save()
    if not await GuaranteeFund.exists():
        fund = GuaranteeFund(name="上虞区政府性融资担保基金", capital_fen=200_000_000_00,
                             limit_total_fen=1_000_000_000_00, limit_per_firm_fen=5_000_000_00)
        await fund.save()
        await FundLedger(fund=fund.id, kind="capital", amount_fen=fund.capital_fen,
                         at=datetime.now(UTC), note=store(t("initial capital"))).save()


async def seed_demo_accounts(firm_id: int) -> None:
    bank = await Bank.objects().where(Bank.code == BANKS[0][0]).first()
    tax = await Department.objects().where(Department.code == "tax").first()
    for phone, role, name in DEMO_ACCOUNTS:
        if await User.exists().where(User.phone == phone):
            continue
        await create_user(
            phone, DEMO_PASSWORD, role, name,
            firm_id=firm_id if role == "owner" else None,
            bank_id=bank.id if role == "bank_manager" else None,
            department_id=tax.id if role == "dept_operator" else None,
        )


FEED_ORDER = ("firms", "relations", "guarantees")


async def load_region_files(engine, files: dict[str, Path], salt: str) -> int:
    """Ingest a region's feed files through the normal ingestion path; returns records accepted.
    The files are the departments' archives (a generated history), so the batches are
    back-fills: each record counts as known from its event date when the model trains."""
    from server.ingest.parse import detect_format, iter_file
    from server.ingest.services import ingest

    ordered = [s for s in FEED_ORDER if s in files] + sorted(s for s in files if s not in FEED_ORDER)
    accepted = 0
    for source in ordered:
        path = files[source]
        fmt = detect_format(path.name, None, b"")
        result = await ingest(engine, source, iter_file(str(path)), fmt, filename=path.name,
                              person_salt=salt, backfill=True)
        if result.rejected:
            first = result.rejected[0]
            raise RuntimeError(f"demo feed {path.name} row {first.row} {first.field}: {first.message}")
        if source not in FEED_ORDER:
            accepted += result.accepted
    return accepted


async def prepare_demo(settings: Settings, n_firms: int = 2000, seed: int = 42,
                       progress: Callable[[str], None] | None = None) -> DemoInfo:
    """Migrate, seed, generate and load the region, train and score: whatever is missing.

    ``progress`` is told each step as it starts and how long the last one took (``xinbao demo``
    prints it: preparing a fresh region takes about a minute)."""
    from server.demo.synth import generate_region, write_feeds
    from server.scores.pipeline import ensure_model_and_scores

    timings: dict[str, float] = {}
    started = time.perf_counter()

    def step(k: int, zh: str, en: str) -> None:
        if progress is not None:
            progress(f"[{k}/5 {time.perf_counter() - started:5.1f} s] {zh} / {en}")

    t = time.perf_counter()
    step(1, "准备数据库", "preparing the database")
    engine = await db.open_engine(settings.database_url)
    try:
        await db.migrate(engine)
        await seed_reference_data()
        timings["migrate_seed_s"] = time.perf_counter() - t
        if not await Firm.exists():
            t = time.perf_counter()
            step(2, f"生成演示区域：{n_firms:,} 家企业", f"generating the demo region: {n_firms:,} firms")
            region = generate_region(n_firms, seed)
            files = write_feeds(region, settings.data_dir / "region")
            timings["generate_s"] = time.perf_counter() - t
            t = time.perf_counter()
            step(3, "导入各部门数据", "loading the departments' feeds")
            await load_region_files(engine, files, settings.person_id_salt)
            timings["ingest_s"] = time.perf_counter() - t
            demo_uscc = str(region.firms["uscc"].iloc[0])
        else:
            owner = await User.select(User.firm.uscc).where(User.role == "owner").first()
            demo_uscc = owner["firm.uscc"] if owner else (await Firm.select(Firm.uscc).first())["uscc"]
        firm = await Firm.objects().where(Firm.uscc == demo_uscc).first()
        await seed_demo_accounts(firm.id)
        from server.policies.seed import seed_demo_policies

        await seed_demo_policies()
        t = time.perf_counter()
        step(4, "训练评分模型并为全部企业评分", "training the credit model and scoring every firm")
        version = await ensure_model_and_scores(engine, settings, as_of=None)
        timings["model_s"] = time.perf_counter() - t
        t = time.perf_counter()
        from server.demo.book import seed_demo_book, seed_demo_watchlist
        from server.risk.macro import compute_macro_index
        from server.risk.scan import scan

        step(5, "风险预警扫描与宏观指数", "warning scan and the macro risk index")
        # The bank's borrowers and applicants, before the first scan: its warnings on them
        # reach the manager's inbox on first sign-in.
        await seed_demo_book(BANKS[0][0], exclude_firm=firm.id)
        await seed_demo_watchlist(SUBSCRIBER_PHONE, firm.id)

        await scan(engine, settings)  # warnings and contagion on day one (safe to repeat)
        from server.demo.projects import seed_demo_projects

        await seed_demo_projects(engine, firm.id)  # supported projects, tracked on the region's data
        await compute_macro_index(engine)
        from server.scores.health import check_model_health

        await check_model_health(engine, settings)  # the model's record on matured outcomes
        timings["risk_s"] = time.perf_counter() - t
        if progress is not None:
            progress(f"[done {time.perf_counter() - started:5.1f} s] 演示数据已就绪 / demo data ready")
        from server.tables.ingest import DeptRecord

        return DemoInfo(firm_uscc=firm.uscc, firm_name=firm.name, firms=await Firm.count(),
                        records=await DeptRecord.count(), model_version=version,
                        timings={k: round(v, 1) for k, v in timings.items()})
    finally:
        await db.close(engine)


def today() -> date:
    return datetime.now(UTC).date()
