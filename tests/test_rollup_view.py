"""A week's roll-up reads in a minute on every surface, and holds the platforms' limits (issue 14)."""

from __future__ import annotations

import json
import re
from datetime import date

from core.ranges import DayRange
from digest import rollup_view
from digest.render import rollup as render
from digest.rollup import roll_up
from tests.bigday import HOSTILE, big_day
from tests.servers.feishu import card_problem
from tests.servers.slack import check_message

WEEK = DayRange(date(2026, 1, 5), date(2026, 1, 11))


def week(per_day: int, lang: str = "en"):
    days = [big_day(per_day, lang=lang, day=d) for d in WEEK.days]
    return roll_up("sgl-project/sglang", WEEK, "UTC", lang, "main", days)


def visible_slack(blocks) -> int:
    said = []
    for b in blocks:
        if b["type"] == "header":
            said.append(b["text"]["text"])
        elif b["type"] == "section":
            said.append(b["text"]["text"])
        elif b["type"] == "context":
            said += [e["text"] for e in b["elements"]]
    joined = re.sub(r"<[^|<>]+\|([^<>]*)>", r"\1", "\n".join(said))
    return len(joined.replace("*", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))


def test_a_500_commit_week_reads_in_a_minute_and_fits_slack_and_feishu():
    for lang in ("en", "zh"):
        r = week(72, lang)  # 504 commits
        v = rollup_view.build(r)
        assert r.total.total == 504 and v.key == "2026-W02"
        blocks = render.slack_blocks(v, zone="UTC", branch="main")
        assert check_message(render.slack_fallback(v), blocks) is None
        assert visible_slack(blocks) <= 3000
        card = render.feishu_card(v, zone="UTC", branch="main", app=True)
        assert card_problem(card) is None and len(json.dumps(card, ensure_ascii=False).encode()) < 20 * 1024
        assert len(v.days) == 7 and all(d.line for d in v.days)


def test_hostile_titles_stay_escaped_in_the_roll_up():
    v = rollup_view.build(week(60))
    blocks = json.dumps(render.slack_blocks(v, zone="UTC", branch="main"), ensure_ascii=False)
    assert "<at id=all>" not in json.dumps(render.feishu_card(v, zone="UTC", branch="main", app=True))
    assert "<!channel>" not in blocks and HOSTILE not in blocks


def test_a_day_without_commits_says_so_and_has_no_button():
    days = [big_day(5, day=d) for d in WEEK.days[:3]]
    v = rollup_view.build(roll_up("sgl-project/sglang", WEEK, "UTC", "en", "main", days))
    assert [d.empty for d in v.days] == [False] * 3 + [True] * 4
    actions = [b for b in render.slack_blocks(v, zone="UTC", branch="main") if b["type"] == "actions"][0]
    assert len(actions["elements"]) == 3 and json.loads(actions["elements"][0]["value"])["day"] == "2026-01-05"
    text = render.plain_text(v)
    assert "no commits" in text and "Sun 01-11" in text and render.markdown(v).startswith("# sgl-project/sglang")
