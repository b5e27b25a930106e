"""The `omh` command line."""
