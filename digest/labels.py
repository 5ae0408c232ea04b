"""Words shown to users, in English and Chinese. Renderers and the rules analyser read them from here."""

from __future__ import annotations

import string

CHANGE_TYPE = {
    "en": {
        "feature": "Feature", "fix": "Bug fix", "perf": "Performance", "refactor": "Refactor", "docs": "Docs",
        "test": "Tests", "ci": "CI", "build": "Build & deps", "chore": "Chore", "revert": "Revert",
        "security": "Security",
    },
    "zh": {
        "feature": "功能增强", "fix": "问题修复", "perf": "性能优化", "refactor": "代码重构", "docs": "文档更新",
        "test": "测试修改", "ci": "配置调整", "build": "构建依赖", "chore": "日常维护", "revert": "回滚",
        "security": "安全修复",
    },
}

IMPORTANCE = {
    "en": {"high": "high", "medium": "medium", "low": "low"},
    "zh": {"high": "高", "medium": "中", "low": "低"},
}
IMPORTANCE_ICON = {"high": "🔴", "medium": "🟡", "low": "🟢"}

TEXT = {
    "en": {
        "report_title": "Daily change report ({day})",
        "time": "Committed", "author": "Author", "message": "Message",
        "stats_title": "📊 Summary",
        "stats_line": "{total:+commit|commits} | 🔴 high {high} | 🟡 medium {medium} | 🟢 low {low}",
        "breaking_count": "⚠️ {n:+breaking change|breaking changes}",
        "merges_count": "{n:+merge commit|merge commits}",
        "merges_grouped": "{n:+merge commit|merge commits} ({grouped} told through their commits)",
        "merge_label": "Merge {name}: {n:+commit|commits}",
        "merge_label_one": "Merge {name}: 1 commit",
        "merge_importance": "the highest of its {n} commits",
        "merge_importance_one": "that of its commit",
        "merge_brings": "brings in {n:+commit|commits}",
        "merge_own": "Its own changes (beyond its parents)",
        "merge_nothing_own": "No changes of its own beyond its parents: told through its commits.",
        "in_merge": "in merge {merge}",
        "breaking_told": "{n:+breaking change it carries is|breaking changes it carries are} listed under {shas}",
        "toc": "📋 Contents",
        "section": "{icon} {level} importance ({n})",
        "view_commit": "View commit", "pull_request": "PR",
        "change_type": "🎯 Change type", "importance": "⚡ Importance", "summary": "📋 Summary",
        "impact": "🎯 Impact scope", "breaking": "💥 Breaking changes", "insights": "🔍 Technical insights",
        "architecture": "Architecture", "performance": "Performance", "security": "Security",
        "maintainability": "Maintainability", "risks": "⚠️ Risks", "suggestions": "💡 Suggestions",
        "risk_point": "Risk", "risk_description": "Description", "risk_consequence": "Consequence",
        "risk_mitigation": "Mitigation",
        "source_llm": "Analysis by {model} from the diff ({read:+file|files} read{skipped}).",
        "source_rules": "Offline rules analysis from file paths, line counts and the commit message.",
        "skipped": ", not read: {names}",
        "unverified": "Not found in the diff (treat with care): {names}",
        "unverified_mark": "(unverified)",
        "diff_coverage": "Read {read}/{files:+file|files} in full, {summarised} summarised{generated}{condensed} ({calls:+LLM call|LLM calls}).",
        "diff_generated": ": {n:+generated file or lockfile|generated files or lockfiles}",
        "diff_condensed": "; {n:+deletion or rename|deletions or renames} condensed to one line",
        "redacted": "{n:+secret|secrets} redacted before sending ({kinds}).",
        "fallback": "LLM unavailable ({error}); offline rules analysis shown, queued for a retry.",
        "budget_spent": "Your daily budget of {limit} LLM tokens ran out while this was built: "
                        "{n:+analysis shows|analyses show} the offline rules instead. Ask again after {reset}.",
        "no_commits": "No commits in {repo} on {day} ({zone}).",
        "merge": "merge",
        "coverage": "{llm}/{total:+commit|commits} analysed by {models}",
        "coverage_fallback": ", {n} by offline rules while the LLM was unreachable (queued for a retry)",
        "coverage_by_rules": ", {n} by offline rules",
        "coverage_retried": ", {n} after a retry",
        "coverage_tokens": " · {tokens_in} tokens in, {tokens_out} out",
        "outage": "LLM unavailable since {since}: {error}. The analyses marked as offline rules will be replaced "
                  "when it answers again.",
        "recovered": "✅ The LLM answers again: {n:+analysis of this digest was|analyses of this digest were} updated.",
        "late_commits": "{n:+commit|commits} added since this digest was posted.",
        "coverage_rules": "{n:+commit|commits} analysed by offline rules",
        "coverage_rules_none": "{n:+commit|commits} analysed by offline rules (no LLM configured)",
        "coverage_rules_off": "{n:+commit|commits} analysed by offline rules (--no-llm)",
        "window": "Window: {start} – {end} ({zone}), branch {branch}",
        "files_line": "files: {n}, +{additions} −{deletions}",
        "digest_title": "{repo} · {day}",
        "stats_chat": "*{total:+commit|commits}* · 🔴 {high} high · 🟡 {medium} medium · 🟢 {low} low · +{additions} −{deletions} lines",
        "breaking_title": "💥 Breaking changes",
        "high_title": "🔴 High importance",
        "medium_title": "🟡 Medium importance",
        "low_line": "🟢 Low ({n}): {titles}",
        "more_in_thread": "…and {n} more in the thread",
        "more_post": "…and {n} more: *Post to channel* shows every commit in a thread",
        "more_later": "…and {n} more: the full digest is posted once the day has ended",
        "thread_hint": "🧵 The analysis of every commit is in the thread.",
        "details_part": "Details {i}/{n}",
        "late": "⏰ Posted late: the bot was not running at the scheduled time.",
        "deep_button": "Deep analysis",
        "post_button": "Post to channel",
        "progress": "⏳ {repo} · {day}: {what}",
        "progress_fetch": "fetching commits {done}/{total}",
        "progress_brief": "analysing {done}/{total}",
        "progress_deep": "deep analyses {done}/{total}",
        "progress_start": "building the digest…",
        "progress_analyze": "⏳ Analysing {sha} in {repo}…",
        "quiet_day": "No commits in {repo} on {day}.",
        "posted_to_channel": "Posted to <#{channel}>.",
        "already_posted": "The digest of {repo} for {day} is already in this channel.",
        "deep_of": "🔍 Deep analysis of {title}",
        "deep_in_thread": "🔍 The deep analysis of {sha} is already in this thread:",
        "deep_posting": "🔍 The deep analysis of {sha} is being posted in this thread now.",
        "deep_open": "open it",
        "merge_of": "🔀 {label}",
        "merge_told": "This merge is told through the commits it brings in: their analyses follow.",
        "more_merged": "…and {n:+more commit|more commits}: see them in the digest's thread",
    },
    "zh": {
        "report_title": "每日更新报告（{day}）",
        "time": "提交时间", "author": "作者", "message": "提交信息",
        "stats_title": "📊 统计摘要",
        "stats_line": "本日共 {total} 个提交 | 🔴 高 {high} | 🟡 中 {medium} | 🟢 低 {low}",
        "breaking_count": "⚠️ {n} 项破坏性变更",
        "merges_count": "{n} 个合并提交",
        "merges_grouped": "{n} 个合并提交（其中 {grouped} 个通过其提交展示）",
        "merge_label": "合并 {name}：{n} 个提交",
        "merge_label_one": "合并 {name}：1 个提交",
        "merge_importance": "取其 {n} 个提交中的最高重要度",
        "merge_importance_one": "与其唯一的提交相同",
        "merge_brings": "带入 {n} 个提交",
        "merge_own": "合并自身的改动（超出各父提交的部分）",
        "merge_nothing_own": "除父提交外没有自身改动：见其下各提交。",
        "in_merge": "属于合并 {merge}",
        "breaking_told": "其携带的 {n} 项破坏性变更已列在 {shas} 下",
        "toc": "📋 目录",
        "section": "{icon} {level}重要度变更 ({n})",
        "view_commit": "查看提交", "pull_request": "PR",
        "change_type": "🎯 变更类型", "importance": "⚡ 重要程度", "summary": "📋 变更摘要",
        "impact": "🎯 影响范围", "breaking": "💥 破坏性变更", "insights": "🔍 技术洞察",
        "architecture": "架构影响", "performance": "性能影响", "security": "安全考虑",
        "maintainability": "可维护性", "risks": "⚠️ 潜在风险", "suggestions": "💡 关注建议",
        "risk_point": "风险点", "risk_description": "说明", "risk_consequence": "可能后果",
        "risk_mitigation": "缓解措施",
        "source_llm": "由 {model} 根据 diff 分析（读取 {read} 个文件{skipped}）。",
        "source_rules": "离线规则分析：依据文件路径、行数和提交信息。",
        "skipped": "，未读取：{names}",
        "unverified": "以下内容在 diff 中未找到（请谨慎参考）：{names}",
        "unverified_mark": "（未验证）",
        "diff_coverage": "完整读取 {read}/{files} 个文件，{summarised} 个以摘要覆盖{generated}{condensed}（共 {calls} 次 LLM 调用）。",
        "diff_generated": "：其中 {n} 个为生成文件或锁文件",
        "diff_condensed": "；{n} 个删除或重命名压缩为一行",
        "redacted": "发送前已遮蔽 {n} 处密钥（{kinds}）。",
        "fallback": "LLM 不可用（{error}）；此处为离线规则分析，已排队重试。",
        "budget_spent": "构建期间你今日的 LLM 额度（{limit} tokens）已用完：{n} 项分析改用离线规则。请在 {reset} 之后再试。",
        "no_commits": "{repo} 在 {day}（{zone}）没有提交。",
        "merge": "合并",
        "coverage": "{llm}/{total} 个提交由 {models} 分析",
        "coverage_fallback": "，{n} 个因 LLM 不可用暂用离线规则（已排队重试）",
        "coverage_by_rules": "，{n} 个由离线规则分析",
        "coverage_retried": "，{n} 个经重试完成",
        "coverage_tokens": " · 输入 {tokens_in} tokens，输出 {tokens_out}",
        "outage": "LLM 自 {since} 起不可用：{error}。标为离线规则的分析将在其恢复后替换。",
        "recovered": "✅ LLM 已恢复：本摘要更新了 {n} 个分析。",
        "late_commits": "本摘要发布后新增 {n} 个提交。",
        "coverage_rules": "{n} 个提交由离线规则分析",
        "coverage_rules_none": "{n} 个提交由离线规则分析（未配置 LLM）",
        "coverage_rules_off": "{n} 个提交由离线规则分析（--no-llm）",
        "window": "时间窗口：{start} – {end}（{zone}），分支 {branch}",
        "files_line": "{n} 个文件，+{additions} −{deletions}",
        "digest_title": "{repo} · {day}",
        "stats_chat": "*共 {total} 个提交* · 🔴 高 {high} · 🟡 中 {medium} · 🟢 低 {low} · +{additions} −{deletions} 行",
        "breaking_title": "💥 破坏性变更",
        "high_title": "🔴 高重要度",
        "medium_title": "🟡 中重要度",
        "low_line": "🟢 低重要度（{n}）：{titles}",
        "more_in_thread": "……另有 {n} 项，见讨论串",
        "more_post": "……另有 {n} 项：点击“发到频道”可在讨论串中查看全部提交",
        "more_later": "……另有 {n} 项：完整摘要将在当天结束后发送",
        "thread_hint": "🧵 每个提交的分析见讨论串。",
        "details_part": "详情 {i}/{n}",
        "late": "⏰ 延迟发送：预定时间机器人未在运行。",
        "deep_button": "深度分析",
        "post_button": "发到频道",
        "progress": "⏳ {repo} · {day}：{what}",
        "progress_fetch": "获取提交 {done}/{total}",
        "progress_brief": "分析中 {done}/{total}",
        "progress_deep": "深度分析 {done}/{total}",
        "progress_start": "正在生成摘要…",
        "progress_analyze": "⏳ 正在分析 {repo} 的 {sha}…",
        "quiet_day": "{repo} 在 {day} 没有提交。",
        "posted_to_channel": "已发到 <#{channel}>。",
        "already_posted": "{repo} {day} 的摘要已在本频道。",
        "deep_of": "🔍 深度分析：{title}",
        "deep_in_thread": "🔍 {sha} 的深度分析已在此讨论串中：",
        "deep_posting": "🔍 {sha} 的深度分析正在发到此讨论串。",
        "deep_open": "查看",
        "merge_of": "🔀 {label}",
        "merge_told": "此合并通过其合入的提交展示：以下是它们的分析。",
        "more_merged": "……另有 {n} 个提交，见摘要的讨论串",
    },
}


def thousands(tokens: int) -> str:
    """180000 -> "180k", 1500 -> "1.5k": token counts as people read them."""
    if tokens >= 10_000:
        return f"{round(tokens / 1000)}k"
    return f"{tokens / 1000:.1f}".removesuffix(".0") + "k" if tokens >= 1000 else str(tokens)


def counted(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


class _Counts(string.Formatter):
    """`{n:+file|files}` -> "1 file", "2 files": English counts with their noun (zh has no plurals)."""

    def format_field(self, value: object, spec: str) -> str:
        if spec.startswith("+") and "|" in spec:
            one, many = spec[1:].split("|", 1)
            return counted(value, one, many)  # type: ignore[arg-type]
        return super().format_field(value, spec)


_COUNTS = _Counts()


def fill(template: str, **values: object) -> str:
    """A template of any string table filled in, with its `{n:+one|many}` counts."""
    return _COUNTS.format(template, **values)


def text(lang: str, key: str, **values: object) -> str:
    return fill(TEXT[lang][key], **values)
