"""One wait-graph builder per input kind: ``transcript`` (WinDbg/kd text), ``minidump`` (dumps).
May import: what toolkit.waitgraph may (it is part of that analysis).
"""
