"""Precision and recall of the grounding check against invented names that are mutations of real ones.

Commits made in a real git repository; the local OpenAI-compatible server answers with analyses that cite the
commit's real names and invented ones (one letter changed, or a real prefix with a new suffix), with and
without backticks, in prose and in the impact scope. Prints what the check caught and what it wrongly flagged.

    python bench/grounding.py [--commits 30] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import sys
import tempfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.analysis.llm import LLMAnalyser, LLMConfig  # noqa: E402
from digest.service import DigestService  # noqa: E402
from digest.sources.git import GitSource, describe_clone  # noqa: E402
from storage.db import open_db  # noqa: E402
from tests.gitrepo import GitRepo  # noqa: E402
from tests.servers.openai import OpenAIServer  # noqa: E402

DAY = date(2026, 1, 11)
WORDS = ("cache", "page", "token", "batch", "weight", "expert", "router", "kernel", "tensor", "sampler", "block",
         "request", "scheduler", "prefix", "radix", "lora", "quant", "shard", "stream", "buffer")


def names_for(rng: random.Random) -> dict[str, list[str]]:
    """A commit's real names: functions, classes, constants, flags, paths."""
    def pick(n: int) -> list[str]:
        return rng.sample(WORDS, n)
    functions = [f"{a}_{b}" for a, b in zip(pick(3), pick(3))]
    classes = [f"{a.capitalize()}{b.capitalize()}" for a, b in zip(pick(2), pick(2))]
    constants = [f"MAX_{a.upper()}_{b.upper()}" for a, b in zip(pick(1), pick(1))]
    flags = [f"--enable-{a}-{b}" for a, b in zip(pick(1), pick(1))]
    directory = f"python/sglang/srt/{rng.choice(WORDS)}"
    paths = [f"{directory}/{rng.choice(WORDS)}_{i}.py" for i in range(2)]
    return {"function": functions, "class": classes, "constant": constants, "flag": flags, "path": paths}


def source(names: dict[str, list[str]]) -> str:
    lines = [f"{names['constant'][0]} = 64"]
    lines += [f"class {c}:\n    pass" for c in names["class"]]
    lines += [f"def {f}(x):\n    return x" for f in names["function"]]
    lines += [f'parser.add_argument("{names["flag"][0]}")']
    return "\n".join(lines) + "\n"


def mutate(name: str, rng: random.Random, real: str) -> str:
    """One letter changed, or a real prefix with a new suffix; never a name the commit has."""
    for _ in range(100):
        if rng.random() < 0.5:
            letters = [i for i, ch in enumerate(name) if ch.isalpha()]
            i = rng.choice(letters[2:] or letters)
            pool = string.ascii_uppercase if name[i].isupper() else string.ascii_lowercase
            candidate = name[:i] + rng.choice(pool.replace(name[i], "")) + name[i + 1:]
        else:
            cut = max(3, len(name) * 2 // 3)
            suffix = rng.choice(("_v2", "_all", "_fast", "Ex", "_impl", "s", "_async"))
            candidate = name if name.startswith("--") and False else name[:cut] + suffix
            if "/" in name:
                stem, dot, ext = name.rpartition(".")
                candidate = stem + rng.choice(("_v2", "_new", "s")) + dot + ext
        if not re.search(rf"(?<![\w./-]){re.escape(candidate)}(?![\w/-])", real):
            return candidate
    raise RuntimeError(f"no mutation of {name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--commits", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--verbose", action="store_true", help="print each missed name")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    truth: dict[str, tuple[list[str], list[str]]] = {}  # sha -> (real cited, invented cited)
    plans: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        repo = GitRepo(Path(tmp) / "repo")
        start = datetime(2026, 1, 11, tzinfo=timezone.utc)
        for i in range(args.commits):
            names = names_for(rng)
            files = {p: source(names) for p in names["path"]}
            sha = repo.commit(f"feat: change {i}", files, start + timedelta(minutes=10 * i))
            real_text = "\n".join(files.values()) + "\n" + "\n".join(files)
            real = [n for kind in names.values() for n in kind]
            invented = [mutate(n, rng, real_text) for n in rng.sample(real, 4)]
            cited_real = rng.sample(real, 5)
            parts = []
            for n in cited_real + invented:
                parts.append(f"`{n}`" if rng.random() < 0.5 else n)
            rng.shuffle(parts)
            summary = "This change touches " + ", ".join(parts) + "."
            scope = [names["path"][0], *[n for n in invented if "/" in n]]
            plans[sha] = json.dumps({"change_type": "feature", "importance": "medium", "importance_reason": "bench",
                                     "summary": summary, "impact_scope": scope, "breaking_changes": []})
            truth[sha] = (sorted(set(cited_real) | {names["path"][0]}), sorted(set(invented)))

        def answer(request: dict) -> str:
            sha = re.search(r"^Commit: ([0-9a-f]{40})", request["messages"][1]["content"], re.M).group(1)
            return plans[sha]

        with OpenAIServer(responder=answer) as server:
            llm = LLMAnalyser(LLMConfig(base_url=server.url + "/v1", api_key="test-key", model="test-model",
                                        max_retries=0))
            service = DigestService(open_db(Path(tmp) / "g.db"), GitSource, llm, concurrency=4)
            digest = service.build_digest(describe_clone(repo.path, "bench/repo"), DAY, "UTC")

    caught = invented_total = wrongly = real_total = scope_real_kept = scope_invented_left = 0
    for entry in digest.entries:
        real, invented = truth[entry.commit.sha]
        flagged = set(entry.analysis.grounding.unverified)
        caught += len(flagged & set(invented))
        if args.verbose and set(invented) - flagged:
            print("missed:", sorted(set(invented) - flagged), "in", entry.analysis.summary)
        invented_total += len(invented)
        wrongly += len(flagged & set(real))
        real_total += len(real)
        scope = entry.analysis.impact_scope
        scope_real_kept += sum(1 for p in scope if p in real)
        scope_invented_left += sum(1 for p in scope if p in invented)
    flagged_total = caught + wrongly
    print(f"commits={len(digest.entries)} real names cited={real_total} invented names cited={invented_total}")
    print(f"recall    (invented names caught)      : {caught}/{invented_total} = {caught / invented_total:.2f}")
    print(f"precision (flagged that were invented) : {caught}/{flagged_total} = "
          f"{caught / flagged_total if flagged_total else 1:.2f}")
    print(f"real names wrongly flagged             : {wrongly}")
    print(f"impact scope: real paths kept {scope_real_kept}/{len(digest.entries)}, invented paths left "
          f"{scope_invented_left}")


if __name__ == "__main__":
    main()
