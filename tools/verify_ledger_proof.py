#!/usr/bin/env python3
"""Verify a modelgov ledger proof offline: the one verifier, audits/ledger/verify.py.

    python tools/verify_ledger_proof.py BUNDLE --public-key KEY.pem [options]

The same program as ``python -m audits.ledger.verify`` (see its docstring for the
options, the rollback and fork checks and the exit codes), run from a checkout.
That file needs only Python 3 and ``cryptography`` and imports nothing else of the
application: to verify on a machine of your own, copy it alone and run
``python verify.py …``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

VERIFIER = Path(__file__).resolve().parents[1] / "audits" / "ledger" / "verify.py"


def _load():  # type: ignore[no-untyped-def]
    # Loaded by path, not as a package module: nothing else of the application
    # (not even audits/__init__.py) runs.
    spec = importlib.util.spec_from_file_location("modelgov_ledger_verify", VERIFIER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    sys.exit(_load().main())
