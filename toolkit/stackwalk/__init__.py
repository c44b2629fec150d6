"""Stack walking (``k``), the conservative scan (``dps``) and the hot-patch check, an analysis.
May import: parsers, toolkit.model, .targets, .unwind, .symbols and other analyses; never commands.
"""

from __future__ import annotations

from toolkit.stackwalk.context import WalkContext
from toolkit.stackwalk.patch_check import patch_check
from toolkit.stackwalk.scan import code_ranges, read_slots, scan_range, scan_threads
from toolkit.stackwalk.walker import walk_target, walk_thread

# What the other packages (commands/, toolkit.waitgraph, bench/) use; the per-architecture rules
# (x86, amd64, arm64) and their shared helpers stay internal to the package.
__all__ = ["WalkContext", "code_ranges", "patch_check", "read_slots", "scan_range", "scan_threads",
           "walk_target", "walk_thread"]
