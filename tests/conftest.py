"""Shared fixtures: corpus location, root/netns checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CORPUS = Path(os.environ.get("QBG_CORPUS", SHARED / "corpus"))


def corpus_files() -> list[Path]:
    """Every capture of the corpus (the tests iterate the directory, not a hand-picked list)."""
    return sorted(CORPUS.glob("*.pcap"))


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"corpus not found at {CORPUS} (set QBG_CORPUS)")
    return CORPUS
