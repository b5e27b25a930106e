"""The hub's behaviour: repos, commits, refs, auth, uploads. No HTTP and no SQL strings in here."""
