"""Grounding beyond backticks: names and paths in prose, matched whole, against every stored patch."""

from __future__ import annotations

import json


from digest.analysis import grounding
from core.models import Analysis, Commit, FileChange, Insights, Risk
from digest.render import feishu, markdown, slack, text
from tests.conftest import clone_ref, git_service, sample_history
from tests.servers.openai import OpenAIServer
from tests.test_analysis import WHEN
from tests.test_llm import analyser, answer

PATCH = """@@ -10,6 +10,12 @@ class ModelRunner:
-    def load(self):
+    def load_weights(self, path):
+        self.weights = safetensors.load_file(path)
+        parser.add_argument("--enable-fp8-kv")
+        MAX_BATCH_SIZE = 64
+        return self.model_config.dtype
"""


def commit(*files: FileChange) -> Commit:
    files = files or (FileChange("python/sglang/srt/model_runner.py", "modified", 6, 1, PATCH),
                      FileChange("python/sglang/srt/other.py", "modified", 200, 0, "@@ -1 +1 @@\n+big_helper = 1\n"))
    return Commit(repo="o/r", sha="b" * 40, title="Load weights", message="Load weights from safetensors",
                  author="A", committed_at=WHEN, files=files, files_total=len(files))


def analysis(summary: str, scope: list[str] | None = None, **kw) -> Analysis:
    return Analysis(change_type="feature", importance="medium", importance_reason="r", summary=summary,
                    impact_scope=scope or [], **kw)


def unverified(summary: str, scope: list[str] | None = None, **kw) -> list[str]:
    return grounding.check(analysis(summary, scope, **kw), commit()).unverified


def test_real_names_with_and_without_backticks_are_verified():
    assert unverified("`ModelRunner.load_weights` now reads safetensors.load_file; ModelRunner gains load_weights "
                      "and `--enable-fp8-kv`, MAX_BATCH_SIZE is 64, see self.model_config.dtype in "
                      "python/sglang/srt/model_runner.py and model_runner.py.",
                      ["python/sglang/srt/", "python/sglang/srt/model_runner.py"]) == []


def test_invented_names_are_caught_with_or_without_backticks():
    found = unverified("Adds load_weightz and `ModelRunnr`; calls ModelRunner.unload_all(); edits "
                       "python/sglang/srt/model_runer.py, reads MAX_BATCH_SIZES and passes --enable-fp16-kv.")
    assert found == ["load_weightz", "ModelRunnr", "ModelRunner.unload_all()", "python/sglang/srt/model_runer.py",
                     "MAX_BATCH_SIZES", "--enable-fp16-kv"]


def test_a_name_is_matched_whole():
    assert unverified("Renames `weights` and changes `load_weight`.") == ["load_weight"]
    assert unverified("The old `load` method is gone.") == []  # it is in the patch, removed
    assert unverified("`load_w` is new.") == ["load_w"]


def test_every_stored_patch_counts_not_only_what_was_read():
    a = analysis("Adds big_helper.", read_files=["python/sglang/srt/model_runner.py"])
    assert grounding.check(a, commit()).unverified == []


def test_prose_without_names_is_not_a_citation():
    assert unverified("Uses PyTorch on CPU/GPU, e.g. for fp8/fp16 models; see https://example.com/a_b/c.py.") == []
    assert unverified("修改了load_weights函数和ModelRunner类，新增 `MAX_BATCH_SIZE`。") == []
    assert unverified("修改了load_weightz函数。") == ["load_weightz"]


def test_unverified_paths_leave_the_impact_scope():
    a = grounding.ground(analysis("x", ["python/sglang/srt/model_runner.py", "python/sglang/made_up/", "scheduler",
                                        "ModelRunner"]), commit())
    assert a.impact_scope == ["python/sglang/srt/model_runner.py", "ModelRunner"]
    assert a.grounding.unverified == ["python/sglang/made_up/", "scheduler"]


def test_every_prose_field_is_checked():
    a = analysis("ok", insights=Insights(architecture="moves fetch_pages"), suggestions=["run bench_x.py"],
                 risks=[Risk(point="p", description="DataLoaderX", consequence="c", mitigation="m")])
    assert grounding.check(a, commit()).unverified == ["fetch_pages", "DataLoaderX", "bench_x.py"]


def test_renderers_mark_unverified_names_where_they_appear(repo, db):
    shas = sample_history(repo)

    def invented(req: dict) -> str:
        return answer(req, summary="Rewrites made_up_function and `nowhere/file.py`; keeps docs/diffusion.md.",
                      impact_scope=["docs/diffusion.md", "nowhere/"])

    with OpenAIServer(responder=invented) as server:
        report = git_service(db, analyser(server)).analyze(clone_ref(repo), shas["docs"])
    a = report.analysis
    assert a.grounding.unverified == ["made_up_function", "nowhere/file.py", "nowhere/"]
    assert a.impact_scope == ["docs/diffusion.md"]
    shown = text.render_report(report).replace("\u00a0", " ")  # a name and its mark are joined by a no-break space
    assert "made_up_function (unverified)" in shown and "`nowhere/file.py` (unverified)" in shown
    assert "docs/diffusion.md (unverified)" not in shown
    md = markdown.render_report(report).replace("\u00a0", " ")
    assert "made\\_up\\_function (unverified)" in md and "`nowhere/file.py` (unverified)" in md
    for chat in (json.dumps(slack.report_blocks(report), ensure_ascii=False),
                 json.dumps(feishu.report_card(report), ensure_ascii=False)):
        chat = plain(chat)
        assert "made_up_function (unverified)" in chat
        assert "nowhere/file.py` (unverified)" in chat and "docs/diffusion.md (unverified)" not in chat
    stored = json.loads(list(db.query("SELECT data FROM analyses WHERE source = 'llm'"))[0]["data"])
    assert stored["impact_scope"] == ["docs/diffusion.md"]


def plain(chat: str) -> str:
    """Chat text with the escapes of `_` and backticks undone (Slack `\\_`, Feishu `&#95;` `&#96;`)."""
    return chat.replace("\\\\_", "_").replace("&#95;", "_").replace("&#96;", "`").replace("\u00a0", " ")


def test_chat_digests_mark_unverified_names_in_the_top_message_and_the_details(repo, db):
    """Slack and Feishu, top message and per-commit details: every place an invented name shows, it is marked."""
    from datetime import date

    sample_history(repo)

    def invented(req: dict) -> str:
        return answer(req, summary="Rewrites made_up_function.", breaking_changes=["removes `legacy_knob_x`"])

    with OpenAIServer(responder=invented) as server:
        digest = git_service(db, analyser(server)).build_digest(clone_ref(repo), date(2026, 1, 11), "UTC")
    assert digest.entries and all("legacy_knob_x" in e.analysis.grounding.unverified
                                  for e in digest.entries if e.analysed)
    views = {
        "slack top": slack.summary_blocks(digest),
        "slack thread": [blocks for blocks, _ in slack.detail_messages(digest)],
        "feishu top": feishu.summary_card(digest),
        "feishu details": feishu.detail_cards(digest),
    }
    for name, view in views.items():
        shown = plain(json.dumps(view, ensure_ascii=False))
        assert "`legacy_knob_x` (unverified)" in shown, name
        assert "legacy_knob_x` (unverified) (unverified)" not in shown, name  # marked once
        if not name.endswith("top") or any(e.importance != "low" for e in digest.entries):  # a top shows summaries
            assert "made_up_function (unverified)" in shown, name  # of high and medium commits only


def test_chinese_marks():
    a = grounding.ground(analysis("修改了 `made_up` 函数", lang="zh"), commit())
    from digest.render.common import with_marks
    assert with_marks(a).summary == "修改了 `made_up`（未验证） 函数"


def test_the_grounding_benchmark_catches_every_invented_name():
    import subprocess
    import sys

    from tests.conftest import ROOT
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "grounding.py"), "--commits", "6"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "recall    (invented names caught)      : 24/24 = 1.00" in out.stdout
    assert "real names wrongly flagged             : 0" in out.stdout


def test_a_shortened_summary_keeps_a_name_with_its_mark():
    """The top message shortens summaries at a space: never between a name and its "(unverified)"."""
    from datetime import date, datetime, timezone

    from core.models import Digest, Entry
    from core.window import day_window

    words = "Loads the model weights from safetensors files in the runner and keeps the configured dtype for later " \
            "use by the scheduler and"
    a = grounding.ground(analysis(words + " calls made_up_loader now"), commit())  # fits the top's 160 unmarked
    assert a.grounding.unverified == ["made_up_loader"]
    d = Digest("o/r", day_window(date(2026, 1, 11), "UTC"), "en", "main", (Entry(commit(), a),),
               datetime.now(timezone.utc))
    for name, view in (("slack", slack.summary_blocks(d)), ("feishu", feishu.summary_card(d))):
        shown = plain(json.dumps(view, ensure_ascii=False))
        assert "made_up_loader (unverified)" in shown or "made_up_loader" not in shown, name
