"""Backends that answer the Target protocol (minidump/, pe/, pykd/), trace files, and ``open``.
May import: parsers, toolkit.model and other targets; never unwind, symbols, analyses or commands.
"""
