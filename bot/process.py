"""Process-wide tuning for a long-running bot: open-files limit and garbage collection.

Nothing runs at import; the entry point calls these once.
"""

from __future__ import annotations

import gc
import logging
import resource

log = logging.getLogger("bot")

OPEN_FILES_CEILING = 1_048_576  # Linux's default nr_open


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
    objects (modules, the Gmail discovery document) live as long as the process, so they are
    frozen out of collections; the first generation is collected every 10,000 allocations
    instead of 700, which makes every generation's collections ~14x rarer.
    """
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
