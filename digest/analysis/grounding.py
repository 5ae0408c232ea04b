"""Does what an analysis cites (paths, `identifiers`) appear in the diff it read? Unverified names are listed."""

from __future__ import annotations

import re

from digest.models import Analysis, Commit, Grounding

_CODE = re.compile(r"`([^`\n]{2,120})`")


def _citations(analysis: Analysis) -> list[str]:
    texts = [analysis.summary, analysis.importance_reason, *analysis.breaking_changes, *analysis.suggestions]
    if analysis.insights:
        texts += [analysis.insights.architecture, analysis.insights.performance, analysis.insights.security,
                  analysis.insights.maintainability]
    for risk in analysis.risks:
        texts += [risk.point, risk.description, risk.consequence, risk.mitigation]
    cited = [m.strip() for t in texts for m in _CODE.findall(t)]
    cited += [p.strip().strip("`") for p in analysis.impact_scope]
    seen: dict[str, None] = {}
    for c in cited:
        if c:
            seen.setdefault(c, None)
    return list(seen)


def check(analysis: Analysis, commit: Commit, diff_text: str) -> Grounding:
    """A citation is verified when it is a changed path (or a directory of one), or appears in the diff read,
    the commit message, or the file list."""
    paths = [f.path for f in commit.files] + [f.previous_path for f in commit.files if f.previous_path]
    haystack = "\n".join([diff_text, commit.message, *paths])
    unverified = []
    cited = _citations(analysis)
    for name in cited:
        bare = name.rstrip("/").removesuffix("()")
        if bare in haystack or any(p.startswith(bare.rstrip("/") + "/") for p in paths):
            continue
        core = re.sub(r"^[\w.]+\.(?=\w+$)", "", bare)  # `module.func` -> `func`
        if core and core != bare and core in haystack:
            continue
        unverified.append(name)
    return Grounding(cited=len(cited), verified=len(cited) - len(unverified), unverified=unverified[:20])
