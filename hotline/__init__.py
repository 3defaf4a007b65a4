"""The 12345 hotline desk: calls, callers, gazetteer, duplicates, callbacks (built on dispatch)."""
