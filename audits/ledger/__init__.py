"""The tamper-evident prediction ledger (issue 4). ``merkle`` is pure."""
