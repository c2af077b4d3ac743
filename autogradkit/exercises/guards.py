"""Checks that need the work done: which library functions a learner's code called.

A by-hand task ("write the VJP with numpy", "build Linear from primitives") must fail when the
answer hands the work to a library. ``watching(fn, forbidden)`` wraps ``fn`` so that it returns
``(value, first)``, where ``first`` names the first forbidden function it called (seen through
``sys.setprofile``, so a call made anywhere below the learner's code counts), or None.

``forbidden`` is a tuple of module-name prefixes: ``"autogradkit"`` (the whole library, its
exercises excepted), ``"autogradkit.nn"``, ``"autogradkit.optim"``, ``"torch"`` …
"""
from __future__ import annotations

import sys

NUMPY_ONLY = ("autogradkit", "torch", "jax")   # a rule written with numpy alone
_MINE = "autogradkit.exercises"                # the checks' own helpers are never forbidden


def _forbidden_module(module, forbidden, cache):
    hit = cache.get(module)
    if hit is None:
        hit = not module.startswith(_MINE) and any(
            module == p or module.startswith(p + ".") for p in forbidden)
        cache[module] = hit
    return hit


def watching(fn, forbidden=NUMPY_ONLY):
    """``fn`` wrapped to return ``(value, "module.function" first called from forbidden)``."""
    def watched(*args, **kwargs):
        seen, cache = [], {}

        def profiler(frame, event, arg):
            if event == "call" and not seen:
                module = frame.f_globals.get("__name__", "") or ""
                if _forbidden_module(module, forbidden, cache):
                    seen.append(f"{module}.{frame.f_code.co_qualname}")

        previous = sys.getprofile()
        sys.setprofile(profiler)
        try:
            value = fn(*args, **kwargs)
        finally:
            sys.setprofile(previous)
        return value, (seen[0] if seen else None)
    return watched
