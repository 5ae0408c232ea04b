"""What the chat commands say, one table per language: help, usage, notices, /digest status. Chat markup (`*bold*`,
`code`) is at home here, not in digest/labels.py; counts take their noun with `{n:+one|many}` (zh has none)."""

from __future__ import annotations

from datetime import datetime, timezone

from core.window import parse_zone
from digest.labels import fill

HELP = {
    "en": """*Commit Radar*: daily digests of a repository's commits, analysed.
• `/digest` — yesterday's digest of this channel's repository (in its time zone)
• `/digest 2026-01-11 [owner/name] [tz Asia/Shanghai]`, `/digest today|yesterday|latest [owner/name]`
• `/digest week`, `/digest 2026-01-05..2026-01-11` — a roll-up of the last full week, or of up to 31 days
• `/digest subscribe owner/name [at 09:00] [tz Asia/Shanghai] [lang zh] [branch main,release/*] [quiet skip|line|unless-watched] [skip-authors dependabot[bot]] [min high|medium|all] [paths python/sglang/srt/**] [weekly mon 09:00|off] [daily on|off]`
• `/digest watch owner/name path|flag|keyword|author PATTERN [notify @team]` — the daily post opens with the commits that touch it; `/digest unwatch owner/name N`, `/digest watches [owner/name]`
• `/digest unsubscribe owner/name`, `/digest list`, `/digest status`, `/digest help`
• `/analyze d112f6a [owner/name] [tz Asia/Shanghai]` — a deep analysis of one commit
Any command takes `lang en|zh`.""",
    "zh": """*Commit Radar*：每日提交摘要与分析。
• `/digest` — 本频道订阅仓库昨天的摘要（按订阅的时区）
• `/digest 2026-01-11 [owner/name] [tz Asia/Shanghai]`、`/digest today|yesterday|latest [owner/name]`
• `/digest week`、`/digest 2026-01-05..2026-01-11` — 上一个完整周或最多 31 天的汇总
• `/digest subscribe owner/name [at 09:00] [tz Asia/Shanghai] [lang zh] [branch main,release/*] [quiet skip|line|unless-watched] [skip-authors dependabot[bot]] [min high|medium|all] [paths python/sglang/srt/**] [weekly mon 09:00|off] [daily on|off]`
• `/digest watch owner/name path|flag|keyword|author 模式 [notify @团队]` — 每日摘要先列出涉及它的提交；`/digest unwatch owner/name N`、`/digest watches [owner/name]`
• `/digest unsubscribe owner/name`、`/digest list`、`/digest status`、`/digest help`
• `/analyze d112f6a [owner/name] [tz Asia/Shanghai]` — 单个提交的深度分析
所有命令都可加 `lang en|zh`。""",
}

WORDS = {
    "en": {
        "usage_analyze": "Usage: `/analyze SHA [owner/name] [tz ZONE] [lang en|zh]`, e.g. `/analyze d112f6a "
                         "sgl-project/sglang`",
        "usage_subscribe": "Usage: `/digest subscribe owner/name [at HH:MM] [tz ZONE] [lang en|zh] [branch B[,C…]] "
                           "[quiet skip|line|unless-watched] [skip-authors A,B] [min high|medium|all] [paths P,Q] "
                           "[weekly DAY HH:MM|off] [daily on|off]`",
        "usage_unsubscribe": "Usage: `/digest unsubscribe owner/name`",
        "usage_list": "Usage: `/digest list`",
        "usage_status": "Usage: `/digest status`",
        "usage_digest": "Usage: `/digest [YYYY-MM-DD|today|yesterday|latest|week|A..B] [owner/name] [tz ZONE] "
                        "[lang en|zh]`",
        "usage_watch": "Usage: `/digest watch owner/name path|flag|keyword|author PATTERN [notify @someone]`, "
                       "`/digest unwatch owner/name N`, `/digest watches [owner/name]`",
        "internal_error": "❌ internal error ({kind}); it is in the bot's log",
        "not_admin": "⛔ Only the bot's admins can change subscriptions here.",
        "rate_limited": "⏳ You have asked for {n:+analysis|analyses} in the last hour; please wait a little.",
        "budget_spent": "⏳ You have used {used} of {limit} LLM tokens today; resets at {reset}. Digests already "
                        "built are still free to ask for.",
        "unknown_word": "I did not understand `{word}`.",
        "which_repo": "Which repository? This channel has several: {choices}. Add one to the command.",
        "no_repo": "This channel has no subscription: name a repository (`/digest 2026-01-11 owner/name`) or "
                   "subscribe with `/digest subscribe owner/name`.",
        "subscribed": "✅ Subscribed to `{repo}`: daily at {at} {zone}, in {lang}. Next post: {next}.",
        "subscribed_weekly": "✅ Subscribed to `{repo}`, weekly only, in {lang}. Next post: {next}.",
        "not_subscribed": "This channel is not subscribed to `{repo}`.",
        "env_subscription": "`{repo}` is subscribed from the environment (DIGEST_REPOS): edit DIGEST_REPOS and "
                            "restart the bot to remove it.",
        "unsubscribed": "✅ Unsubscribed from `{repo}`.",
        "list_title": "*Subscriptions in this channel*",
        "list_no_daily": "no daily post",
        "list_weekly": "📅 weekly roll-up {when} {zone}",
        "list_min_medium": "the post lists high and medium commits",
        "list_min_low": "the post lists commits of every importance",
        "list_paths": "only commits touching {paths}",
        "list_skip": "leaves out commits by {authors}",
        "watch_line": "{n}. {kind} `{pattern}`{who}",
        "watch_kind_path": "path", "watch_kind_flag": "flag", "watch_kind_keyword": "keyword",
        "watch_kind_author": "author",
        "watch_added": "👀 Watching in `{repo}`: {line}. The daily post opens with the commits that touch it.",
        "watch_removed": "✅ Watch {n} of `{repo}` removed.",
        "watch_unknown": "`{repo}` has no watch {n} here: `/digest watches` lists them.",
        "watch_none": "No watches in this channel: add one with `/digest watch owner/name path DIR notify @team`.",
        "watch_title": "*Watches in this channel*",
        "watch_needs_subscription": "Subscribe this channel to `{repo}` first (`/digest subscribe {repo}`): a watch "
                                    "is told in its daily post.",
        "watch_other_platform": "That mention belongs to another chat platform: mention someone of this one.",
        "watch_too_many": "`{repo}` already has {n} watches here, the most one subscription keeps.",
        "day_open": "{day} has not ended yet: its digest is posted the next morning.",
        "post_failed": "⚠️ {status}: {detail}",
        "status_title": "*Commit Radar status*",
        "status_line": "• `{repo}`: next {next} · last post {last}",
        "never_posted": "none yet",
        "state_posted": "{day}: posted {at}",
        "state_claimed": "{day}: being posted",
        "state_failed": "{day}: failed ({error}), retried every few minutes",
        "others_paused": "{n:+other destination is|other destinations are} paused (see /digest status there).",
        "llm_none": "LLM: not configured (offline rules analysis)",
        "llm_off": "LLM: turned off with --no-llm (offline rules analysis)",
        "llm_line": "LLM {model}: {state}; {pending:+analysis|analyses} queued for a retry",
        "llm_ok": "ok",
        "llm_open": "paused",
        "llm_half-open": "trying again",
        "llm_failing": "failing ({n:+failed call|failed calls} in a row, new calls held)",
        "llm_since": "{state} since {since}: {error}",
        "llm_models_down": "; models not found: {names}",
        "llm_cost": "LLM cost, last 7 days: {tokens_in} tokens in, {tokens_out} out, {calls:+call|calls}{cap}",
        "llm_cap": " (cap {cap} a day)",
        "llm_outage": "⚠️ LLM outage since {since}: {error}",
        "github_token": "GitHub: token set (5000 requests/h)",
        "github_none": "GitHub: no GITHUB_TOKEN (60 requests/h)",
    },
    "zh": {
        "usage_analyze": "用法：`/analyze SHA [owner/name] [tz ZONE] [lang en|zh]`，例如 `/analyze d112f6a sgl-project/sglang`",
        "usage_subscribe": "用法：`/digest subscribe owner/name [at HH:MM] [tz ZONE] [lang en|zh] [branch B[,C…]] "
                           "[quiet skip|line|unless-watched] [skip-authors A,B] [min high|medium|all] [paths P,Q] "
                           "[weekly DAY HH:MM|off] [daily on|off]`",
        "usage_unsubscribe": "用法：`/digest unsubscribe owner/name`",
        "usage_list": "用法：`/digest list`",
        "usage_status": "用法：`/digest status`",
        "usage_digest": "用法：`/digest [YYYY-MM-DD|today|yesterday|latest|week|A..B] [owner/name] [tz ZONE] "
                        "[lang en|zh]`",
        "usage_watch": "用法：`/digest watch owner/name path|flag|keyword|author 模式 [notify @成员]`、"
                       "`/digest unwatch owner/name N`、`/digest watches [owner/name]`",
        "internal_error": "❌ 内部错误（{kind}），详情见机器人日志",
        "not_admin": "⛔ 只有机器人管理员可以修改订阅。",
        "rate_limited": "⏳ 过去一小时内你已请求 {n} 次分析，请稍后再试。",
        "budget_spent": "⏳ 你今天已使用 {used} / {limit} 个 LLM token；额度于 {reset} 重置。已生成的摘要仍可免费查看。",
        "unknown_word": "无法理解 `{word}`。",
        "which_repo": "哪个仓库？本频道订阅了多个：{choices}。请在命令中指明。",
        "no_repo": "本频道没有订阅：请指明仓库（`/digest 2026-01-11 owner/name`）或用 `/digest subscribe owner/name` 订阅。",
        "subscribed": "✅ 已订阅 `{repo}`：每天 {at}（{zone}），语言 {lang}。下次发送：{next}。",
        "subscribed_weekly": "✅ 已订阅 `{repo}`（仅每周汇总），语言 {lang}。下次发送：{next}。",
        "not_subscribed": "本频道未订阅 `{repo}`。",
        "env_subscription": "`{repo}` 来自环境变量 DIGEST_REPOS：请修改 DIGEST_REPOS 并重启机器人。",
        "unsubscribed": "✅ 已取消订阅 `{repo}`。",
        "list_title": "*本频道的订阅*",
        "list_no_daily": "不发每日摘要",
        "list_weekly": "📅 每周汇总 {when}（{zone}）",
        "list_min_medium": "频道消息列出高、中重要度的提交", "list_min_low": "频道消息列出所有重要度的提交",
        "list_paths": "只包含涉及 {paths} 的提交",
        "list_skip": "不包含 {authors} 的提交",
        "watch_line": "{n}. {kind} `{pattern}`{who}",
        "watch_kind_path": "路径", "watch_kind_flag": "参数", "watch_kind_keyword": "关键词",
        "watch_kind_author": "作者",
        "watch_added": "👀 已在 `{repo}` 中关注：{line}。每日摘要会先列出涉及它的提交。",
        "watch_removed": "✅ 已删除 `{repo}` 的第 {n} 个关注。",
        "watch_unknown": "本频道的 `{repo}` 没有第 {n} 个关注：用 `/digest watches` 查看。",
        "watch_none": "本频道没有关注：用 `/digest watch owner/name path 目录 notify @团队` 添加。",
        "watch_title": "*本频道的关注*",
        "watch_needs_subscription": "请先为本频道订阅 `{repo}`（`/digest subscribe {repo}`）：关注会在每日摘要中提示。",
        "watch_other_platform": "这个 @ 属于另一个聊天平台：请 @ 本平台的成员。",
        "watch_too_many": "本频道的 `{repo}` 已有 {n} 个关注，已达上限。",
        "day_open": "{day} 尚未结束：其摘要将在次日早上发送。",
        "post_failed": "⚠️ {status}：{detail}",
        "status_title": "*Commit Radar 状态*",
        "status_line": "• `{repo}`：下次 {next} · 上次发送 {last}",
        "never_posted": "尚无",
        "state_posted": "{day}：已于 {at} 发送",
        "state_claimed": "{day}：发送中",
        "state_failed": "{day}：失败（{error}），每隔几分钟重试",
        "others_paused": "另有 {n} 个目标已暂停（请在相应频道查看 /digest status）。",
        "llm_none": "LLM：未配置（离线规则分析）",
        "llm_off": "LLM：已用 --no-llm 关闭（离线规则分析）",
        "llm_line": "LLM {model}：{state}；{pending} 项分析等待重试",
        "llm_ok": "正常",
        "llm_open": "已暂停",
        "llm_half-open": "正在重试",
        "llm_failing": "出错（连续 {n} 次调用失败，新调用暂缓）",
        "llm_since": "{state}，自 {since} 起：{error}",
        "llm_models_down": "；找不到模型：{names}",
        "llm_cost": "近 7 天 LLM 用量：输入 {tokens_in} tokens，输出 {tokens_out}，{calls} 次调用{cap}",
        "llm_cap": "（每日上限 {cap}）",
        "llm_outage": "⚠️ LLM 自 {since} 起不可用：{error}",
        "github_token": "GitHub：已设置令牌（每小时 5000 次请求）",
        "github_none": "GitHub：未设置 GITHUB_TOKEN（每小时 60 次请求）",
    },
}


def say(lang: str, key: str, /, **values: object) -> str:
    return fill(WORDS[lang][key], **values)


def usage(lang: str, topic: str) -> str:
    return WORDS[lang].get(f"usage_{topic}") or WORDS[lang]["usage_digest"]


def moment(when: datetime, zone: str) -> str:
    """A time as people read it, with its zone named unambiguously: `2026-11-28 22:19 Asia/Shanghai` (never CST)."""
    aware = when if when.tzinfo else when.replace(tzinfo=timezone.utc)  # stored times are UTC
    return f"{aware.astimezone(parse_zone(zone)):%Y-%m-%d %H:%M} {zone}"
