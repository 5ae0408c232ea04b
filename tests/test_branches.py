"""A subscription to several branches (`branch main,release/*`) posts one digest per branch, each once, each
headed by its branch (issue 14). Branches are listed through GitHub's REST API (the local server) and a clone."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from core.models import RepoRef
from digest.sources.git import GitSource, describe_clone
from handlers.schedule import Schedule
from storage import subscriptions as subs
from tests.conftest import github_service, utc
from tests.gitrepo import GitRepo
from tests.servers.github import GitHubServer
from tests.servers.slack import SlackServer
from tests.test_publisher import NOW, publisher_alone
from tests.test_slack import REPO, Recorder, make_bot, settings_env


def branches_repo(path) -> GitRepo:
    repo = GitRepo(path)
    repo.commit("Initial import", {"python/a.py": "x = 0\n"}, utc(2026, 1, 10, 12))
    repo.commit("fix: main only (#1)", {"python/a.py": "x = 1\n"}, utc(2026, 1, 11, 3))
    for name, n in (("release/1.0", 2), ("release/2.0", 3), ("feature/x", 4)):
        repo.git("checkout", "-q", "-b", name, "main~1")
        for i in range(n):
            repo.commit(f"fix: {name} change {i} (#{10 * n + i})", {f"python/{name.replace('/', '_')}_{i}.py": "y\n"},
                        utc(2026, 1, 11, 5 + i))
        repo.git("checkout", "-q", "main")
    return repo


def test_branches_are_listed_by_github_and_by_a_clone(tmp_path, db):
    repo = branches_repo(tmp_path / "up")
    with GitHubServer({REPO: repo.path}) as gh:
        service, _ = github_service(db, gh)
        ref = RepoRef(REPO, web_url=f"https://github.com/{REPO}")
        assert service.branches_matching(ref, ["main", "release/*"]) == ["main", "release/1.0", "release/2.0"]
        assert service.branches_matching(ref, ["nope/*"]) == []
    assert GitSource(describe_clone(repo.path, REPO)).branches() == ["feature/x", "main", "release/1.0", "release/2.0"]


def test_a_subscription_to_several_branches_posts_one_digest_per_branch_once(tmp_path):
    repo = branches_repo(tmp_path / "upstream")
    with SlackServer(channels=["C1"]) as slack:
        env = settings_env(tmp_path, slack, repo)
        bot = make_bot(env, clock=lambda: NOW)
        said = Recorder()
        bot.ops.handle("slack", "C1", "U1", "/digest", f"subscribe {REPO} branch main,release/* tz UTC", said)
        assert "Subscribed" in said.notices[-1]
        bot.ops.handle("slack", "C1", "U1", "/digest", f"subscribe {REPO} branch main,..", said)
        assert "not a branch name" in said.notices[-1]
        publisher = publisher_alone(env)
        schedule = Schedule(publisher.service, publisher, clock=lambda: NOW)
        schedule.run_daily("slack", "C1", REPO)
        schedule.catch_up()  # asks again for every owed day: each branch answers "already"
        tops = [slack.all_text(m) for m in slack.messages("C1", top_level=True)]
        heads = sorted(next(line for line in t.splitlines() if "branch" in line).rsplit("branch ", 1)[1] for t in tops)
        assert heads == ["main", "release/1.0", "release/2.0"]
        counts = {h: t for h, t in zip(heads, sorted(tops, key=lambda t: t.rsplit("branch ", 1)[1]))}
        assert "1 commit" in counts["main"] and "2 commits" in counts["release/1.0"] and "3 commits" in counts["release/2.0"]
