"""A large day built from the real data classes (no repository): for renderer limits and benchmarks, where a
300-commit git history would only add minutes of `git` subprocesses."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from core.models import Analysis, Commit, Digest, Entry, Insights, Risk
from core.window import day_window

HOSTILE = "<at id=all></at> **bold** [x](https://evil.example) <font color='red'>red</font> # `code` ~~s~~ | $x$"


def big_day(n: int = 300, lang: str = "en", repo: str = "sgl-project/sglang", day: date = date(2026, 1, 11)) -> Digest:
    window = day_window(day, "UTC")
    entries = []
    words = ("调度器 scheduler kv-cache 内存 allocation router tokenizer 🚀 " * 12).split()
    for i in range(n):
        level = ("high", "medium", "low")[0 if i % 10 == 0 else 1 if i % 3 == 0 else 2]
        sha = f"{i:07x}" + "ab" * 16 + "c"
        title = f"[Feature] {' '.join(words[i % 7: i % 7 + 9])} {HOSTILE if i % 50 == 0 else ''} (#{16000 + i})"
        commit = Commit(repo=repo, sha=sha, title=title, message=title + "\n\n" + " ".join(words) * 2,
                        author="Ada <at id=all></at> 洛芙莱斯" if i % 25 == 0 else "Ada Lovelace",
                        committed_at=window.start + timedelta(minutes=4 * i), parents=("0" * 40,),
                        url=f"https://github.com/{repo}/commit/{sha}", additions=10 * i, deletions=i)
        brief = Analysis(change_type="feature", importance=level, importance_reason=" ".join(words[:30]),
                         summary=" ".join(words[:80]) + (" " + HOSTILE if i % 50 == 0 else ""),
                         impact_scope=[f"python/sglang/srt/module_{j}.py" for j in range(5)],
                         breaking_changes=(["--load-balance-method removed " + " ".join(words[:20])]
                                           if i % 40 == 0 else []),
                         source="llm", model="test-model", lang=lang)
        deep = None
        if level == "high":
            deep = brief.model_copy(update={
                "depth": "deep",
                "insights": Insights(architecture=" ".join(words[:60]), performance=" ".join(words[:60]),
                                     security=HOSTILE, maintainability=" ".join(words[:40])),
                "risks": [Risk(point="risk " + " ".join(words[:5]), description=" ".join(words[:40]),
                               consequence=" ".join(words[:20]), mitigation=" ".join(words[:20]))] * 3,
                "suggestions": [" ".join(words[:30])] * 4})
        entries.append(Entry(commit, brief, deep))
    return Digest(repo=repo, window=window, lang=lang, branch="main", entries=tuple(entries),
                  built_at=datetime(2026, 1, 12, 1, 0, tzinfo=timezone.utc),
                  web_url=f"https://github.com/{repo}")


def typical_day(n: int = 100, lang: str = "en", repo: str = "sgl-project/sglang",
                day: date = date(2026, 1, 11)) -> Digest:
    """A day shaped like a real one read by an LLM: titles of about 60 characters, two-sentence summaries, three
    paths of impact, one commit in ten high with a deep analysis, one in thirty breaking."""
    window = day_window(day, "UTC")
    entries = []
    for i in range(n):
        level = ("high", "medium", "low")[0 if i % 10 == 0 else 1 if i % 3 == 0 else 2]
        sha = f"{i:07x}" + "cd" * 16 + "e"
        title = f"[Router] Fix the cache-aware load balancer for request {i} under heavy load (#{17000 + i})"
        commit = Commit(repo=repo, sha=sha, title=title, message=title, author="Ada Lovelace",
                        committed_at=window.start + timedelta(minutes=10 * i), parents=("0" * 40,),
                        url=f"https://github.com/{repo}/commit/{sha}", additions=30 + i, deletions=i)
        brief = Analysis(change_type="fix", importance=level, importance_reason="changes the request path",
                         summary=(f"Requests that hit an evicted prefix no longer wait for a full recompute of "
                                  f"batch {i}. The router now retries on the next worker, which halves tail latency."),
                         impact_scope=[f"sgl-router/src/policies/cache_aware_{j}.rs" for j in range(3)],
                         breaking_changes=([f"`--cache-threshold-{i}` removed from the router CLI"]
                                           if i % 30 == 0 else []),
                         source="llm", model="test-model", lang=lang)
        deep = None
        if level == "high":
            deep = brief.model_copy(update={
                "depth": "deep", "insights": Insights(architecture="The policy now owns its retry state."),
                "risks": [Risk(point="Retry storms", description="A slow worker may be retried by many routers.",
                               consequence="Load spikes on the next worker.", mitigation="Cap retries per request.")],
                "suggestions": ["Watch the p99 latency after deploying."]})
        entries.append(Entry(commit, brief, deep))
    return Digest(repo=repo, window=window, lang=lang, branch="main", entries=tuple(entries),
                  built_at=datetime(2026, 1, 12, 1, 0, tzinfo=timezone.utc), web_url=f"https://github.com/{repo}")
