"""A handful of realistic support policies for the demo, published by the seeded departments.

Safe to run twice: a policy already published by its department under the same title is
left as it is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import msgspec

from server import db
from server.policies.eligibility import problems
from server.policies.schemas import Eligibility
from server.policies.services import today
from server.tables.ingest import Department
from server.tables.policies import Policy

__all__ = ["DEMO_POLICIES", "seed_demo_policies"]

_NO_DISHONESTY = {"indicator": "dishonest_active", "op": "==", "value": 0}

#: (department code, title, summary, benefit, eligibility)
DEMO_POLICIES: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    ("hrss", "稳岗返还",
     "参保企业上年度未裁员或裁员率不高于5%，且近12个月无欠缴社会保险费的，返还部分失业保险费。",
     "中小微企业按上年度实际缴纳失业保险费的60%返还，大型企业按30%返还。",
     {"min_headcount": 1,
      "indicators": [{"indicator": "social_arrears_months_12m", "op": "<=", "value": 0},
                     {"indicator": "headcount_change_12m", "op": ">=", "value": -0.05}]}),
    ("science", "科技型中小企业贷款贴息",
     "拥有有效发明专利、信用等级B级及以上的制造业、信息技术和科技服务业中小企业，"
     "对其当年新增的银行贷款给予贴息。",
     "按贷款合同利率的50%贴息，单户年度贴息最高50万元。",
     {"industry_sections": ["C", "I", "M"], "size_classes": ["micro", "small", "medium"],
      "min_grade": "B",
      "indicators": [{"indicator": "invention_patents", "op": ">=", "value": 1}]}),
    ("bank", "首贷户奖励",
     "鼓励银行为成立不满3年、信用良好的小微企业发放首笔贷款；企业获得首贷后可申请奖励。",
     "按首笔贷款金额的1%给予奖励，单户最高5万元。",
     {"size_classes": ["micro", "small"], "max_firm_age_years": 3, "min_grade": "C",
      "indicators": [_NO_DISHONESTY]}),
    ("customs", "外贸企业出口信保补贴",
     "近12个月有出口实绩、未被列为失信被执行人的外贸企业，投保短期出口信用保险的，补贴部分保费。",
     "按实际缴纳出口信用保险保费的50%补贴，单户年度最高20万元。",
     {"min_grade": "C",
      "indicators": [{"indicator": "exports_12m", "op": ">", "value": 0}, _NO_DISHONESTY]}),
    ("hrss", "小微企业创业担保贷款",
     "小微企业当年新招用符合条件人员达到现有在职职工15%以上，且无欠税、无失信记录的，"
     "可申请创业担保贷款，财政给予贴息。",
     "贷款额度最高300万元，期限不超过2年，LPR-150BP以上部分由财政贴息。",
     {"size_classes": ["micro", "small"],
      "indicators": [{"indicator": "headcount_change_12m", "op": ">=", "value": 0.15},
                     {"indicator": "tax_arrears_months_12m", "op": "<=", "value": 0},
                     _NO_DISHONESTY]}),
    ("tax", "小微企业“六税两费”减免",
     "增值税小规模纳税人、小型微利企业和个体工商户，近12个月无欠税的，"
     "减半征收资源税、城市维护建设税、房产税等“六税两费”。",
     "“六税两费”按50%的税额幅度减征。",
     {"size_classes": ["micro", "small"],
      "indicators": [{"indicator": "tax_arrears_months_12m", "op": "<=", "value": 0}]}),
)


async def seed_demo_policies() -> None:
    """Publish the demo policies not yet published (departments must exist already)."""
    rows = await Department.select(Department.id, Department.code)
    departments = {r["code"]: r["id"] for r in rows}
    missing = sorted({code for code, *_ in DEMO_POLICIES} - set(departments))
    if missing:
        raise RuntimeError(f"seed the departments first: {', '.join(missing)} not found")
    on = today()
    now = datetime.now(UTC)
    async with db.write_transaction():
        for code, title, summary, benefit, raw in DEMO_POLICIES:
            if await Policy.exists().where((Policy.department == departments[code])
                                           & (Policy.title == title)):
                continue
            rules = msgspec.convert(raw, Eligibility)
            wrong = problems(rules)
            if wrong:  # a typo in the table above
                raise ValueError(f"demo policy {title}: {'; '.join(wrong)}")
            await Policy(department=departments[code], title=title, summary=summary,
                         benefit=benefit, eligibility=msgspec.json.encode(rules).decode(),
                         valid_from=date(on.year, 1, 1), valid_to=date(on.year + 1, 12, 31),
                         status="published", created_at=now).save()
