"""The Chinese of the server's texts: part of the one catalogue (see :mod:`server.texts.zh`)."""

from __future__ import annotations

ZH: dict[str, str] = {
    # -- the admin back office: banks and products (server/financing/catalogue.py)
    "{field}: must not be blank": "{field}：不能为空白",
    "{field}: must not be empty": "{field}：不能为空",
    "{field}: each at most once": "{field}：每项最多出现一次",
    "{field}: 2 to 20 of A-Z, 0-9, _ and -": "{field}：应为2至20位大写字母、数字、下划线或连字符",
    "{high}: must be at least {low} ({value})": "{high}：不能小于{low}（{value}）",
    "code: no bank with code {code}": "code：没有代码为 {code} 的银行",
    "code: a bank with code {code} already exists": "code：代码为 {code} 的银行已存在",
    "bank_code: no bank with code {code}": "bank_code：没有代码为 {code} 的银行",
    "id: no loan product {id}": "id：没有编号为 {id} 的贷款产品",
    # -- the guarantee fund's limits (server/fund/services.py)
    "limit_per_firm_yuan: must not exceed the total limit {total:yuan}":
        "limit_per_firm_yuan：不能超过总额度{total:yuan}",
    "share_pct: the fund's share must not rise from grade A to C (A {a}%, B {b}%, C {c}%)":
        "share_pct：基金分担比例应按A、B、C级依次不升（A级{a}%，B级{b}%，C级{c}%）",
    # -- the credit index (server/reports/services.py)
    "{field}: a month as YYYY-MM, not {got!r}": "{field}：应为YYYY-MM格式的月份，而不是{got!r}",
    "to: must not be before from ({start})": "to：不能早于from（{start}）",
    # -- thematic analysis (server/reports/thematic.py)
    "{field}: no such group {got!r}": "{field}：没有名为{got!r}的分组",
    "section: only with by=division (an industry's divisions)": "section：仅可与by=division同用（某行业的各大类）",
    "min_lq: must be a number above 0": "min_lq：必须是大于0的数",
    # -- the audit log (server/audit/services.py)
    "firm: {problem}": "firm：{problem}",
}
