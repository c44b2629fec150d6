"""The pykd backend: a Target over a live WinDbg/kd session, and the debugger text it parses.
May import: what toolkit.targets may; ``pykd`` itself only inside functions (Windows only).
"""
