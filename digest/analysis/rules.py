"""The offline analyser: deterministic, no network, good enough to read. Every importance says why.

It is also the prior handed to the LLM, and the fallback when the LLM fails.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from digest.analysis.paths import MAX_PATH, file_kind, module_of
from digest.labels import counted
from core.models import Analysis, Commit, Insights, Risk
from digest.textfit import fit

RULES_MODEL = "rules-v1"
MAX_TITLE = 1000  # characters of a title its kind is read from: the rest of a pasted wall of text says no more

_CONVENTIONAL = re.compile(r"^\s*(\w+)(?:\([^)]*\))?(!)?:", re.IGNORECASE)
_TAGS = re.compile(r"\[([^\]\[]{1,40})\]")
_CONVENTIONAL_TYPES = {
    "feat": "feature", "feature": "feature", "fix": "fix", "bugfix": "fix", "hotfix": "fix", "perf": "perf",
    "refactor": "refactor", "docs": "docs", "doc": "docs", "test": "test", "tests": "test", "ci": "ci",
    "build": "build", "deps": "build", "chore": "chore", "style": "chore", "revert": "revert",
    "security": "security", "sec": "security",
}
_TAG_TYPES = (
    (re.compile(r"security|cve", re.I), "security"),
    (re.compile(r"\bci\b|workflow", re.I), "ci"),
    (re.compile(r"bug\s*fix|\bfix|hot\s*fix", re.I), "fix"),
    (re.compile(r"feature|feat\b|\bnew\b", re.I), "feature"),
    (re.compile(r"perf|performance|speed", re.I), "perf"),
    (re.compile(r"refactor|cleanup|clean up", re.I), "refactor"),
    (re.compile(r"docs?\b|documentation", re.I), "docs"),
    (re.compile(r"tests?\b", re.I), "test"),
    (re.compile(r"deps?\b|build|dependenc", re.I), "build"),
    (re.compile(r"revert", re.I), "revert"),
)
_WORD_TYPES = (
    (re.compile(r"\b(cve-\d+|vulnerab\w*|security|xss|csrf|injection)\b", re.I), "security"),
    (re.compile(r"^revert\b", re.I), "revert"),
    (re.compile(r"\b(fix(es|ed)?|bug|crash|error|incorrect|wrong)\b", re.I), "fix"),
    (re.compile(r"\b(speed ?up|faster|optimi[sz]\w*|latency|throughput|zero-alloc\w*|perf)\b", re.I), "perf"),
    (re.compile(r"\b(add(s|ed)?|support(s|ed)?|enable(s|d)?|implement\w*|introduc\w*|new)\b", re.I), "feature"),
    (re.compile(r"\b(refactor\w*|rename\w*|remove\w*|clean\w*|simplif\w*|unif\w*|move\w*)\b", re.I), "refactor"),
    (re.compile(r"\b(bump|upgrade|dependenc\w*)\b", re.I), "build"),
    (re.compile(r"\b(docs?|readme|typo)\b", re.I), "docs"),
)
_TINY = re.compile(r"\[\s*(tiny|minor|nit|misc|typo)[^\]]*\]|^\s*(tiny|minor|nit|typo)\b", re.I)
_BREAKING = re.compile(r"^BREAKING[ -]CHANGE:", re.M)
_TRAILER = re.compile(r"^(signed-off-by|co-authored-by|reviewed-by|acked-by|change-id):", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")
_PERF_PATH = re.compile(r"kernel|cuda|csrc|\.cu$|\.cuh$|triton|simd|hot_?path|cache|alloc", re.I)
_SECURITY_PATH = re.compile(r"auth|token|crypt|secret|permission|sanitiz|password|credential|ssl|tls", re.I)
# A removed flag is the first quoted --flag after the first call that declares one. Two searches, each linear: the
# single pattern `^-.*(?:flag)\(.*?["'](--…)["']` tried every `flag(` against the rest of the line (9.9 s for 60 KB).
_FLAG_CALL = re.compile(r"(?:add_argument|option|Option|flag)\(")
_QUOTED_FLAG = re.compile(r"""["'](--[A-Za-z0-9][\w-]*+)["']""")
_TOP_DEF = re.compile(r"^([-+])(?:async\s+)?(def|class)\s+([A-Za-z][A-Za-z0-9_]*)")
_ENV_USE = re.compile(r"""^([-+]).*(?:environ(?:\.get)?\(|environ\[|getenv\()\s*["']([A-Z][A-Z0-9_]{2,})["']""")

SOURCE_LINES_HIGH = 400
SOURCE_LINES_FEATURE_HIGH = 150
SOURCE_LINES_MEDIUM = 40
SOURCE_FILES_HIGH = 15


@dataclass(frozen=True)
class Shape:
    """What a commit touches, counted once and shared by the rules below."""

    lines_by_kind: dict[str, int]
    files_by_kind: dict[str, int]
    source_modules: list[str]
    modules: list[str]

    @property
    def source_lines(self) -> int:
        return self.lines_by_kind.get("source", 0)

    @property
    def only(self) -> set[str]:
        return {k for k, n in self.files_by_kind.items() if n}


def shape_of(commit: Commit) -> Shape:
    lines: Counter[str] = Counter()
    files: Counter[str] = Counter()
    source_mods: Counter[str] = Counter()
    mods: Counter[str] = Counter()
    for f in commit.files:
        kind = file_kind(f.path)
        changed = f.additions + f.deletions or 1
        lines[kind] += f.additions + f.deletions
        files[kind] += 1
        mods[module_of(f.path)] += changed
        if kind == "source":
            source_mods[module_of(f.path)] += changed
    return Shape(dict(lines), dict(files), [m for m, _ in source_mods.most_common(6)],
                 [m for m, _ in mods.most_common(6)])


def change_type(commit: Commit, shape: Shape) -> str:
    title = commit.title[:MAX_TITLE]
    conventional = _CONVENTIONAL.match(title)
    if conventional and conventional.group(1).lower() in _CONVENTIONAL_TYPES:
        return _CONVENTIONAL_TYPES[conventional.group(1).lower()]
    for tag in _TAGS.findall(title):
        for pattern, kind in _TAG_TYPES:
            if pattern.search(tag):
                return kind
    if shape.only and shape.only <= {"docs"}:
        return "docs"
    if shape.only and shape.only <= {"test"}:
        return "test"
    if shape.only and shape.only <= {"ci"}:
        return "ci"
    if shape.only and shape.only <= {"build", "generated"}:
        return "build"
    for pattern, kind in _WORD_TYPES:
        if pattern.search(title):
            return kind
    return "chore"


def breaking_changes(commit: Commit, lang: str) -> list[str]:
    """Removed or renamed CLI flags, public functions/classes, environment variables and modules, from the diff."""
    found: list[str] = []
    if _BREAKING.search(commit.message) or (
        (m := _CONVENTIONAL.match(commit.title)) and m.group(2)
    ):
        found.append("提交信息声明了破坏性变更" if lang == "zh" else "the commit message declares a breaking change")
    added_flags: set[str] = set()
    removed_flags: dict[str, str] = {}
    defs: dict[str, dict[str, str]] = {"-": {}, "+": {}}
    env: dict[str, dict[str, str]] = {"-": {}, "+": {}}
    for f in commit.files:
        kind = file_kind(f.path)
        if kind == "source" and f.status in ("removed", "renamed") and f.path.endswith(".py"):
            name = (f.previous_path or f.path) if f.status == "renamed" else f.path
            if not _basename(name).startswith("_"):
                if f.status == "removed":
                    found.append(f"删除模块 `{name}`" if lang == "zh" else f"module `{name}` removed")
                else:
                    found.append(f"模块 `{name}` 重命名为 `{f.path}`" if lang == "zh"
                                 else f"module `{name}` renamed to `{f.path}`")
        if not f.patch or kind not in ("source", "build"):
            continue
        for line in f.patch.splitlines():
            if (flag := _removed_flag(line)):
                removed_flags.setdefault(flag, f.path)
            if line.startswith("+") and not line.startswith("++"):
                added_flags.update(m.group(1) for m in _QUOTED_FLAG.finditer(line))
            if (m := _TOP_DEF.match(line)) and not m.group(3).startswith("_"):
                defs[m.group(1)].setdefault(m.group(3), f.path)
            if (m := _ENV_USE.match(line)):
                env[m.group(1)].setdefault(m.group(2), f.path)
    for flag, path in removed_flags.items():
        if flag not in added_flags:
            found.append(f"移除命令行参数 `{flag}`（{path}）" if lang == "zh" else f"CLI flag `{flag}` removed ({path})")
    for name, path in defs["-"].items():
        if name not in defs["+"]:
            found.append(f"移除公开接口 `{name}`（{path}）" if lang == "zh"
                         else f"public `{name}` removed ({path})")
    for name, path in env["-"].items():
        if name not in env["+"]:
            found.append(f"不再读取环境变量 `{name}`（{path}）" if lang == "zh"
                         else f"environment variable `{name}` no longer read ({path})")
    return found[:20]


def _removed_flag(line: str) -> str | None:
    if not line.startswith("-") or line.startswith("--"):
        return None
    call = _FLAG_CALL.search(line, 1)
    flag = _QUOTED_FLAG.search(line, call.end()) if call else None
    return flag.group(1) if flag else None


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def importance(commit: Commit, shape: Shape, kind: str, breaking: list[str], lang: str) -> tuple[str, str]:
    zh = lang == "zh"
    lines = commit.additions + commit.deletions
    src, src_files = shape.source_lines, shape.files_by_kind.get("source", 0)
    where = f" in {shape.source_modules[0]}" if shape.source_modules else ""
    where_zh = f"（{shape.source_modules[0]}）" if shape.source_modules else ""
    if commit.is_merge:
        return "low", ("合并提交；被合并的改动以各自的提交列出" if zh
                       else "merge commit; the merged changes are listed as their own commits")
    if kind == "security" or _WORD_TYPES[0][0].search(commit.title[:MAX_TITLE]):
        return "high", "安全相关修复，需尽快评估" if zh else "security fix: assess promptly"
    if breaking:
        return "high", (f"破坏性变更：{breaking[0]}" if zh else f"breaking change: {breaking[0]}")
    if commit.files_total == 0:
        return "low", "没有文件改动" if zh else "no file changes"
    if not shape.files_by_kind.get("source") and not shape.files_by_kind.get("build"):
        kinds = "、".join(sorted(shape.only)) if zh else ", ".join(sorted(shape.only))
        return "low", (f"只改动了 {kinds} 文件，不影响运行时代码" if zh
                       else f"only {kinds} files changed; no runtime code")
    if kind == "revert":
        return "medium", "回滚之前的改动，行为会恢复到旧版本" if zh else "reverts an earlier change: behaviour goes back"
    if _TINY.search(commit.title[:MAX_TITLE]) and src < SOURCE_LINES_HIGH:
        return "low", (f"标记为小改动，源代码改动 {src} 行" if zh else f"marked as a small change; {src} source lines")
    if src >= SOURCE_LINES_HIGH or src_files >= SOURCE_FILES_HIGH:
        return "high", (f"大范围源代码改动：{src_files} 个文件、{src} 行{where_zh}" if zh
                        else f"large source change: {counted(src_files, 'file', 'files')}, {src} lines{where}")
    if kind in ("feature", "perf") and src >= SOURCE_LINES_FEATURE_HIGH:
        label = ("新功能" if kind == "feature" else "性能改动") if zh else ("new feature" if kind == "feature" else
                                                                          "performance change")
        return "high", (f"{label}，源代码改动 {src} 行{where_zh}" if zh else f"{label} with {src} source lines{where}")
    if not shape.files_by_kind.get("source"):
        return "medium", ("改动构建或依赖配置，可能影响安装与部署" if zh
                          else "changes build or dependency configuration: may affect installs")
    if src >= SOURCE_LINES_MEDIUM or kind in ("feature", "fix", "perf"):
        return "medium", (f"改动运行时代码：{src_files} 个文件、{src} 行{where_zh}" if zh
                          else f"changes runtime code: {counted(src_files, 'file', 'files')}, {src} lines{where}")
    return "low", (f"小范围源代码改动：{src} 行（共 {lines} 行）" if zh
                   else f"small source change: {src} of {lines} changed lines")


def summary(commit: Commit, shape: Shape, lang: str) -> str:
    title = commit.bare_title.strip()
    body = [ln for ln in commit.message.split("\n")[1:] if ln.strip() and not _TRAILER.match(ln.strip())]
    sentences = _SENTENCE_END.split(" ".join(ln.strip() for ln in body)) if body else []
    kept: list[str] = []
    for sentence in sentences:  # whole sentences only, up to about 300 characters
        if kept and sum(len(s) for s in kept) + len(sentence) > 300:
            break
        kept.append(sentence)
    text = title.rstrip(".。") + ("。" if lang == "zh" else ".")
    if kept:
        text += ("" if lang == "zh" else " ") + " ".join(kept)
    n = commit.files_total or 0
    area = shape.source_modules[0] if shape.source_modules else (shape.modules[0] if shape.modules else "")
    if lang == "zh":
        text += f"改动 {n} 个文件（+{commit.additions} −{commit.deletions}）" + (f"，主要在 `{area}`。" if area else "。")
    else:
        text += f" Changes {n} file{'s' if n != 1 else ''} (+{commit.additions} −{commit.deletions})" + (
            f", mostly in `{area}`." if area else ".")
    return text


def impact_scope(commit: Commit, shape: Shape) -> list[str]:
    if 0 < len(commit.files) <= 3:
        return [f.path for f in commit.files]
    return shape.source_modules or shape.modules


def analyse(commit: Commit, lang: str = "en", depth: str = "brief") -> Analysis:
    shape = shape_of(commit)
    kind = change_type(commit, shape)
    breaking = breaking_changes(commit, lang)
    level, reason = importance(commit, shape, kind, breaking, lang)
    deep = depth == "deep"
    insights, risks, suggestions = _deep(commit, shape, breaking, lang) if deep else (None, [], [])
    return Analysis(
        change_type=kind,  # type: ignore[arg-type]
        importance=level,  # type: ignore[arg-type]
        importance_reason=fit(reason, 600),
        summary=fit(summary(commit, shape, lang), 4000),
        impact_scope=[fit(p, 300) for p in impact_scope(commit, shape)][:30],
        breaking_changes=[fit(b, 500) for b in breaking],
        insights=insights,
        risks=risks,
        suggestions=suggestions,
        depth="deep" if deep else "brief",
        source="rules",
        model=RULES_MODEL,
        lang=lang,  # type: ignore[arg-type]
        read_files=[f.path for f in commit.files if f.patch is not None],
    )


def _deep(commit: Commit, shape: Shape, breaking: list[str], lang: str) -> tuple[Insights, list[Risk], list[str]]:
    zh = lang == "zh"
    added = [f.path for f in commit.files if f.status == "added" and file_kind(f.path) == "source"]
    gone = [f.path for f in commit.files if f.status in ("removed", "renamed") and file_kind(f.path) == "source"]
    perf = sorted({module_of(f.path) for f in commit.files if _PERF_PATH.search(f.path[-MAX_PATH:])})[:3]
    security = sorted({f.path for f in commit.files if _SECURITY_PATH.search(f.path[-MAX_PATH:])})[:3]
    tests = shape.files_by_kind.get("test", 0)
    missing = [f.path for f in commit.files if f.patch is None]
    def paths(items: list[str]) -> str:
        return ", ".join(f"`{p}`" for p in items)

    architecture = ""
    if added or gone:
        architecture = (f"新增 {len(added)} 个源文件，删除或移动 {len(gone)} 个：" if zh
                        else f"new source files: {len(added)}, removed or moved: {len(gone)}: ") + paths((added + gone)[:4])
    performance = (("涉及性能敏感路径：" if zh else "touches performance-sensitive paths: ") + paths(perf)) if perf else ""
    security_text = (("涉及安全相关文件：" if zh else "touches security-related files: ") + paths(security)) if security else ""
    if tests:
        maintainability = f"同时改动 {tests} 个测试文件" if zh else f"{tests} test files changed alongside"
    elif shape.source_lines:
        maintainability = (f"源代码改动 {shape.source_lines} 行，未改动测试" if zh
                           else f"{shape.source_lines} source lines changed with no test changes")
    else:
        maintainability = ""
    insights = Insights(architecture=fit(architecture, 3000), performance=fit(performance, 3000),
                        security=fit(security_text, 3000), maintainability=maintainability)
    risks: list[Risk] = []
    suggestions: list[str] = []
    for item in breaking[:5]:
        risks.append(Risk(
            point=("破坏性变更" if zh else "Breaking change"), description=fit(item, 2000),
            consequence=("依赖旧接口的脚本或代码会失败" if zh else "scripts or code using the old interface fail"),
            mitigation=("升级前搜索并更新所有用法" if zh else "search for and update every use before upgrading"),
        ))
    if shape.source_lines >= SOURCE_LINES_MEDIUM and not tests:
        risks.append(Risk(
            point=("缺少测试" if zh else "No tests"),
            description=(f"{shape.source_lines} 行源代码改动没有伴随测试改动" if zh
                         else f"{shape.source_lines} source lines changed without test changes"),
            consequence=("回归可能不被 CI 发现" if zh else "regressions may pass CI unnoticed"),
            mitigation=("在升级前运行相关集成测试" if zh else "run the affected integration tests before upgrading"),
        ))
        suggestions.append("为改动的代码路径补充测试" if zh else "add tests for the changed code paths")
    if missing:
        risks.append(Risk(
            point=("diff 不完整" if zh else "Incomplete diff"),
            description=(f"{len(missing)} 个文件没有可读的 patch" if zh
                         else f"{counted(len(missing), 'file has', 'files have')} no readable patch"),
            consequence=("分析可能遗漏这些文件中的变化" if zh else "the analysis may miss what changed in them"),
            mitigation=("人工查看这些文件" if zh else "review those files by hand"),
        ))
    if perf:
        suggestions.append("升级前后对比基准测试" if zh else "compare benchmarks before and after upgrading")
    if breaking:
        suggestions.append("检查部署脚本中对被移除接口的引用" if zh else "check deployment scripts for removed interfaces")
    return insights, risks, suggestions

