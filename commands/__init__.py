"""One module per user command, the click group, and text/JSON rendering."""
