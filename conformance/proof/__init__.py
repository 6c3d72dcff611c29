"""Evidence that the catalogue's properties can fail: mutants of the reference, and the statistics' power."""
