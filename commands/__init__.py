"""One module per user command, the click group, and text/JSON rendering (the front ends).
May import: anything in toolkit and parsers; nothing imports commands but the WinDbg entry points.
"""
