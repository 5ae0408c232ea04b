"""Commit Radar's composition root: settings, logging, database, sources, LLM, service, CLI. No logic here."""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from dotenv import load_dotenv

from digest.analysis.llm import LLMAnalyser, LLMConfig
from handlers.config import Settings
from core.errors import BadInput
from core.models import RepoRef
from digest.service import DigestService
from digest.sources import CommitSource
from digest.sources.git import GitSource
from digest.sources.github import GitHubClient, GitHubSource
from handlers import cli
from storage import llm as llm_store
from storage.db import open_db


class RedactSecrets(logging.Filter):
    """Secrets never reach a log line, whatever code logged them."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:  # tracebacks can quote secrets too
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        return True


def setup_logging(settings: Settings, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(settings.redact))
    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR, handlers=[handler], force=True)
    for noisy in ("httpx", "httpx2", "openai", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def make_service(settings: Settings, db_path: str, use_llm: bool = True) -> DigestService:
    db = open_db(db_path)
    github = GitHubClient(db, api_url=settings.github_api_url, token=settings.github_token)

    def source_for(repo: RepoRef) -> CommitSource:
        return GitSource(repo) if repo.clone else GitHubSource(repo, github)

    llm = None
    if use_llm and settings.llm_enabled:
        config = LLMConfig(base_url=settings.llm_base_url or "", api_key=settings.llm_api_key or "none",
                           model=settings.llm_model or "", fallback_model=settings.llm_fallback_model,
                           timeout=settings.llm_timeout)
        modes = {m: mode for m in (config.model, config.fallback_model) if m
                 and (mode := llm_store.load_mode(db, config.endpoint, m))}
        llm = LLMAnalyser(config, modes)
    return DigestService(db, source_for, llm, concurrency=settings.llm_concurrency,
                         token_cap=settings.llm_daily_token_cap, cap_zone=settings.digest_tz,
                         user_tokens=settings.user_tokens, llm_off=not use_llm and settings.llm_enabled)


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # UTF-8 whatever the locale says; never a crash on an emoji
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8", errors="replace")
    load_dotenv(Path.cwd() / ".env")
    try:
        settings = Settings.from_env(os.environ)
    except BadInput as err:
        sys.stderr.write(f"error: configuration: {err}\n")
        return 2
    args = sys.argv[1:] if argv is None else argv
    setup_logging(settings, "-v" in args or "--verbose" in args)
    try:
        return cli.run(args, settings, make_service)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; what was analysed is stored and will not be redone\n")
        return 130
    except Exception as err:  # the last line of defence: one line for the user, the traceback in the log
        logging.getLogger("commit-radar").info("internal error", exc_info=True)
        sys.stderr.write(f"error: internal error ({type(err).__name__}); run with -v for details\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
