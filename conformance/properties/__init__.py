"""The property tests: one module per spec file, each test naming its clause."""
