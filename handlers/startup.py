"""The line `bot.py run` starts with: what runs (each chat mode, the subscriptions, the LLM or the rules, the
address it listens on), so that one glance tells an operator whether it is what they meant to start."""

from __future__ import annotations

from collections.abc import Sequence

from handlers.config import Settings
from digest.labels import counted
from storage.subscriptions import Subscription

REPOS_SHOWN = 5  # more are counted: the line stays one line


def modes(settings: Settings) -> list[str]:
    """How each configured platform is reached, in the words of .env.example."""
    found = []
    if settings.slack_enabled:
        found.append("Slack Socket Mode" if settings.slack_app_token else "Slack HTTP (/slack/events)")
    if settings.feishu_app_enabled:
        if settings.feishu_event_mode == "ws":
            found.append("Feishu ws (long connection" + (", card callbacks at /feishu/events)"
                                                         if settings.feishu_encrypt_key else ")"))
        else:
            found.append("Feishu http (/feishu/events)")
    if settings.feishu_webhook_url:
        found.append("Feishu webhook (posts only)")
    return found


def subscriptions_part(subscriptions: Sequence[Subscription]) -> str:
    repos = sorted({s.repo for s in subscriptions})
    shown = ", ".join(repos[:REPOS_SHOWN]) + (f" and {len(repos) - REPOS_SHOWN} more" if len(repos) > REPOS_SHOWN
                                              else "")
    paused = sum(1 for s in subscriptions if s.paused)
    details = [shown] if repos else []
    if paused:
        details.append(f"{paused} paused")
    return counted(len(subscriptions), "subscription", "subscriptions") + (f" ({'; '.join(details)})" if details
                                                                           else "")


def llm_part(model: str | None, fallback: str | None, off: bool) -> str:
    if model:
        return f"LLM {model}" + (f" (fallback {fallback})" if fallback else "")
    return "offline rules (--no-llm)" if off else "offline rules (no LLM configured)"


def line(settings: Settings, subscriptions: Sequence[Subscription], *, model: str | None, fallback: str | None,
         llm_off: bool, host: str, port: int) -> str:
    """'commit radar running: Slack HTTP (/slack/events); 2 subscriptions (a/b, c/d); LLM m; listening on
    0.0.0.0:8080 (/healthz); Ctrl-C to stop'."""
    return (f"commit radar running: {' · '.join(modes(settings)) or 'no chat platform'}; "
            f"{subscriptions_part(subscriptions)}; {llm_part(model, fallback, llm_off)}; "
            f"listening on {host}:{port} (/healthz); Ctrl-C to stop")
