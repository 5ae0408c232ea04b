"""Words shown to users, in English and Chinese. Renderers and the rules analyser read them from here."""

from __future__ import annotations

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
        "stats_line": "{total} commits | 🔴 high {high} | 🟡 medium {medium} | 🟢 low {low}",
        "breaking_count": "⚠️ {n} breaking changes",
        "merges_count": "{n} merge commits",
        "merges_grouped": "{n} merge commits ({grouped} told through their commits)",
        "merge_label": "Merge {name}: {n} commits",
        "merge_label_one": "Merge {name}: 1 commit",
        "merge_importance": "the highest of its {n} commits",
        "merge_importance_one": "that of its commit",
        "merge_brings": "brings in {n} commits",
        "merge_own": "Its own changes (beyond its parents)",
        "merge_nothing_own": "No changes of its own beyond its parents: told through its commits.",
        "in_merge": "in merge {merge}",
        "breaking_told": "{n} breaking changes it carries are listed under {shas}",
        "toc": "📋 Contents",
        "section": "{icon} {level} importance ({n})",
        "view_commit": "View commit", "pull_request": "PR",
        "change_type": "🎯 Change type", "importance": "⚡ Importance", "summary": "📋 Summary",
        "impact": "🎯 Impact scope", "breaking": "💥 Breaking changes", "insights": "🔍 Technical insights",
        "architecture": "Architecture", "performance": "Performance", "security": "Security",
        "maintainability": "Maintainability", "risks": "⚠️ Risks", "suggestions": "💡 Suggestions",
        "risk_point": "Risk", "risk_description": "Description", "risk_consequence": "Consequence",
        "risk_mitigation": "Mitigation",
        "source_llm": "Analysis by {model} from the diff ({read} files read{skipped}).",
        "source_rules": "Offline rules analysis from file paths, line counts and the commit message.",
        "skipped": ", not read: {names}",
        "unverified": "Not found in the diff (treat with care): {names}",
        "fallback": "LLM unavailable ({error}); offline rules analysis shown, queued for a retry.",
        "no_commits": "No commits in {repo} on {day} ({zone}).",
        "merge": "merge",
        "coverage": "Analyses: {llm} by LLM, {rules} by offline rules",
        "coverage_fallback": ", {n} of them because the LLM failed (queued for a retry)",
        "window": "Window: {start} – {end} ({zone}), branch {branch}",
        "files_line": "files: {n}, +{additions} −{deletions}",
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
        "fallback": "LLM 不可用（{error}）；此处为离线规则分析，已排队重试。",
        "no_commits": "{repo} 在 {day}（{zone}）没有提交。",
        "merge": "合并",
        "coverage": "分析来源：LLM {llm} 个，离线规则 {rules} 个",
        "coverage_fallback": "，其中 {n} 个因 LLM 失败而改用规则（已排队重试）",
        "window": "时间窗口：{start} – {end}（{zone}），分支 {branch}",
        "files_line": "{n} 个文件，+{additions} −{deletions}",
    },
}


def text(lang: str, key: str, **values: object) -> str:
    return TEXT[lang][key].format(**values)
