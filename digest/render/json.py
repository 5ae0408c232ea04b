"""`--format json`: one object per digest or commit report; UTF-8, no ASCII escapes."""

from __future__ import annotations

import json
from typing import Any

from core.models import Analysis, Commit, CommitReport, Digest, Entry

ANALYSIS_FIELDS = ("source", "model", "change_type", "importance", "importance_reason", "summary", "impact_scope",
                   "breaking_changes", "insights", "risks", "suggestions", "tokens_in", "tokens_out", "depth", "lang",
                   "read_files", "skipped_files", "diff_coverage", "redacted", "grounding", "note")


def analysis_dict(analysis: Analysis) -> dict[str, Any]:
    data = analysis.model_dump(mode="json")
    return {k: data[k] for k in ANALYSIS_FIELDS}


def commit_dict(commit: Commit, analysis: Analysis, deep: Analysis | None = None) -> dict[str, Any]:
    return {
        "sha": commit.sha,
        "short_sha": commit.short_sha,
        "title": commit.title,
        "message": commit.message,
        "author": commit.author,
        "committed_at": commit.committed_at.isoformat(),
        "is_merge": commit.is_merge,
        "parents": list(commit.parents),
        "url": commit.url,
        "pr_number": commit.pr_number,
        "additions": commit.additions,
        "deletions": commit.deletions,
        "files": commit.files_total,
        "analysis": analysis_dict(analysis),
        "deep_analysis": analysis_dict(deep) if deep else None,
    }


def entry_dict(e: Entry) -> dict[str, Any]:
    """A commit of a digest; a merge says what it brings in (`merged`), whether it is told through those commits
    (`grouped`) and whether it was analysed (`analysed`: false leaves `analysis` null), from what
    (`analysed_from`: its own changes beyond its parents, or its diff against the first parent)."""
    data = commit_dict(e.commit, e.analysis, e.deep)
    if not e.analysed:
        data["analysis"] = None
    data.update({
        "importance": e.importance,
        "merged": list(e.merged),
        "grouped": e.grouped,
        "analysed": e.analysed,
        "analysed_from": None if not e.analysed else "own_changes" if e.own_only else "diff",
        "merged_into": e.merged_into,
        "breaking_changes": e.breaking_changes,
        "breaking_told_in": list(e.breaking_told_in),
    })
    return data


def render_digest(digest: Digest) -> str:
    stats = digest.stats
    data = {
        "repo": digest.repo,
        "date": digest.day.isoformat(),
        "timezone": digest.window.zone,
        "branch": digest.branch,
        "lang": digest.lang,
        "window": {"start": digest.window.start.isoformat(), "end": digest.window.end.isoformat()},
        "stats": {"total": stats.total, "high": stats.high, "medium": stats.medium, "low": stats.low,
                  "breaking": stats.breaking, "merges": stats.merges, "grouped_merges": stats.grouped},
        "coverage": {"commits": digest.coverage.commits, "llm": digest.coverage.llm, "rules": digest.coverage.rules,
                     "fallbacks": digest.coverage.fallbacks, "models": list(digest.coverage.models),
                     "reasons": list(digest.coverage.reasons)},
        "notes": list(digest.notes),
        "built_at": digest.built_at.isoformat(),
        "commits": [entry_dict(e) for e in digest.entries],
    }
    return json.dumps(data, ensure_ascii=False, indent=2)


def render_report(report: CommitReport) -> str:
    return json.dumps({"repo": report.commit.repo, **commit_dict(report.commit, report.analysis)},
                      ensure_ascii=False, indent=2)
