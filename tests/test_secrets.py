"""Secrets stay home: no catalogued secret reaches the LLM server, in any request, map calls included."""

from __future__ import annotations

import json
import re
import time
from datetime import date

import pytest

from digest.analysis.llm import LLMAnalyser, LLMConfig
from digest.analysis.redact import MARK, redact
from digest.render import markdown, text
from tests.conftest import clone_ref, git_service, utc
from tests.secrets_catalogue import NEGATIVES, SECRETS
from tests.servers.openai import OpenAIServer
from tests.test_llm import answer

DAY = date(2026, 1, 11)


def map_or_answer(req: dict) -> str:
    """Map calls get one summary per file shown; analysing calls get the usual grounded answer."""
    if "summarise part" in req["messages"][0]["content"]:
        paths = re.findall(r"^### (\S+)", req["messages"][1]["content"], re.M)
        return json.dumps({"summaries": [{"path": p, "summary": "changes config values"} for p in paths]})
    return answer(req)


def sent(server: OpenAIServer) -> str:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in server.requests)


@pytest.mark.parametrize("kind,value,line", [s for s in SECRETS if s[2]], ids=[s[0] for s in SECRETS if s[2]])
def test_each_catalogued_secret_is_redacted(kind, value, line):
    out = redact(f"+{line}\n")
    assert value not in out.text and MARK in out.text and sum(out.found.values()) >= 1


@pytest.mark.parametrize("line", NEGATIVES)
def test_look_alikes_pass_untouched(line):
    out = redact(line)
    assert out.text == line and not out.found


def test_long_hex_and_identifier_lines_are_redacted_in_linear_time():
    """A lockfile hash or a generated name 20,000 characters long: before, the search was quadratic and held the
    GIL for minutes, so the running bot could not acknowledge a single Slack command."""
    lines = ["+" + "0f" * 10_000, "+" + "very_long_name." * 1_400, "+x = " + "a-" * 10_000,
             "+" + "token_" * 3_000]
    diff = "\n".join(lines) + '\n+api_key = "sk3cr3tValue99"\n+see https://admin:hunter2hunter2@db.internal/x\n'
    started = time.perf_counter()
    out = redact(diff)
    assert time.perf_counter() - started < 2.0  # linear: about 10 ms here
    assert "sk3cr3tValue99" not in out.text and "hunter2hunter2" not in out.text
    assert out.text.splitlines()[:4] == lines


def test_no_secret_reaches_the_llm_from_a_diff_a_message_or_a_file_name(repo, db):
    config = "\n".join(line for _, _, line in SECRETS if line) + "\n" + "\n".join(NEGATIVES) + "\n"
    sha = repo.commit("chore: rotate keys\n\nOld key was AKIAIOSFODNN7EXAMPLE, see "
                      "https://admin:hunter2hunter2@db.internal/app", {
                          "deploy/settings.env": config,
                          "keys/ghp_16C7e42F292c6912E7710c838347Ae178B4a.txt": "revoked\n",
                          "src/app.py": "def handler():\n    return 1\n",
                      }, utc(2026, 1, 11, 3, 0))
    with OpenAIServer(responder=answer) as server:
        llm = LLMAnalyser(LLMConfig(base_url=server.url + "/v1", api_key="test-key", model="test-model",
                                    max_retries=0))
        report = git_service(db, llm).analyze(clone_ref(repo), sha)
        everything = sent(server)
    assert report.analysis.source == "llm"
    for kind, value, _ in SECRETS:
        assert value not in everything, kind
    for line in NEGATIVES:
        assert json.dumps(line, ensure_ascii=False)[1:-1] in everything  # what is not a secret is sent as it is
    assert report.analysis.redacted and sum(report.analysis.redacted.values()) >= len([s for s in SECRETS if s[2]])
    assert "secrets redacted before sending" in text.render_report(report)
    assert "secrets redacted before sending" in markdown.render_report(report)


def test_map_calls_are_redacted_too(repo, db):
    files = {f"pkg/mod{i:03d}/impl.py": "".join(f"def f{i}_{j}(x):\n    return x + {j}\n" for j in range(40))
             for i in range(60)}
    files["pkg/zzz/secrets.py"] = "\n".join(line for _, _, line in SECRETS if line) + "\n"
    sha = repo.commit("feat: a big change", files, utc(2026, 1, 11, 3, 0))
    with OpenAIServer(responder=map_or_answer) as server:
        llm = LLMAnalyser(LLMConfig(base_url=server.url + "/v1", api_key="test-key", model="test-model",
                                    max_retries=0, deep_budget=3000, map_budget=3000))
        report = git_service(db, llm).analyze(clone_ref(repo), sha)
        maps = [r for r in server.requests if "summarise part" in r["messages"][0]["content"]]
        everything = sent(server)
    assert report.analysis.source == "llm" and maps
    assert any("pkg/zzz/secrets.py" in m["messages"][1]["content"] for m in maps)
    for kind, value, _ in SECRETS:
        assert value not in everything, kind
    assert report.analysis.redacted


def test_a_realistic_diff_with_no_secret_passes_untouched():
    """SHAs, UUIDs, lockfile hashes, base64 test data, CSS colours, versions and secret-sounding names with no
    secret: the LLM needs them, and each [REDACTED] among them is a false positive."""
    from tests.secrets_catalogue import NOT_SECRETS

    diff = "".join(f"### {path} [modified, +{len(lines)} -0]\n" + "".join(f"+{line}\n" for line in lines)
                   for path, lines in NOT_SECRETS.items())
    out = redact(diff)
    assert [line for line in out.text.splitlines() if MARK in line] == [] and not out.found


def test_the_redaction_benchmark_runs():
    """bench/redaction.py: every format of its corpus redacted, no false positive in its generated history."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "bench" / "redaction.py"
    out = subprocess.run([sys.executable, str(script), "--commits", "20", "--mb", "0.2"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    recall = re.search(r"recall: (\d+)/(\d+) formats", out.stdout)
    assert recall and int(recall.group(2)) >= 60 and int(recall.group(1)) >= 0.95 * int(recall.group(2))
    assert "false positives: 0 in source files" in out.stdout and "speed:" in out.stdout
