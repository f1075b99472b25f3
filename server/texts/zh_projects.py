"""The Chinese of the server's texts: part of the one catalogue (see :mod:`server.texts.zh`)."""

from __future__ import annotations

ZH: dict[str, str] = {
    # -- supported projects (server/projects/services.py, server/policies/services.py)
    "project: only an approval opens a project": "project：只有批准申请才会建立项目",
    "project.starts_on: must lie between {earliest:date} and {latest:date}":
        "project.starts_on：应在 {earliest:date} 至 {latest:date} 之间",
    "project.outcomes: each outcome once ({metric} is given twice)":
        "project.outcomes：每项绩效目标只能填写一次（{metric} 重复）",
    "project.milestones: {title} is due on {due:date}, outside the project ({start:date} to {end:date})":
        "project.milestones：节点「{title}」的到期日 {due:date} 不在项目期内（{start:date} 至 {end:date}）",
    "project.milestones: a milestone needs a title": "project.milestones：节点需要名称",
    "no project {id}": "没有编号为 {id} 的项目",
    "project {id} is not yours to see": "无权查看项目 {id}",
    "milestone: project {id} has no milestone {seq}": "milestone：项目 {id} 没有第 {seq} 个节点",
    "project {id} is closed": "项目 {id} 已结项",
    "milestone: a report of this kind for milestone {seq} exists already":
        "milestone：第 {seq} 个节点已提交过此类报告",
}
