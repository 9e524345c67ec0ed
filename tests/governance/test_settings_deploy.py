"""Production settings: `check --deploy` is clean, and unsafe configurations refuse to start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]


def _manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    base.pop("DATABASE_URL", None)
    base.update(env)
    base["DJANGO_SETTINGS_MODULE"] = "governance.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "k9#Qm2@x7!Lp4$Zr8&Vt1^Wn6*Yb3(Hd5)Jf0-Gs_Ec+Ua=Ro;Ti:Pe,Oy.Iw",
    "DJANGO_ALLOWED_HOSTS": "modelgov.bank.example",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/modelgov",
}


def test_check_deploy_reports_no_warnings_with_production_environment() -> None:
    # given production-like environment variables and DEBUG left off
    # when Django's deployment checklist runs, failing on any warning
    result = _manage(["check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV)
    # then it is clean
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_missing_secret_key_refuses_to_start_without_debug() -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}
    result = _manage(["check"], env)
    assert result.returncode == 1
    assert "DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) must be set" in result.stderr


def test_demo_fallback_key_works_only_with_debug() -> None:
    result = _manage(["check"], {"DJANGO_DEBUG": "1"})
    assert result.returncode == 0, result.stderr


def test_secret_key_can_come_from_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "secret"
    key_file.write_text(PRODUCTION_ENV["DJANGO_SECRET_KEY"] + "\n")
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}
    env["DJANGO_SECRET_KEY_FILE"] = str(key_file)
    result = _manage(["check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_migrations_are_in_sync_with_models(db: object) -> None:
    # makemigrations --check exits non-zero when a model change lacks a migration
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
