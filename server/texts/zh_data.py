"""The Chinese of the server's texts: part of the one catalogue (see :mod:`server.texts.zh`)."""

from __future__ import annotations

ZH: dict[str, str] = {
    # -- department feeds: reading the file (server/ingest/parse.py)
    "file is not valid UTF-8 text ({reason})": "文件不是有效的 UTF-8 文本（{reason}）",
    "unknown format {format!r}; use csv or jsonl": "未知格式 {format!r}；请使用 csv 或 jsonl",
    "file is empty: expected a header row": "文件为空：应有表头行",
    "unreadable CSV header: {error}": "无法读取 CSV 表头：{error}",
    "header row is empty": "表头行为空",
    "unreadable CSV after data row {row}: {error}": "第 {row} 行数据之后的 CSV 无法读取：{error}",
    "row has {cells} cells, header has {width}": "该行有 {cells} 个单元格，表头有 {width} 列",
    "not valid JSON: {error}": "不是有效的 JSON：{error}",
    "not valid JSON: nested too deeply": "不是有效的 JSON：嵌套层级过深",
    "each line must be a JSON object": "每一行都应是一个 JSON 对象",
    # what the UTF-8 decoder, the JSON and the CSV reader say (server/ingest/parse.py)
    "invalid start byte": "无效的起始字节",
    "invalid continuation byte": "无效的后续字节",
    "unexpected end of data": "数据意外结束",
    "Expecting value": "此处应有一个值",
    "Expecting property name enclosed in double quotes": "此处应有用双引号括起的属性名",
    "Expecting ':' delimiter": "此处应有分隔符 ':'",
    "Expecting ',' delimiter": "此处应有分隔符 ','",
    "Extra data": "有多余的数据",
    "Unterminated string starting at": "字符串没有结束",
    "Invalid control character at": "含有无效的控制字符",
    "Invalid \\escape": "无效的转义",
    "Invalid \\uXXXX escape": "无效的 \\uXXXX 转义",
    "line contains NUL": "行中含有 NUL 字符",
    "field larger than field limit ({limit})": "字段超过长度上限（{limit}）",
    "new-line character seen in unquoted field": "未加引号的字段中出现换行符",
    "a number has too many digits": "数字的位数过多",
    # -- department feeds: checking each row (server/ingest/sources.py)
    "repeats the uscc and record_key of an earlier row of this batch; counted as a duplicate":
        "与本批次前面某行的 uscc 和 record_key 相同；计为重复",
    "column is missing": "缺少该列",
    "{problem}: {value}": "{problem}：{value}",
    "must be one of {choices}, got {value!r}": "应为 {choices} 之一，实为 {value!r}",
    "is not a GB/T 4754 division code (01..97): {value!r}": "不是 GB/T 4754 行业大类代码（01..97）：{value!r}",
    "must be a date YYYY-MM-DD, got {value!r}": "应为 YYYY-MM-DD 格式的日期，实为 {value!r}",
    "is before {earliest:date}: {value}": "早于{earliest:date}：{value}",
    "is in the future: {value}": "是将来的日期：{value}",
    "is before the start date {start:date}": "早于开始日期{start:date}",
    "a firm cannot guarantee itself": "企业不能为自己担保",
    "a JSON boolean": "JSON 布尔值",
    "a JSON number": "JSON 数字",
    "a JSON array": "JSON 数组",
    "a JSON object": "JSON 对象",
    "a JSON {kind}": "JSON {kind}",
    "text": "文本",
    "an amount in yuan": "以元为单位的金额",
    "a number": "数字",
    "a whole number": "整数",
    "must be {want}, got {kind}": "应为{want}，实为 {kind}",
    "is longer than {max_len} characters": "超过 {max_len} 个字符",
    "may hold only letters, digits and - _ . /": "只能包含字母、数字和 - _ . /",
    "may not hold quotes, backslashes or control characters": "不能包含引号、反斜杠或控制字符",
    "contains a NUL character": "含有 NUL 字符",
    "is not valid Unicode text (it has a lone surrogate)": "不是有效的 Unicode 文本（含有孤立的代理码位）",
    "must be an amount in yuan, got {value!r}": "应为以元为单位的金额，实为 {value!r}",
    "must be an amount in yuan like 1234.56, got {value!r}": "应为以元为单位的金额（如 1234.56），实为 {value!r}",
    "has more than two decimals (yuan to the fen): {value!r}": "小数超过两位（金额以元计，精确到分）：{value!r}",
    "must not be negative, got {value!r}": "不能为负数，实为 {value!r}",
    "is implausibly large (check the unit is yuan): {value!r}": "大得不合常理（请检查单位是否为元）：{value!r}",
    "must be at least {lo}, got {value!r}": "不能小于 {lo}，实为 {value!r}",
    "must be {kind}, got {value!r}": "应为{kind}，实为 {value!r}",
    "must be a finite number, got {value!r}": "应为有限的数字，实为 {value!r}",
    "must be at least {lo:g}, got {value!r}": "不能小于 {lo:g}，实为 {value!r}",
    "must be at most {hi:g}, got {value!r}": "不能大于 {hi:g}，实为 {value!r}",
    # -- department feeds: the batch (server/ingest/services.py, fastpath.py)
    "unknown source {code!r}; known sources: {known}": "未知数据源 {code!r}；已知数据源：{known}",
    "required column(s) missing from the header: {columns}": "表头缺少必填列：{columns}",
    "{first} and {second}": "{first} 和 {second}",
    "repeats the {key} of row {row} of this batch, which is the one stored; counted as a duplicate":
        "与本批次第 {row} 行（保存的是该行）的 {key} 相同；计为重复",
    "no registered firm has this code: {code}": "没有已登记的企业使用此代码：{code}",
    # -- department feeds: the routes (server/ingest/controllers.py)
    "this file is being stored right now by another upload; wait for it to finish":
        "同一文件正在由另一次上传入库，请等它完成后再试",
    "the upload is larger than {limit:,} bytes; send it as several batches":
        "上传的文件超过 {limit:,} 字节；请分成几批发送",
    "source {source!r} belongs to the {department!r} department; you operate for {yours!r}":
        "数据源 {source!r} 属于 {department!r} 部门；您所在的部门是 {yours!r}",
    "batch_id: no batch {batch_id}": "batch_id：没有编号为 {batch_id} 的批次",
    "batch_id: batch {batch_id} was sent by the {department!r} department; you operate for {yours!r}":
        "batch_id：批次 {batch_id} 由 {department!r} 部门发送；您所在的部门是 {yours!r}",
    # -- scores: weight profiles and override rules (server/scores/services.py)
    "factor must be a finite number >= 0": "factor 应为不小于 0 的有限数字",
    "unknown target type {kind!r}": "未知的对象类型 {kind!r}",
    "unknown dimension {name!r}": "未知维度 {name!r}",
    "code: unknown rule {code!r} (known: {known})": "code：未知规则 {code!r}（已知规则：{known}）",
    "min_days: bank_default needs whole days in {lo}..{hi}": "min_days：bank_default 需要 {lo}..{hi} 之间的整天数",
    "min_days: only bank_default has a day threshold, not {code}": "min_days：只有 bank_default 有天数门槛，{code} 没有",
    "statuses: registry_status needs statuses among {statuses}": "statuses：registry_status 需要从 {statuses} 中选择状态",
    "statuses: only registry_status has statuses, not {code}": "statuses：只有 registry_status 有状态，{code} 没有",
    "valid_to: must not be before valid_from": "valid_to：不能早于 valid_from",
    "adjustments: {problem}": "adjustments：{problem}",
    "adjustments[{i}].target: {target!r} is not an indicator code, dimension:<dimension> or kind:<record kind "
    "an indicator reads>":
        "adjustments[{i}].target：{target!r} 不是指标代码、dimension:<维度> 或 kind:<指标读取的记录类型>",
    "valid_to: the profile ends on {valid_to:date}, before valid_from {valid_from:date}; send a valid_to for "
    "the revision": "valid_to：该方案于{valid_to:date}结束，早于 valid_from {valid_from:date}；请为修订给出 valid_to",
    "name: {name!r} was revised at the same moment; send it again": "name：{name!r} 同时被他人修订；请重新提交",
    "rules[{i}].{problem}": "rules[{i}].{problem}",
    "rules: each rule code at most once": "rules：每个规则代码最多出现一次",
    "rules: the rule set was revised at the same moment; send it again": "rules：规则集同时被他人修订；请重新提交",
    # -- scores: models and training (server/scores/models.py, training.py, profile_change.py)
    "version: no model version {version!r}": "version：没有模型版本 {version!r}",
    "confirm: {version} gives {changed} of {firms} firms ({share:.1%}) another grade than {against}; over the "
    "{limit:.1%} that needs no confirmation. Send confirm: true to promote it":
        "confirm：{version} 使 {firms} 家企业中的 {changed} 家（{share:.1%}）与 {against} 的等级不同，"
        "超过无需确认的 {limit:.1%}。请发送 confirm: true 以启用该版本",
    "version: {version}'s model file cannot be used ({error})": "version：{version} 的模型文件无法使用（{error}）",
    "no scored region yet: train and score before previewing a profile": "全区尚未评分：请先训练并评分，再预览权重方案",
    "training: a run started at {started} UTC is still running; wait for it (GET /api/models/training)":
        "training：UTC {started} 开始的训练仍在运行；请等待其结束（GET /api/models/training）",
    "training: another admin started a run just now": "training：另一位管理员刚刚开始了一次训练",
    "the API stopped during the run": "训练期间 API 停止了运行",
    "the run's process stopped before it ended": "训练进程在结束前停止了",
    # -- risk (server/risk/scan.py, warnings.py, ties.py)
    "usccs[{i}]: no firm with uscc {uscc}": "usccs[{i}]：没有统一社会信用代码为 {uscc} 的企业",
    "kind: unknown warning kind {kind!r}; known: {known}": "kind：未知预警类型 {kind!r}；已知类型：{known}",
    "owners see only their own firm's ties": "企业主只能查看本企业的关联关系",
    "no active consent: the firm has not granted your bank access to its evaluation and ties":
        "没有有效授权：该企业未授权贵行查看其评价和关联关系",
    "only the firm's owner, consented banks and admins see a firm's ties":
        "只有企业主、获授权的银行和管理员可以查看企业的关联关系",
    # -- notifications (server/notifications/subscriptions.py, inbox.py, controllers.py, push.py)
    "{field}: give both quiet_start and quiet_end, or neither": "{field}：quiet_start 和 quiet_end 要么都给出，要么都不给",
    "quiet_end: must differ from quiet_start": "quiet_end：不能与 quiet_start 相同",
    "subscription_id: you have no subscription {subscription_id}": "subscription_id：您没有编号为 {subscription_id} 的订阅",
    "subscription_id: {subscription_id} is your bank's automatic watch of an applicant or borrower; narrow it "
    "with POST /api/subscriptions (levels, kinds, quiet hours) instead":
        "subscription_id：{subscription_id} 是贵行对申请企业或借款企业的自动关注；"
        "请改用 POST /api/subscriptions 缩小范围（级别、类型、免打扰时段）",
    "notification_id: you have no notification {notification_id}": "notification_id：您没有编号为 {notification_id} 的通知",
    "your bank no longer exists": "您所在的银行已不存在",
    "Last-Event-ID: must be a notification id (an integer)": "Last-Event-ID：应为通知编号（整数）",
    "after_id: must be a notification id (an integer)": "after_id：应为通知编号（整数）",
    "after_id: must be between 0 and 2147483647": "after_id：应在 0 到 2147483647 之间",
    "ticket: unknown, expired or already used; get a new one from POST /api/notifications/stream-ticket":
        "ticket：未知、已过期或已使用；请通过 POST /api/notifications/stream-ticket 获取新的票据",
    "ticket: unknown, expired or already used": "ticket：未知、已过期或已使用",
    "ticket: must be a string": "ticket：应为字符串",
    "token: send Authorization: Bearer <access token>, or ?ticket= from POST /api/notifications/stream-ticket":
        "token：请发送 Authorization: Bearer <访问令牌>，或使用 POST /api/notifications/stream-ticket 获取的 ?ticket=",
    "token: invalid, expired or revoked access token": "token：访问令牌无效、已过期或已被撤销",
    "token: missing; the first message must be {example}": "token：缺失；第一条消息应为 {example}",
    "token: must be a non-empty string (an access token)": "token：应为非空字符串（访问令牌）",
    "token: none sent in time": "token：未在规定时间内发送",
    "token: the sign-in ended (logged out or revoked)": "token：登录已结束（已退出或被撤销）",
    "message: send a JSON text message {example}": "message：请发送 JSON 文本消息 {example}",
    "message: not valid JSON ({error})": "message：不是有效的 JSON（{error}）",
    "message: must be a JSON object {example}": "message：应为 JSON 对象 {example}",
    # -- bank webhooks (server/notifications/webhooks.py; the checks of alerts/netguard.py)
    "url: {problem}": "url：{problem}",
    "must be an http:// or https:// URL": "应为 http:// 或 https:// 网址",
    "has no host": "没有主机名",
    "is not a valid URL": "不是有效的网址",
    "the host {host} does not resolve": "主机 {host} 无法解析",
    "{host} is a {kind} address ({ip}); webhooks may only go to public addresses":
        "{host} 是{kind}地址（{ip}）；webhook 只能发往公网地址",
    "{host} resolves to a {kind} address ({ip}); webhooks may only go to public addresses":
        "{host} 解析到{kind}地址（{ip}）；webhook 只能发往公网地址",
    "unspecified": "未指定",
    "loopback": "环回",
    "link-local": "链路本地",
    "multicast": "组播",
    "private": "私有",
    "reserved": "保留",
    "non-public": "非公网",
}
