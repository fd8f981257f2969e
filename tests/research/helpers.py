"""What the tests of the research scripts share: importing a script as ``python research/<name>.py`` runs it."""

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from ..bench.helpers import BENCH, bench_script

RESEARCH = Path(__file__).resolve().parents[2] / "research"

__all__ = ["BENCH", "RESEARCH", "bench_script", "research_script"]


@contextmanager
def research_script(name: str) -> Iterator[ModuleType]:
    """The module ``research/<name>.py``, imported with ``research/`` on the path (the script puts ``bench/`` there
    itself, for the benchmark modules it imports); the path is restored after."""
    saved = list(sys.path)
    sys.path.insert(0, str(RESEARCH))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path[:] = saved
