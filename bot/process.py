"""Process-wide tuning for a long-running bot: event loop, open-files limit and garbage collection.

Nothing runs at import; the entry point calls these once.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import resource
from collections.abc import Callable

log = logging.getLogger("bot")

OPEN_FILES_CEILING = 1_048_576  # Linux's default nr_open


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (every platform but Windows), else asyncio's own.

    Measured with bench/ (docs/performance.md): the loop's own bookkeeping was the largest single
    item in the approval profile, and uvloop does it in C.
    """
    try:
        import uvloop  # optional: absent on Windows
    except ImportError:
        return None
    return uvloop.new_event_loop


def raise_open_files_limit() -> int:
    """Each waiting user holds one connection to Arcade, and the usual soft limit of 1,024 open files
    would cap them at about a thousand: take what the hard limit allows. Returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES_CEILING if hard == resource.RLIM_INFINITY else min(hard, OPEN_FILES_CEILING)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as exc:  # e.g. above the kernel's nr_open: keep what we have
            log.warning("bot.open_files_unchanged limit=%d error=%s", soft, exc)
    return soft


def tune_gc() -> None:
    """Each waiting user is a few hundred live objects that every full collection walks again.

    Measured with bench/ at 5,000 waiting (docs/performance.md): with the defaults, collections
    took up to 40% of the CPU while users arrived and approved, with pauses up to 470 ms. Start-up
    objects (modules, the Calendar discovery document) live as long as the process, so they are
    frozen out of collections; the first generation is collected every 10,000 allocations
    instead of 700, which makes every generation's collections ~14x rarer.
    """
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
