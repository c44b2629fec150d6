"""Declarative binary layouts (construct): they know bytes, nothing else.

Every structure parses and builds; no I/O, no policy.
"""
