"""Plumbing shared by the ledger benchmarks (``bench ingest``, ``bench trail``).

A ledger benchmark commits what it writes, because other processes (the HTTP
server, the sequencer) must see it, and it may leave millions of rows behind. So it
runs against a database of its own:

* ``--scratch`` creates ``mg_bench_<pid>`` on the configured server, migrates it,
  runs the benchmark in a child process against it, then drops it (``--keep``
  keeps it);
* ``--database-url URL`` runs the benchmark in a child process against URL;
* otherwise it runs against the configured database, and refuses one holding real
  data (a registered model that is not the bench model, or predictions of another
  deployment) unless ``--force``.

The ledger key: the configured one (``MODELGOV_LEDGER_KEY``, else
``MODELGOV_ATTESTATION_KEY``) when set; else a bench-only key derived from the
database name, so that a kept bench database can be extended and checked again by
a later run. Never use a derived key for a real ledger: anyone can derive it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from psycopg import sql

from audits.integrity import commit as integrity
from audits.ledger import ingest as ledger_ingest
from audits.ledger import records
from audits.ledger.models import EntryType, LedgerKey
from governance import services as governance_services
from governance.choices import RequestState, Role
from governance.models import ReleaseRequest
from governance.services import deployments
from registry.choices import VersionStatus
from registry.models import Model, ModelVersion

SCRATCH_PREFIX = "mg_bench_"
BENCH_ACCOUNT = "bench-pipeline"
BENCH_AUDITOR = "bench-auditor"
BENCH_MODEL = "bench-credit"
BENCH_VERSION = "1.0.0"
ENVIRONMENT = "production"

# Shaped like the credit demo's applications: numeric and categorical features,
# protected attributes sent apart (the leaf keeps only their salted commitment).
PURPOSES = ("car", "furniture", "radio_tv", "business", "education", "repairs")
HOUSING = ("own", "rent", "free")
SAVINGS = ("lt_100", "100_500", "500_1000", "ge_1000", "unknown")
AGE_GROUPS = ("lt_25", "25_39", "40_59", "ge_60")
SEXES = ("female", "male")
INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Credit application (bench)",
    "type": "object",
    "properties": {
        "duration": {"type": "integer", "minimum": 1},
        "amount": {"type": "number", "minimum": 0},
        "installment_rate": {"type": "integer", "minimum": 1, "maximum": 4},
        "purpose": {"type": "string", "enum": list(PURPOSES)},
        "housing": {"type": "string", "enum": list(HOUSING)},
        "savings": {"type": "string", "enum": list(SAVINGS)},
    },
    "required": [
        "duration",
        "amount",
        "installment_rate",
        "purpose",
        "housing",
        "savings",
    ],
    "additionalProperties": False,
}


# --- databases ----------------------------------------------------------------------


def url_of(settings_dict: Mapping[str, Any], name: str | None = None) -> str:
    """A postgres:// URL for the server of ``settings_dict`` (database ``name``)."""
    user = quote(str(settings_dict.get("USER") or ""), safe="")
    password = quote(str(settings_dict.get("PASSWORD") or ""), safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = str(settings_dict.get("HOST") or "")
    port = str(settings_dict.get("PORT") or "")
    where = f"{host}:{port}" if port else host
    return f"postgres://{auth}{where}/{quote(name or settings_dict['NAME'], safe='')}"


def _admin_connect(settings_dict: Mapping[str, Any]) -> psycopg.Connection[Any]:
    params = {
        "dbname": "postgres",
        "host": settings_dict.get("HOST") or None,
        "port": settings_dict.get("PORT") or None,
        "user": settings_dict.get("USER") or None,
        "password": settings_dict.get("PASSWORD") or None,
    }
    given = {k: v for k, v in params.items() if v is not None}
    return psycopg.connect(psycopg.conninfo.make_conninfo("", **given), autocommit=True)


def scratch_create(settings_dict: Mapping[str, Any]) -> str:
    """Create an empty database ``mg_bench_<pid>`` on the configured server."""
    name = f"{SCRATCH_PREFIX}{os.getpid()}"
    with _admin_connect(settings_dict) as admin:
        for attempt in range(5):
            try:
                admin.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
                )
                return name
            except psycopg.errors.ObjectInUse:
                # Someone else is connected to template1 (another CREATE DATABASE).
                time.sleep(0.5 * (attempt + 1))
    raise CommandError(f"could not create the scratch database {name}")


def scratch_drop(settings_dict: Mapping[str, Any], name: str) -> None:
    if not name.startswith(SCRATCH_PREFIX):
        raise ValueError(f"{name} is not a scratch database")
    with _admin_connect(settings_dict) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )


def manage_py() -> list[str]:
    return [sys.executable, str(settings.BASE_DIR / "manage.py")]


def child_environment(
    url: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a child process working on the database at ``url``.

    The same settings module; ``TEST_DATABASE_URL`` too, because the test settings
    prefer it. The signer state file and the witness directory of a real
    deployment are switched off: a bench ledger must never advance them.
    """
    env = dict(os.environ)
    env.update(
        {
            # Not settings.SETTINGS_MODULE: None under override_settings.
            "DJANGO_SETTINGS_MODULE": os.environ.get(
                "DJANGO_SETTINGS_MODULE", "governance.settings"
            ),
            "DATABASE_URL": url,
            "TEST_DATABASE_URL": url,
            "MODELGOV_LEDGER_SIGNER_STATE": "",
            "MODELGOV_LEDGER_WITNESS_DIR": "",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if "DJANGO_SECRET_KEY" not in env and "DJANGO_SECRET_KEY_FILE" not in env:
        env["DJANGO_SECRET_KEY"] = settings.SECRET_KEY
    env.update(extra or {})
    return env


def run_elsewhere(
    *,
    target: str,
    args: list[str],
    url: str | None,
    scratch: bool,
    keep: bool,
) -> dict[str, Any]:
    """Run ``manage.py bench <target> <args>`` in a child process against ``url``
    (or a fresh scratch database) and return its JSON."""
    settings_dict = connection.settings_dict
    name = None
    if scratch:
        name = scratch_create(settings_dict)
        url = url_of(settings_dict, name)
    assert url is not None
    try:
        env = child_environment(url)
        if scratch:
            subprocess.run(
                [*manage_py(), "migrate", "--no-input", "-v", "0"],
                env=env,
                cwd=settings.BASE_DIR,
                check=True,
            )
        done = subprocess.run(
            [*manage_py(), "bench", target, *args],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=subprocess.PIPE,
            text=True,
        )
        if done.returncode != 0:
            raise CommandError(
                f"bench {target} failed in its child process (exit {done.returncode})"
            )
        result: dict[str, Any] = json.loads(done.stdout)
    finally:
        if name is not None and not keep:
            scratch_drop(settings_dict, name)
    if name is not None:
        result["scratch_database"] = name
        result["scratch_kept"] = keep
    return result


def real_data() -> list[str]:
    """What in the configured database is not the benchmark's own (empty: none)."""
    found = []
    models = Model.objects.exclude(slug=BENCH_MODEL).count()
    if models:
        found.append(f"{models} registered model(s)")
    bench = Model.objects.filter(slug=BENCH_MODEL).first()
    labels = [f"{bench.pk}/{ENVIRONMENT}"] if bench is not None else []
    if (
        LedgerKey.objects.filter(entry_type=EntryType.PREDICTION)
        .exclude(binding__in=labels)
        .exists()
    ):
        found.append("predictions of other deployments")
    return found


# --- the ledger key -----------------------------------------------------------------


def ledger_key_pem(database_name: str) -> tuple[str, bool]:
    """(PEM, derived): the configured ledger key, else a bench key derived from the
    database name (the same key for every run against that database)."""
    configured = settings.MODELGOV_LEDGER_KEY or settings.MODELGOV_ATTESTATION_KEY
    if configured:
        return str(configured), False
    seed = hashlib.sha256(f"modelgov-bench-ledger:{database_name}".encode()).digest()
    key = Ed25519PrivateKey.from_private_bytes(seed)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, True


def ledger_overrides(database_name: str) -> dict[str, Any]:
    """Settings for this process while it benchmarks (see :func:`child_environment`)."""
    pem, _ = ledger_key_pem(database_name)
    return {
        "MODELGOV_LEDGER_KEY": pem,
        "MODELGOV_LEDGER_SIGNER_STATE": "",
        "MODELGOV_LEDGER_WITNESS_DIR": "",
    }


# --- the bench deployment -----------------------------------------------------------


@dataclass(frozen=True)
class BenchDeployment:
    """The bench model deployed to production under an approval, and its ingest key."""

    user: Any
    model: Model
    version: ModelVersion
    state_ref: dict[str, str]
    token: str
    binding: records.Binding

    @property
    def version_info(self) -> records.VersionInfo:
        return records.VersionInfo(
            self.version.pk, self.version.version, self.version.artifact_sha256
        )


def _account(username: str, role: str) -> Any:
    user: Any = get_user_model().objects.filter(username=username).first()
    if user is None:
        user = governance_services.account_create(
            actor=None, username=username, role=role
        )
    return user


def deployment_setup(
    *,
    baseline: Mapping[str, Any] | None = None,
    protected_attributes: Sequence[str] = (),
) -> BenchDeployment:
    """Create (or reuse) the bench pipeline account, model, approved version and
    deployment, and issue a fresh ingest key bound to (model, production).

    The approval is written directly (as ``bench gate`` does): the benchmark
    measures ingest, not the approval workflow. The deployment report goes through
    its service, so the deployment state in force is a real ledger leaf.
    ``baseline`` and ``protected_attributes`` go into a version created here (a
    submitted version's content cannot change later); a reused one keeps its own.
    """
    user = _account(BENCH_ACCOUNT, Role.SERVICE_ACCOUNT)
    now = timezone.now()
    model = Model.objects.filter(slug=BENCH_MODEL).first()
    if model is None:
        model = Model.objects.create(
            name="Bench credit scorecard",
            slug=BENCH_MODEL,
            purpose="Benchmark of the prediction ledger.",
            owner=user,
            risk_tier=2,
        )
    version = ModelVersion.objects.filter(model=model, version=BENCH_VERSION).first()
    if version is None:
        digest = hashlib.sha256(b"bench-credit 1.0.0").hexdigest()
        version = ModelVersion.objects.create(
            model=model,
            version=BENCH_VERSION,
            status=VersionStatus.SUBMITTED,
            artifact_uri="s3://bench/bench-credit/1.0.0/model.joblib",
            artifact_sha256=digest,
            content_digest=digest[::-1],
            input_schema=INPUT_SCHEMA,
            protected_attributes=list(protected_attributes),
            baseline=dict(baseline or {}),
            created_by=user,
            submitted_by=user,
            submitted_at=now,
        )
    approval = deployments.approval_in_force(
        version=version, environment=ENVIRONMENT, at=now
    )
    if approval is None:
        # Written as the workflow would end: with its record leaf, so that the
        # timed trail checks the approval against the ledger as in production.
        approval = ReleaseRequest.objects.create(
            model_version=version,
            policy=governance_services.policy_for(version),
            environments=[ENVIRONMENT],
            state=RequestState.APPROVED,
            requested_by=user,
            submitted_at=now,
            decided_at=now,
            approved_at=now,
            expires_at=now + timedelta(days=3650),
            approved_artifact_sha256=version.artifact_sha256,
            approved_content_digest=version.content_digest,
        )
        integrity.record_commit(approval)
    state = ledger_ingest.deployment_state_current(model.pk, ENVIRONMENT)
    if state is None or state.approval_id is None:
        deployments.deployment_report(
            actor=user,
            version=version,
            environment=ENVIRONMENT,
            target="bench",
            external_id="bench",
        )
        state = ledger_ingest.deployment_state_current(model.pk, ENVIRONMENT)
    assert state is not None and state.approval_id is not None
    issued = governance_services.api_token_create(
        actor=None,
        user=user,
        name="bench ingest",
        deployment_model=model,
        deployment_environment=ENVIRONMENT,
    )
    return BenchDeployment(
        user=user,
        model=model,
        version=version,
        state_ref={
            "entry_id": str(state.entry_id),
            "leaf_hash": bytes(state.leaf_hash).hex(),
        },
        token=issued.raw,
        binding=records.Binding(
            model_id=model.pk,
            model_slug=model.slug,
            environment=ENVIRONMENT,
            key_prefix=issued.token.prefix,
        ),
    )


def auditor_account() -> Any:
    """The bench auditor, allowed to view prediction trails."""
    from django.contrib.auth.models import Permission

    user = _account(BENCH_AUDITOR, Role.AUDITOR)
    if not user.has_perm("audits.view_prediction_trail"):
        user.user_permissions.add(
            Permission.objects.get(
                content_type__app_label="audits", codename="view_prediction_trail"
            )
        )
        user = get_user_model().objects.get(pk=user.pk)  # fresh permission cache
    return user


# --- records ------------------------------------------------------------------------


def sample_record(
    rng: random.Random, *, slug: str, version: str, predicted_at: str
) -> dict[str, Any]:
    """One prediction as a scoring service sends it (a uuid4 id)."""
    draw = rng.random  # index arithmetic: a third of the cost of rng.choice
    score = round(draw(), 6)
    return {
        "prediction_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "model": slug,
        "version": version,
        "predicted_at": predicted_at,
        "features": {
            "duration": 4 + int(draw() * 69),
            "amount": round(250.0 + draw() * 18250.0, 2),
            "installment_rate": 1 + int(draw() * 4),
            "purpose": PURPOSES[int(draw() * len(PURPOSES))],
            "housing": HOUSING[int(draw() * len(HOUSING))],
            "savings": SAVINGS[int(draw() * len(SAVINGS))],
        },
        "score": score,
        "decision": "approve" if score >= 0.6 else "decline",
        "protected_attributes": {
            "age_group": AGE_GROUPS[int(draw() * len(AGE_GROUPS))],
            "sex": SEXES[int(draw() * len(SEXES))],
        },
    }


def prediction_of(
    record: Mapping[str, Any], version: records.VersionInfo
) -> records.Prediction:
    """The :class:`records.Prediction` that ``records.validate_predictions`` makes of
    a valid ``record`` from :func:`sample_record`, without validating it."""
    return records.Prediction(
        prediction_id=uuid.UUID(record["prediction_id"]),
        version=version,
        predicted_at=record["predicted_at"],
        features=record["features"],
        input_commitment=None,
        score=record["score"],
        decision=record["decision"],
        protected_attributes=record["protected_attributes"],
        trace_id=None,
        payload=records.dumps(dict(record)),  # the record as sent, canonical
    )


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in (0, 1])."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


# What a figure depends on besides the code: read back from the server of the run.
_REPORTED_SETTINGS = (
    "shared_buffers",
    "max_wal_size",
    "checkpoint_timeout",
    "synchronous_commit",
    "fsync",
    "full_page_writes",
)


def postgres_settings() -> dict[str, str]:
    """The PostgreSQL settings a benchmark's figures depend on, as the server
    shows them (e.g. ``{"shared_buffers": "4GB", ...}``)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, current_setting(name) FROM pg_settings "
            "WHERE name = ANY(%s) ORDER BY name",
            [list(_REPORTED_SETTINGS)],
        )
        return {name: value for name, value in cursor.fetchall()}
