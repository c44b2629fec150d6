"""The packages' public names are pinned here, so that API drift is a deliberate edit of this file.

Adding to or removing from a package's ``__all__`` fails the first test until the list below says
the same; the other tests keep each ``__all__`` honest (every name it lists exists).
"""

from __future__ import annotations

import importlib

import pytest

PUBLIC_API = {
    "parsers": [
        "codeview", "context", "flags", "load_config", "minidump", "minidump_handles",
        "minidump_memory", "minidump_misc", "minidump_modules", "minidump_threads",
        "modload_data", "nt_tib", "pe_cor20", "pe_debug", "trace", "unwind_amd64",
    ],
    "toolkit": ["__version__"],
    "toolkit.symbols": [
        "BatchSymbolizer", "CodeFileRequest", "DebugFileRequest", "HttpServer", "LocalStore",
        "LocatedFile", "Location", "ModuleIndex", "Resolver", "SymbolLocator", "SymbolPath",
        "SymbolStatus", "Symbolizer", "code_id_of", "debug_ids_of", "default_cache_dir",
    ],
    "toolkit.seh": [
        "ChainVerdict", "DEFAULT_POLICY", "ExchainReport", "Judge", "Outcome", "POLICIES", "Policy",
        "RULES", "RecordVerdict", "RuleVerdict", "ScopeEntry", "ScopeInfo", "exchain",
        "get_policy", "judge_handler", "select_threads", "thread_chain",
    ],
    "toolkit.stackwalk": [
        "WalkContext", "code_ranges", "patch_check", "read_slots", "scan_range", "scan_threads",
        "walk_target", "walk_thread",
    ],
    "toolkit.unwind": [
        "BreakpadStackTable", "EndReason", "Frame", "ImageUnwindData", "MAX_CALL_LENGTH",
        "PostfixError", "Trust", "call_before", "call_length_mask", "call_site_mask",
        "evaluate_cfi", "evaluate_win", "file_rva_reader", "stack_win_from_pdb",
        "unwind_function", "unwind_leaf",
    ],
    "toolkit.waitgraph": [
        "DeadlockReport", "WaitGraph", "analyse", "load_graph", "merge_graphs",
        "report_for_graphs", "report_for_paths",
    ],
}


@pytest.mark.parametrize("package", sorted(PUBLIC_API))
def test_package_exports_exactly_the_pinned_names(package):
    exported = importlib.import_module(package).__all__
    assert sorted(exported) == sorted(PUBLIC_API[package])


@pytest.mark.parametrize("package", sorted(PUBLIC_API))
def test_package_all_lists_each_name_once(package):
    exported = importlib.import_module(package).__all__
    assert len(set(exported)) == len(exported)


@pytest.mark.parametrize("package", sorted(PUBLIC_API))
def test_every_exported_name_exists(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        if not hasattr(module, name):     # a package may export its submodules by name
            importlib.import_module(f"{package}.{name}")


@pytest.mark.parametrize("module", PUBLIC_API["parsers"])
def test_each_parser_module_exports_names_it_defines(module):
    mod = importlib.import_module(f"parsers.{module}")
    missing = [name for name in mod.__all__ if not hasattr(mod, name)]
    assert mod.__all__ and not missing
