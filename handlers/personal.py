"""A digest as one channel's subscription wants it (issue 14), for its posts and for the answers given there."""

from __future__ import annotations

from dataclasses import replace

import sqlite_utils

from core.models import Digest, Relevance
from digest.relevance import narrow, with_patches
from storage import subscriptions as subs
from storage import watches as stored_watches


def personal(db: sqlite_utils.Database, platform: str, channel: str, digest: Digest) -> Digest:
    """Only the commits on the subscription's paths and not by its skipped authors, with its watches and `min`
    for the view. A channel with no subscription to the repository gets the digest as it is."""
    sub = subs.get(db, platform, channel, digest.repo)
    if sub is None:
        return digest
    watches = tuple(stored_watches.of(db, platform, channel, digest.repo))
    narrowed = narrow(digest, skip_authors=sub.skip_authors, paths=sub.paths)
    if not watches and sub.min_level is None:
        return narrowed
    if any(w.kind == "flag" for w in watches):  # flags are read from the diffs: a read-back digest has none
        narrowed = with_patches(db, narrowed)
    return replace(narrowed, relevance=Relevance(watches, sub.min_level))
