"""The model every layer speaks: the Target protocol, its dataclasses, the memory map, ids, errors.
May import: the standard library, numpy (the memory map's region arrays) and parsers; nothing else.
"""
