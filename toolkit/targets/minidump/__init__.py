"""The minidump backend: the file and its directory, stream decoders, embedded images, WOW64.
May import: what toolkit.targets may (it is one of the targets).
"""
