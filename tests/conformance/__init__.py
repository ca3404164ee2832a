"""The sandbox conformance suite: every backend, the same tests."""
