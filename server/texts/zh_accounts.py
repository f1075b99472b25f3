"""The Chinese of the server's texts: part of the one catalogue (see :mod:`server.texts.zh`).

Accounts (server/users), the app's own error answers (server/app.py) and the stores
(server/stores.py). The framework's own messages (Litestar, msgspec, the JWT middleware) are
matched by pattern in :mod:`server.texts.framework`."""

from __future__ import annotations

ZH: dict[str, str] = {
    # -- the app's error answers (server/app.py)
    "{field}: {problem}": "{field}：{problem}",
    "; ": "；",
    "is invalid": "无效",
    "text: a text field in the request holds a NUL character or invalid Unicode":
        "text：请求中的文本字段含有 NUL 字符或无效的 Unicode",
    "number: a number in the request is out of range": "number：请求中的数字超出范围",
    "database: temporarily unavailable, retry shortly": "database：数据库暂时不可用，请稍后重试",
    "cluster: the batch cluster is temporarily unavailable, retry later": "cluster：批量计算集群暂时不可用，请稍后重试",
    "Internal Server Error": "服务器内部错误",
    "body: JSON is nested too deeply": "body：JSON 嵌套层级过深",
    # -- stores (server/stores.py)
    "redis: temporarily unavailable, try again shortly": "redis：缓存服务暂时不可用，请稍后重试",
    # -- signing in and tokens (server/users/controllers.py, security.py)
    "too many failed sign-ins: try again in {wait} seconds": "登录失败次数过多：请 {wait} 秒后再试",
    "phone or password is wrong": "手机号或密码错误",
    "refresh_token: was used or revoked": "refresh_token：已被使用或已撤销",
    "refresh_token: is invalid or expired": "refresh_token：无效或已过期",
    "refresh_token: is not a refresh token": "refresh_token：不是刷新令牌",
    "refresh_token: send a valid refresh token (or access token)": "refresh_token：请提供有效的刷新令牌（或访问令牌）",
    "the account no longer exists or is disabled": "该账户已不存在或已停用",
    "language: must be zh or en (or null), not {got!r}": "language：应为 zh 或 en（或 null），而非 {got!r}",
    # -- roles and links (server/users/security.py)
    "your account is not linked to a firm yet": "您的账户尚未关联企业",
    "your account is not linked to a bank": "您的账户未关联银行",
    "your account is not linked to a department": "您的账户未关联部门",
    "this action needs the role {roles}": "此操作需要 {roles} 角色",
    "{one} or {other}": "{one} 或 {other}",
    # -- registration and staff accounts (server/users/services.py)
    "password: choose a less common password ({warning})": "password：请换一个不常见的密码（{warning}）",
    "it is too easy to guess": "太容易被猜到",
    "straight rows of keys are easy to guess": "键盘上一整排的按键很容易被猜到",
    "short keyboard patterns are easy to guess": "简短的键盘图案很容易被猜到",
    'repeats like "aaa" are easy to guess': '像 "aaa" 这样的重复很容易被猜到',
    'repeats like "abcabcabc" are only slightly harder to guess than "abc"':
        '像 "abcabcabc" 这样的重复只比 "abc" 难猜一点',
    'sequences like "abc" or "6543" are easy to guess': '像 "abc" 或 "6543" 这样的序列很容易被猜到',
    "recent years are easy to guess": "最近的年份很容易被猜到",
    "dates are often easy to guess": "日期往往很容易被猜到",
    "this is a top-10 common password": "这是最常用的 10 个密码之一",
    "this is a top-100 common password": "这是最常用的 100 个密码之一",
    "this is a very common password": "这是非常常用的密码",
    "this is similar to a commonly used password": "这与常用密码相似",
    "a word by itself is easy to guess": "单个词语很容易被猜到",
    "names and surnames by themselves are easy to guess": "单独的名字和姓氏很容易被猜到",
    "common names and surnames are easy to guess": "常见的名字和姓氏很容易被猜到",
    "phone: this number is already registered": "phone：该号码已注册",
    "phone: this number is already registered; sign in": "phone：该号码已注册，请直接登录",
    "{what}: try again in {wait} seconds": "{what}，请 {wait} 秒后再试",
    "too many registrations": "注册次数过多",
    "no SMS gateway is configured to send verification codes": "未配置发送验证码的短信网关",
    "code: too many wrong codes; ask for a new one": "code：错误次数过多，请重新获取验证码",
    "code: too many wrong codes for this number": "code：该号码输错验证码的次数过多",
    "code: wrong or expired code": "code：验证码错误或已过期",
    "bank_id: a bank manager must be linked to a bank": "bank_id：银行客户经理必须关联一家银行",
    "bank_id: no bank with id {bank_id}": "bank_id：没有编号为 {bank_id} 的银行",
    "department: no department with code {code!r}": "department：没有代码为 {code!r} 的部门",
    # -- proving a firm (server/users/services.py)
    "uscc: your account already acts for firm {uscc}": "uscc：您的账户已代表企业 {uscc}",
    "uscc: the firm is already claimed by another account; ask the platform to transfer it":
        "uscc：该企业已被其他账户认领，请联系平台办理转移",
    "uscc: too many codes asked for this account today": "uscc：该账户今天获取验证码的次数过多",
    "uscc: too many codes asked for this firm today": "uscc：该企业今天获取验证码的次数过多",
    "code: no code is pending for this firm, or it expired; ask for a new one":
        "code：该企业没有待验证的验证码，或验证码已过期，请重新获取",
    "code: too many wrong codes for this account today": "code：该账户今天输错验证码的次数过多",
    "code: too many wrong codes for this firm today": "code：该企业今天输错验证码的次数过多",
    "code: wrong code ({left} tries left)": "code：验证码错误（还可尝试 {left} 次）",
}
