"""The Chinese of the server's texts: part of the one catalogue (see :mod:`server.texts.zh`)."""

from __future__ import annotations

ZH: dict[str, str] = {
    # -- lending: shared pieces (server/financing, server/fund, server/policies)
    "{a}; {b}": "{a}；{b}",
    "{a}, {b}": "{a}、{b}",
    "pending": "待审批",
    "approved": "已批准",
    "declined": "未获批",
    "disbursed": "已放款",
    "defaulted": "已违约",
    "repaid": "已结清",
    "rejected": "已驳回",
    # -- lending: why a product fits or not (server/financing/rules.py)
    "The firm has not been scored yet": "企业尚未完成信用评价",
    "The firm is listed as a dishonest judgment debtor and cannot borrow": "企业被列为失信被执行人，暂不能申请贷款",
    "Grade {grade} is not among the product's eligible grades {eligible}": "信用等级{grade}不在本产品准入等级{eligible}之内",
    "{amount:fen} is above the product's maximum of {limit:fen}": "申请金额{amount:fen}高于产品上限{limit:fen}",
    "{amount:fen} is below the product's minimum of {limit:fen}": "申请金额{amount:fen}低于产品下限{limit:fen}",
    "{term} months is outside the product's {lo}–{hi} months": "期限{term}个月不在产品期限{lo}–{hi}个月之内",
    "Industry {industry} is not among the product's industries {industries}":
        "所属行业{industry}不在本产品支持的行业{industries}之内",
    "A grade {grade} firm borrows at most {limit:fen} without collateral; {amount:fen} is above it":
        "{grade}级企业免抵押贷款上限为{limit:fen}，申请金额{amount:fen}超出",
    "The guarantee fund does not cover grade {grade} firms, and this product needs its cover":
        "担保基金不为{grade}级企业提供担保，本产品需基金担保",
    "The bank is suspended from new fund-covered loans (non-performing ratio over the limit)":
        "该银行因不良率超限被暂停新增基金担保贷款",
    "The guarantee fund has no room left ({which})": "担保基金可用额度不足（{which}）",
    "total limit": "总额度",
    "per-firm limit": "单户额度",
    "Grade {grade} is eligible ({eligible})": "信用等级{grade}符合准入等级{eligible}",
    "The amount is within {lo:fen}–{hi:fen}": "金额在产品范围{lo:fen}–{hi:fen}之内",
    "The term is within {lo}–{hi} months": "期限在产品范围{lo}–{hi}个月之内",
    "No collateral needed: up to {limit:fen} for grade {grade}": "免抵押：{grade}级企业上限{limit:fen}",
    "The guarantee fund bears {share}% of a loss": "担保基金承担{share}%的损失",
    # -- lending: an application's timeline (server/financing/services.py; notes kept by
    #    server/texts/stored.py and rendered for each reader)
    "Applied for {amount:fen} over {months} months": "申请{amount:fen}，期限{months}个月",
    "Approved {amount:fen} at {rate:.2f}% a year over {months} months":
        "批准{amount:fen}，年利率{rate:.2f}%，期限{months}个月",
    "Declined: “{why}”": "未获批：{why}",
    "Declined": "未获批",
    "Disbursed": "已放款",
    "Repaid in full": "已全部结清",
    "Reported in default by the bank": "银行报告违约",
    "Reported in default by the bank, {outstanding:fen} outstanding": "银行报告违约，未偿本金{outstanding:fen}",
    "Reported in default by the bank, {outstanding:fen} outstanding ({said})":
        "银行报告违约，未偿本金{outstanding:fen}（{said}）",
    "{note}": "{note}",
    # -- lending: applications and decisions (server/financing/services.py)
    "no firm {id}": "没有编号为 {id} 的企业",
    "no application {id}": "没有编号为 {id} 的申请",
    "no application {id} of your firm": "本企业没有编号为 {id} 的申请",
    "application {id} is for another bank": "申请 {id} 属于其他银行",
    "only the firm's owner, the bank and admins see applications": "只有企业主、受理银行和管理员可以查看贷款申请",
    "product_ids: no active product with id {ids}": "product_ids：没有编号为 {ids} 的在售产品",
    "product {id} ({codes})": "产品 {id}（{codes}）",
    "product_ids: does not fit: {products}": "product_ids：不符合条件：{products}",
    "confirm_consent: must be true — applying lets each chosen bank see your evaluation":
        "confirm_consent：须为 true——申请即授权所选银行查看本企业信用评价",
    "product_ids: already pending: {taken}": "product_ids：已有待审批的申请：{taken}",
    "product {product} (application {id})": "产品 {product}（申请 {id}）",
    "product_ids: already pending: one of {ids} was applied for at the same moment":
        "product_ids：已有待审批的申请：{ids} 中有产品在同一时刻被申请",
    "reason_code: only a decline takes a reason": "reason_code：只有拒绝才需填写原因",
    "rate_bp: an approval needs the annual rate in basis points": "rate_bp：批准须填写年利率（基点）",
    "rate_bp: must be within the product's {lo}–{hi} bp": "rate_bp：须在产品的 {lo}–{hi} 基点之间",
    "amount_yuan: must be within {lo:fen}–{hi:fen} (the product's minimum up to the amount applied for)":
        "amount_yuan：须在{lo:fen}至{hi:fen}之间（产品最低额度至申请金额）",
    "term_months: must be within the product's {lo}–{hi} months": "term_months：须在产品的 {lo}–{hi} 个月之间",
    "amount_yuan: only an approval takes amount, rate and term": "amount_yuan：只有批准才需填写金额、利率和期限",
    "reason_code: a decline needs a reason code": "reason_code：拒绝须填写原因代码",
    "reason_code: one of {codes}": "reason_code：应为 {codes} 之一",
    "reason_text: a decline needs the reason in words for the owner": "reason_text：拒绝须写明给企业主看的原因",
    "application {id} is already {status}": "申请 {id} 已处理，当前状态为「{status}」",
    "application {id} was decided meanwhile": "申请 {id} 已在此期间被处理",
    # -- lending: the guarantee fund (server/fund/services.py)
    "the bank's non-performing ratio on covered loans is above the fund's limit: it is suspended from "
    "new fund-covered loans": "该银行担保贷款不良率超过上限，暂停新增基金担保贷款",
    "the guarantee fund's total capacity is used up": "担保基金总担保额度已满",
    "the firm has reached the fund's per-firm cover limit": "该企业已达担保基金单户担保上限",
    "{reason}: {why}": "{reason}：{why}",
    "fund: no guarantee fund is configured": "fund：尚未设立担保基金",
    "application_id: no loan application {id}": "application_id：没有编号为 {id} 的贷款申请",
    "application {id}: its product is not covered by the fund": "申请 {id}：其产品不在担保基金担保范围内",
    "application {id} is {status}: only an approved loan can be covered": "申请 {id} 的状态为「{status}」：只有已批准的贷款才能担保",
    "application {id}: no fund share was recorded (grade {grade})": "申请 {id}：未记录基金分担比例（等级 {grade}）",
    "your account is not linked to a bank": "您的账号未关联银行",
    "application_id: loan {id} is not a loan of your bank": "application_id：贷款 {id} 不是本行的贷款",
    "application {id} is {status}: only an approved or disbursed loan can be reported repaid":
        "申请 {id} 的状态为「{status}」：只有已批准或已放款的贷款才能报告结清",
    "application {id} is {status}: only an approved or disbursed loan can be reported in default":
        "申请 {id} 的状态为「{status}」：只有已批准或已放款的贷款才能报告违约",
    "outstanding_yuan: must not exceed the approved amount {approved:fen}": "outstanding_yuan：不得超过批准金额{approved:fen}",
    "application_id: loan {id} is not covered by the fund": "application_id：贷款 {id} 不在担保基金担保范围内",
    "application_id: a claim on loan {id} was already paid": "application_id：贷款 {id} 的代偿已支付",
    "application_id: loan {id} is {status}: a claim needs a loan reported in default":
        "application_id：贷款 {id} 的状态为「{status}」：只有已报告违约的贷款才能申请代偿",
    "loss_yuan: must not exceed the principal outstanding at default, {outstanding:fen}":
        "loss_yuan：不得超过违约时的未偿本金{outstanding:fen}",
    "fund: the claim of {paid:fen} exceeds the fund's balance of {balance:fen}":
        "fund：代偿金额{paid:fen}超过基金余额{balance:fen}",
    # the fund's ledger notes (stored as texts, rendered for each reader)
    "grade {grade}, fund share {share}%": "等级 {grade}，基金分担 {share}%",
    "grade {grade}, fund share {share}%, by user {user}": "等级 {grade}，基金分担 {share}%，操作用户 {user}",
    "loan repaid": "贷款已结清",
    "initial capital": "初始资本金",
    "a memo of the principal outstanding at default": "违约时未偿本金的备忘记录",
    "loss {loss:yuan} x {share}%, by user {user}": "损失{loss:yuan} × {share}%，操作用户 {user}",
    # -- objections (server/objections/services.py)
    "open": "处理中",
    "corrected": "已更正",
    "only the firm's owner, the owning department and admins see an objection":
        "只有企业主、负责的部门和管理员可以查看异议",
    "record_id: records of source {code!r} cannot be disputed here": "record_id：数据源 {code!r} 的记录不能在此提出异议",
    "{field}: name at least one field to correct": "{field}：至少指明一个要更正的字段",
    "{field}.{name}: not a correctable field of {source}; correctable: {allowed}":
        "{field}.{name}：不是 {source} 可更正的字段；可更正：{allowed}",
    "{field}.{name}: {message}": "{field}.{name}：{message}",
    "{field}: the values equal the record's; nothing to correct": "{field}：这些值与记录相同，无需更正",
    "source: unknown record source {source!r}; known: {known}": "source：未知的记录来源 {source!r}；已知：{known}",
    "no objection {id}": "没有编号为 {id} 的异议",
    "no objection {id} of your firm": "本企业没有编号为 {id} 的异议",
    "record {record} of objection {id} is gone": "异议 {id} 的记录 {record} 已不存在",
    "record_id: the {code} department is not registered": "record_id：部门 {code} 未登记",
    "reason: say what is wrong with the record": "reason：请说明记录有什么问题",
    "record_id: no record {id} of your firm": "record_id：本企业没有编号为 {id} 的记录",
    "record_id: record {id} was replaced by a corrected record; object to the current one":
        "record_id：记录 {id} 已被更正后的记录取代，请对当前记录提出异议",
    "record_id: record {id} already has an open objection ({objection})": "record_id：记录 {id} 已有处理中的异议（{objection}）",
    "no record {id}": "没有编号为 {id} 的记录",
    "record {id} was already replaced": "记录 {id} 已被取代",
    "only the {department} department resolves objection {id}": "只有 {department} 部门可以处理异议 {id}",
    "objection {id} is already {status}": "异议 {id} 已处理，当前状态为「{status}」",
    "reason: a rejection needs a reason": "reason：驳回须说明理由",
    "values: a rejection changes no values; leave them out": "values：驳回不更改任何值，请不要填写",
    # -- policies: rules a department submits (server/policies/eligibility.py)
    "eligibility.industry_sections[{i}]: unknown GB/T 4754 section {code!r}":
        "eligibility.industry_sections[{i}]：未知的 GB/T 4754 门类 {code!r}",
    "eligibility.industry_divisions[{i}]: unknown GB/T 4754 division {code!r}":
        "eligibility.industry_divisions[{i}]：未知的 GB/T 4754 大类 {code!r}",
    "eligibility.towns[{i}]: no firm of the region is in {town!r}": "eligibility.towns[{i}]：本地区没有企业位于 {town!r}",
    "eligibility.indicators[{i}].indicator: unknown indicator code {code!r}":
        "eligibility.indicators[{i}].indicator：未知的指标代码 {code!r}",
    "eligibility.indicators[{i}].value: must be a finite number": "eligibility.indicators[{i}].value：须为有限的数字",
    "eligibility.{hi}: must not be below {lo} ({b} < {a})": "eligibility.{hi}：不得小于 {lo}（{b} < {a}）",
    # -- policies (server/policies/services.py)
    "valid_to: must not be before valid_from ({valid_from:date})": "valid_to：不得早于 valid_from（{valid_from:date}）",
    "no policy {id}": "没有编号为 {id} 的政策",
    "no open policy {id}": "没有编号为 {id} 的开放政策",
    "policy {id} belongs to another department": "政策 {id} 属于其他部门",
    "policy_id: policy {id} is not open for applications": "policy_id：政策 {id} 未开放申报",
    "eligibility: not eligible: {missing}": "eligibility：不符合申报条件：{missing}",
    "policy_id: your firm already has an application ({application}, {status}) for policy {id}":
        "policy_id：本企业已有政策 {id} 的申报（申报 {application}，{status}）",
    "reason: required when rejecting an application": "reason：驳回申报须填写理由",
    "application {id} is for another department's policy": "申报 {id} 属于其他部门的政策",
    "decision: application {id} was already {status}": "decision：申报 {id} 已处理，当前状态为「{status}」",
    # -- consent (server/consent/services.py)
    "bank_id: no bank with id {id}": "bank_id：没有编号为 {id} 的银行",
    "consent_id: no consent {id} of your firm": "consent_id：本企业没有编号为 {id} 的授权",
    "owners see only their own firm's access log": "企业主只能查看本企业的查询记录",
    # -- firms (server/firms/services.py)
    "no firm with uscc {uscc}": "没有统一社会信用代码为 {uscc} 的企业",
    "firm {uscc} has not been scored yet": "企业 {uscc} 尚未评分",
    "owners see only their own firm's evaluation": "企业主只能查看本企业的信用评价",
    "no active consent: the firm has not granted your bank access": "没有有效授权：该企业未授权贵行查看",
    "only the firm's owner, consented banks and admins see evaluations": "只有企业主、获授权的银行和管理员可以查看信用评价",
}
