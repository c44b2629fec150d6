"""Crash triage, an analysis: the facts of one dump (``info``) and, on top, its report and identity.
May import: parsers, toolkit.model, .targets, .unwind, .symbols and other analyses; never commands.
"""
