"""PE images: the container (pefile), debug directories and load config records, exports, reports.
May import: what toolkit.targets may (it is one of the targets).
"""
