"""Real git days for bench/readability.py and its test: a generated day of N commits (features, fixes, docs,
tests, some large, some removing a public function or a CLI flag), and a merge-heavy day like issue 13's (94
commits, 26 merges, some nested in others, one bringing in commits of an earlier day), digested with the offline
rules as `bot.py digest --repo-path` does."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from core.models import Digest
from digest.service import DigestService
from digest.sources.git import GitSource, describe_clone
from storage.db import open_db
from tests.gitrepo import GitRepo

DAY = date(2026, 1, 11)
START = datetime(2026, 1, 11, 0, 5, tzinfo=timezone.utc)
API_FUNCTIONS = 12  # public functions of pkg/api.py a day may remove (spaced, so branches merge cleanly)
FLAGS = 4
AREAS = ("scheduler", "router", "kvcache", "tokenizer", "peagle", "dataflow", "sampler", "server")


def _api(removed: set[int]) -> str:
    return "".join(f"def remove_me_{i}():\n    return {i}\n\n\n" + "# spacer\n" * 8
                   for i in range(API_FUNCTIONS) if i not in removed)


def _cli(removed: set[int]) -> str:
    return "import argparse\n\nparser = argparse.ArgumentParser()\n" + "".join(
        f'parser.add_argument("--old-flag-{i}")\n' + "# spacer\n" * 8 for i in range(FLAGS) if i not in removed)


def _code(name: str, lines: int) -> str:
    return "".join(f"def {name}_{j}(x):\n    return x + {j}\n" for j in range(lines // 2))


BASE = {"pkg/api.py": _api(set()), "pkg/cli.py": _cli(set()), "README.md": "# radar\n"}


def change(i: int, removed_api: set[int], removed_flags: set[int]) -> tuple[str, dict[str, str]]:
    """Commit number i of a day: a title and the files it writes, in a mix a busy repository has. Every 10th is a
    large feature (high), every 23rd removes a public function and every 61st a CLI flag (breaking, high)."""
    area = AREAS[i % len(AREAS)]
    pr = f" (#{16000 + i})"
    body = f"\n\nThe {area} now handles case {i} the same way in every path, so request {i} no longer waits."
    if i % 61 == 30 and len(removed_flags) < FLAGS:
        removed_flags.add(len(removed_flags))
        return (f"refactor({area}): drop the deprecated --old-flag-{len(removed_flags) - 1}{pr}{body}",
                {"pkg/cli.py": _cli(removed_flags)})
    if i % 23 == 11 and len(removed_api) < API_FUNCTIONS:
        removed_api.add(len(removed_api))
        return (f"refactor(api): remove remove_me_{len(removed_api) - 1}, unused since the {area} rewrite{pr}{body}",
                {"pkg/api.py": _api(removed_api), f"pkg/{area}/use_{i}.py": _code(f"use_{i}", 10)})
    kind = i % 10
    if kind == 0:
        return f"feat({area}): add mode {i} for long {area} requests{pr}{body}", {
            f"pkg/{area}/mode_{i}.py": _code(f"mode_{i}", 220)}
    if kind in (1, 4, 7):
        return f"fix({area}): make checkpoint reload keep step {i}{pr}{body}", {
            f"pkg/{area}/fix_{i}.py": _code(f"fix_{i}", 24)}
    if kind == 2:
        return f"docs: explain the {area} settings, part {i}{pr}", {f"docs/{area}_{i}.md": f"# {area}\n\nText {i}.\n"}
    if kind == 3:
        return f"test({area}): cover case {i}{pr}", {f"tests/{area}/test_{i}.py": _code(f"test_{i}", 16)}
    if kind == 5:
        return f"refactor({area}): split the {area} loop, step {i}{pr}{body}", {
            f"pkg/{area}/loop_{i}.py": _code(f"loop_{i}", 60)}
    if kind == 6:
        return f"ci: run the {area} suite on more runners ({i}){pr}", {f".github/workflows/{area}_{i}.yml": "on: push\n"}
    if kind == 8:
        return f"chore({area}): tidy names {i}{pr}", {f"pkg/{area}/tidy_{i}.py": _code(f"tidy_{i}", 4)}
    if i % 3 == 0:
        return f"security({area}): validate the token header before use {i}{pr}{body}", {
            f"pkg/{area}/auth_{i}.py": _code(f"auth_{i}", 12)}
    return f"perf({area}): reuse buffers in the {area} hot path {i}{pr}{body}", {
        f"pkg/{area}/perf_{i}.py": _code(f"perf_{i}", 40)}


def linear_day(root: Path, n: int = 300) -> GitRepo:
    """A day of `n` commits on main (one `git fast-import`: a loop of `git commit` would take minutes)."""
    repo = GitRepo(root / f"day{n}")
    removed_api: set[int] = set()
    removed_flags: set[int] = set()
    commits = [("Initial import", dict(BASE), START - timedelta(days=1))]
    step = timedelta(minutes=min(4, 23 * 60 // max(n, 1)))
    for i in range(n):
        title, files = change(i, removed_api, removed_flags)
        commits.append((title, files, START + step * i))
    repo.bulk(commits)
    return repo


@dataclass(frozen=True)
class Branch:
    """A branch of the merge-heavy day: its own commits, the branches merged into it before it is merged, and the
    message of the merge that takes it in."""

    name: str
    commits: int
    message: str
    nested: tuple["Branch", ...] = ()
    days_ago: int = 0  # > 0: its commits are of an earlier day (the merge is not told through them)


def merge_day_plan() -> tuple[list[Branch], int]:
    """20 branches merged into main (6 merges nested in them, one two levels deep; one branch of an earlier day)
    and 5 commits on main: 94 commits of the day, 26 of them merges, as in the issue's day."""
    branches = []
    nested_at = {1: 1, 4: 1, 7: 1, 10: 1, 13: 2}  # branch -> depth of branches merged into it
    for b in range(20):
        name = f"dataflow-up-{b}"
        nested: tuple[Branch, ...] = ()
        if (depth := nested_at.get(b)):
            inner: tuple[Branch, ...] = ()
            for d in range(depth, 0, -1):
                inner = (Branch(f"{name}-o{d}", 2, f"Merge online O{d}/O{d + 1} into {name}" if d == 1 and b == 13
                                else f"Merge branch '{name}-o{d}' into {name if d == 1 else f'{name}-o{d - 1}'}",
                                inner),)
            nested = inner
        message = (f"Merge pull request #{640 + b} from octo/{name}" if b % 4 else f"Merge branch '{name}'")
        branches.append(Branch(name, 3 if b % 3 == 0 else 2, message, nested, days_ago=2 if b == 17 else 0))
    return branches, 5


def planned(branches: Iterable[Branch], on_main: int) -> tuple[int, int]:
    """(commits of the day, merges among them) a plan makes: what the digest of `merge_day` should count."""
    commits, merges = on_main, 0
    for branch in branches:
        inner_commits, inner_merges = planned(branch.nested, 0)
        # its own commits, its nested branches, a commit after each nested merge, and its own merge
        commits += (0 if branch.days_ago else branch.commits) + inner_commits + len(branch.nested) + 1
        merges += inner_merges + 1
    return commits, merges


def merge_day(root: Path, plan: tuple[list[Branch], int] | None = None) -> GitRepo:
    """The merge-heavy day, made with `git commit` and `git merge --no-ff` as a team does."""
    repo = GitRepo(root / "merges")
    repo.commit("Initial import", dict(BASE), START - timedelta(days=3))
    removed_api: set[int] = set()
    removed_flags: set[int] = set()
    branches, on_main = plan or merge_day_plan()
    clock = [START, 0]  # the time of the next commit, the number of commits made

    def tick(days_ago: int = 0) -> datetime:
        clock[0] += timedelta(minutes=7)
        return clock[0] - timedelta(days=days_ago)

    def commit(days_ago: int = 0) -> None:
        i = int(clock[1])
        clock[1] = i + 1
        title, files = change(i, removed_api, removed_flags)
        repo.commit(title, files, tick(days_ago))

    def grow(branch: Branch, parent: str) -> None:
        repo.git("checkout", "-q", "-b", branch.name, parent)
        for _ in range(branch.commits):
            commit(branch.days_ago)
        for inner in branch.nested:
            grow(inner, branch.name)
            repo.git("checkout", "-q", branch.name)
            repo.merge(inner.name, inner.message, tick())
            commit()  # a commit after the nested merge, on the outer branch

    for b, branch in enumerate(branches):
        if b % 2 == 0 and on_main:
            commit()
            on_main -= 1
        grow(branch, "main")
        repo.git("checkout", "-q", "main")
        repo.merge(branch.name, branch.message, tick())
    for _ in range(on_main):
        commit()
    return repo


def digest_of(repo: GitRepo, name: str, lang: str, root: Path) -> Digest:
    """The digest `bot.py digest --repo-path` builds for the day, with the offline rules (no LLM)."""
    service = DigestService(open_db(root / f"{name}.db"), GitSource, None, concurrency=4,
                            clock=lambda: datetime(2026, 1, 12, 9, tzinfo=timezone.utc))
    return service.build_digest(describe_clone(repo.path, f"bench/{name}"), DAY, "UTC", lang)
