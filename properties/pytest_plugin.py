"""pytest plugin: run attnspec's properties inside a user's own pytest (--attnspec-kernel)."""
