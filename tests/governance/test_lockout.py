"""Lockout of password attempts (ADR 0021): sign-ins and signature passwords count
per account and per address; while locked even the right password neither signs in
nor signs; every failure and lockout is on the record; the account and the
administrators hear of it; an administrator unlocks. And the API's throttles."""

from __future__ import annotations

from typing import Any

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from audits.models import AuditEvent, RefusalKind, RefusedAction
from governance import services
from governance.models import ReleaseRequest, Signature
from governance.services import lockout
from registry.models import Model
from tests.conftest import client_for
from tests.factories import PASSWORD
from tests.governance.workflow_helpers import document_everything

ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.20"
WRONG = "not-the-password"
LOCKED_REASON = (
    "Locked after 5 failed password attempts for the account {name!r} "
    "or from the address {address}."
)


@pytest.fixture(autouse=True)
def _five_failures(settings: Any) -> None:
    # The documented default (MODELGOV_LOCKOUT_FAILURES), no cool-off.
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME is None


def _sign_in(client: Any, username: str, password: str, address: str) -> Any:
    return client.post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def _signed_in(client: Any) -> bool:
    return "_auth_user_id" in client.session


def _last_refusal_id() -> int:
    return (
        RefusedAction.objects.order_by("-id").values_list("id", flat=True).first() or 0
    )


def _refusals_since(last: int) -> list[tuple[str, str, str, str | None, str]]:
    return [
        (r.kind, r.action, r.username, r.ip_address, r.reason)
        for r in RefusedAction.objects.filter(id__gt=last).order_by("id")
    ]


def _failed(name: str, address: str) -> tuple[str, str, str, str | None, str]:
    return (
        RefusalKind.LOGIN_FAILED,
        lockout.SIGN_IN,
        name,
        address,
        lockout.SIGN_IN_FAILED_REASON,
    )


def _locked(
    name: str, address: str | None, action: str = lockout.SIGN_IN
) -> tuple[str, str, str, str | None, str]:
    return (
        RefusalKind.LOCKED_OUT,
        action,
        name,
        address,
        LOCKED_REASON.format(name=name, address=address or "unknown"),
    )


def _refused_while_locked(
    name: str, address: str
) -> tuple[str, str, str, str | None, str]:
    return (
        RefusalKind.LOCKED_OUT,
        lockout.SIGN_IN,
        name,
        address,
        lockout.SIGN_IN_LOCKED_REASON,
    )


def _alerts_since(events: int) -> list[tuple[str, str, int]]:
    """The audit events after the first ``events``: alerts on repeated refusals."""
    rows = AuditEvent.objects.order_by("id")[events:]
    assert {e.event_type for e in rows} <= {"audits.refusals.alert_raised"}
    return [(e.payload["key"], e.payload["value"], e.payload["refusals"]) for e in rows]


def _alert(response: Any) -> str:
    return " ".join(response.context["form"].non_field_errors())


# -- sign-in -------------------------------------------------------------------


def test_five_failed_sign_ins_lock_the_account_even_against_the_right_password(
    client: Any, developer: Any, administrator: Any
) -> None:
    # given dana's account, an administrator, and nothing on record
    last = _last_refusal_id()
    events = AuditEvent.objects.count()
    # when someone tries five wrong passwords for dana
    answers = [_sign_in(client, "dana", WRONG, ATTACKER) for _ in range(5)]
    # then the first four say "wrong", the fifth says locked
    assert [a.status_code for a in answers] == [200] * 5
    assert [_alert(a) == lockout.LOCKED_MESSAGE for a in answers] == [
        False,
        False,
        False,
        False,
        True,
    ]
    # when dana then gives the right password, from another address
    response = _sign_in(client, "dana", PASSWORD, ELSEWHERE)
    # then it is refused with the same message and nobody is signed in
    assert response.status_code == 200
    assert _alert(response) == lockout.LOCKED_MESSAGE
    assert lockout.LOCKED_MESSAGE in response.content.decode()
    assert not _signed_in(client)
    # and every attempt is on the record, in order
    assert _refusals_since(last) == [
        *[_failed("dana", ATTACKER)] * 5,
        _locked("dana", ATTACKER),
        _refused_while_locked("dana", ELSEWHERE),
    ]
    # and nothing else changed (no sign-in): the only audit events are the alerts
    # on repeated refusals, one for the account and one for the address, raised by
    # the fifth failure (ADR 0024)
    assert _alerts_since(events) == [("account", "dana", 5), ("address", ATTACKER, 5)]
    # and dana and the administrator were told, once each
    assert sorted((m.to, m.subject) for m in mail.outbox) == [
        (["adam@example.com"], f"[modelgov] Locked: 'dana' from {ATTACKER}"),
        (["dana@example.com"], "[modelgov] Your account is locked"),
    ]


def test_the_administrators_notice_quotes_the_name_tried(
    client: Any, administrator: Any
) -> None:
    # given a name that is a shell command
    name = "x; rm -rf ~"
    # when it is locked by five failures
    for _ in range(5):
        _sign_in(client, name, WRONG, ATTACKER)
    # then only the administrators are told (no such account), and the commands in
    # the notice are safe to copy
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["adam@example.com"], f"[modelgov] Locked: 'x; rm -rf ~' from {ATTACKER}")
    ]
    assert mail.outbox[0].body == (
        "5 failed password attempts for the account 'x; rm -rf ~' (which does not "
        f"exist) or from {ATTACKER} locked sign-in and signatures.\n\n"
        "Unlock in the admin (Axes > Access attempts) or with\n"
        "  manage.py unlock_account --username 'x; rm -rf ~'\n"
        f"  manage.py unlock_account --ip-address {ATTACKER}\n"
    )


def test_a_failed_sign_in_is_counted_once_and_recorded_with_the_name_tried(
    client: Any, developer: Any
) -> None:
    # given nothing on record
    last = _last_refusal_id()
    # when a name nobody has is tried once
    _sign_in(client, "nobody-has-this-name", WRONG, ATTACKER)
    # then one failure is counted (not twice: axes' own signal path is off)
    assert list(
        AccessAttempt.objects.values_list(
            "username", "ip_address", "failures_since_start"
        )
    ) == [("nobody-has-this-name", ATTACKER, 1)]
    assert _refusals_since(last) == [_failed("nobody-has-this-name", ATTACKER)]
    assert RefusedAction.objects.get(id__gt=last).actor_id is None


def test_failures_from_one_address_lock_the_address_for_every_account(
    client: Any, developer: Any, auditor: Any, administrator: Any
) -> None:
    # given five wrong guesses at five names (real and not) from one address
    last = _last_refusal_id()
    events = AuditEvent.objects.count()
    names = ["dana", "adam", "ghost-1", "ghost-2", "ghost-3"]
    for name in names:
        _sign_in(client, name, WRONG, ATTACKER)
    # when audrey gives her right password from that address
    locked = _sign_in(client, "audrey", PASSWORD, ATTACKER)
    # then she is refused: the address is locked
    assert _alert(locked) == lockout.LOCKED_MESSAGE
    assert not _signed_in(client)
    # and a name nobody has gets the very same answer (nothing tells which exist)
    unknown = _sign_in(client, "ghost-1", PASSWORD, ATTACKER)
    assert _alert(unknown) == _alert(locked)
    # and the record shows every guess, the lock and both refusals
    assert _refusals_since(last) == [
        *[_failed(name, ATTACKER) for name in names],
        _locked("ghost-3", ATTACKER),
        _refused_while_locked("audrey", ATTACKER),
        _refused_while_locked("ghost-1", ATTACKER),
    ]
    # and only the administrator was told (no account reached five)
    assert [m.to for m in mail.outbox] == [["adam@example.com"]]
    # and nothing else changed but the alert on the address's fifth refusal
    assert _alerts_since(events) == [("address", ATTACKER, 5)]
    # when audrey signs in from another address
    elsewhere = _sign_in(client, "audrey", PASSWORD, ELSEWHERE)
    # then she is in: her account is not locked
    assert elsewhere.status_code == 302
    assert _signed_in(client)


def test_the_address_lock_can_be_turned_off_for_a_proxy_that_hides_addresses(
    settings: Any, client: Any, auditor: Any
) -> None:
    # given MODELGOV_LOCKOUT_PER_ADDRESS off, and guesses at five names from one place
    settings.MODELGOV_LOCKOUT_PER_ADDRESS = False
    for name in ["g1", "g2", "g3", "g4", "g5"]:
        _sign_in(client, name, WRONG, ATTACKER)
    # when audrey signs in from there
    response = _sign_in(client, "audrey", PASSWORD, ATTACKER)
    # then she is in: only accounts are locked
    assert response.status_code == 302
    client.logout()
    # but a sixth guess at g1 still counts against g1 alone
    for _ in range(4):
        _sign_in(client, "g1", WRONG, ATTACKER)
    assert lockout.is_locked(username="g1", attempt=lockout.Attempt(ATTACKER))
    assert not lockout.is_locked(username="g2", attempt=lockout.Attempt(ATTACKER))


def test_a_successful_sign_in_clears_only_the_accounts_own_failures(
    client: Any, developer: Any, auditor: Any
) -> None:
    # given four wrong passwords for dana and none for audrey, from one address
    for _ in range(4):
        _sign_in(client, "dana", WRONG, ATTACKER)
    # when dana signs in with the right password
    assert _sign_in(client, "dana", PASSWORD, ATTACKER).status_code == 302
    client.logout()
    # then her failures are gone and four more do not lock her
    assert not AccessAttempt.objects.filter(username="dana").exists()
    for _ in range(4):
        _sign_in(client, "dana", WRONG, ELSEWHERE)
    assert _sign_in(client, "dana", PASSWORD, ELSEWHERE).status_code == 302
    client.logout()
    # but an account's sign-in does not clear guesses at others from its address
    for name in ["ghost-1", "ghost-2", "ghost-3", "ghost-4"]:
        _sign_in(client, name, WRONG, ATTACKER)
    assert _sign_in(client, "audrey", PASSWORD, ATTACKER).status_code == 302
    client.logout()
    assert _alert(_sign_in(client, "ghost-5", WRONG, ATTACKER)) == (
        lockout.LOCKED_MESSAGE
    )
    assert not _signed_in(client)


def test_the_test_clients_login_without_a_request_is_locked_per_account(
    client: Any, developer: Any
) -> None:
    # given four wrong passwords through client.login() (no request: per account)
    for _ in range(5):
        assert client.login(username="dana", password=WRONG) is False
    # when the right one is given
    # then it is refused too
    assert client.login(username="dana", password=PASSWORD) is False
    assert list(
        AccessAttempt.objects.values_list(
            "username", "ip_address", "failures_since_start"
        )
    ) == [("dana", None, 5)]


def test_the_admin_login_says_the_account_is_locked(
    client: Any, administrator: Any
) -> None:
    # given an administrator locked by five wrong passwords
    for _ in range(5):
        _sign_in(client, "adam", WRONG, ATTACKER)
    # when the right password is given on the admin's login
    response = client.post(
        reverse("admin:login"),
        {"username": "adam", "password": PASSWORD},
        REMOTE_ADDR=ELSEWHERE,
    )
    # then it is refused with the lockout message
    assert response.status_code == 200
    assert lockout.LOCKED_MESSAGE in response.content.decode()
    assert not _signed_in(client)


# -- signatures ----------------------------------------------------------------


def _validated_tier_2(version: Any, developer: Any, validator: Any) -> ReleaseRequest:
    Model.objects.filter(pk=version.model_id).update(risk_tier=2)
    version.refresh_from_db()
    document_everything(version=version, developer=developer, validator=validator)
    rr = services.release_request_create(
        actor=developer, version=version, environments=["production"]
    )
    rr = services.release_request_submit(actor=developer, request=rr)
    rr = services.release_request_start_validation(actor=validator, request=rr)
    return services.release_request_record_validation(
        actor=validator, request=rr, outcome="approve", password=PASSWORD
    )


def _request_row(rr: ReleaseRequest) -> dict[str, Any]:
    return ReleaseRequest.objects.filter(pk=rr.pk).values().get()


def test_wrong_signature_passwords_lock_signing_and_sign_in(
    client: Any,
    developer: Any,
    validator: Any,
    risk_officer: Any,
    administrator: Any,
    submitted_version: Any,
) -> None:
    # given a validated request that rita may approve
    rr = _validated_tier_2(submitted_version, developer, validator)
    before = _request_row(rr)
    events = AuditEvent.objects.count()
    signatures = Signature.objects.count()
    last = _last_refusal_id()
    wrong = "The password is not correct; the signature was not applied."
    # when rita signs with a wrong password five times
    for _ in range(5):
        with pytest.raises(services.SignaturePasswordError):
            services.release_request_approve(
                actor=risk_officer, request=rr, password=WRONG
            )
    # and then with the right one
    with pytest.raises(lockout.AccountLockedError) as info:
        services.release_request_approve(
            actor=risk_officer, request=rr, password=PASSWORD
        )
    # then the right password is refused as locked
    assert str(info.value) == f"{lockout.LOCKED_MESSAGE} The signature was not applied."
    # and nothing changed: no signature, the request as it was, and no event but
    # the alert on the account's fifth refusal
    assert _request_row(rr) == before
    assert Signature.objects.count() == signatures
    assert _alerts_since(events) == [("account", "rita", 5)]
    # and the record holds five wrong passwords, the lock and the refusal, each once
    approve = "governance.request.approve"
    assert _refusals_since(last) == [
        *[(RefusalKind.SIGNATURE_PASSWORD, approve, "rita", None, wrong)] * 5,
        _locked("rita", None, action=lockout.SIGNATURE),
        (
            RefusalKind.LOCKED_OUT,
            approve,
            "rita",
            None,
            f"{lockout.LOCKED_MESSAGE} The signature was not applied.",
        ),
    ]
    assert set(
        RefusedAction.objects.filter(id__gt=last).values_list("actor_id", flat=True)
    ) == {risk_officer.pk}
    # and rita and the administrator were told
    assert sorted(m.to[0] for m in mail.outbox) == [
        "adam@example.com",
        "rita@example.com",
    ]
    # and rita cannot sign in either, even with the right password
    response = _sign_in(client, "rita", PASSWORD, ELSEWHERE)
    assert _alert(response) == lockout.LOCKED_MESSAGE
    assert not _signed_in(client)


def test_failed_sign_ins_and_wrong_signature_passwords_add_up(
    client: Any,
    developer: Any,
    validator: Any,
    risk_officer: Any,
    submitted_version: Any,
) -> None:
    # given a validated request, and four wrong sign-ins for rita
    rr = _validated_tier_2(submitted_version, developer, validator)
    for _ in range(4):
        _sign_in(client, "rita", WRONG, ATTACKER)
    # when she then gives one wrong signature password
    with pytest.raises(services.SignaturePasswordError):
        services.release_request_approve(actor=risk_officer, request=rr, password=WRONG)
    # then she is locked: the right password neither signs nor signs in
    with pytest.raises(lockout.AccountLockedError):
        services.release_request_approve(
            actor=risk_officer, request=rr, password=PASSWORD
        )
    assert _alert(_sign_in(client, "rita", PASSWORD, ELSEWHERE)) == (
        lockout.LOCKED_MESSAGE
    )
    assert not rr.signatures.filter(signer=risk_officer).exists()


def test_a_locked_signer_is_refused_on_the_signature_page(
    client: Any,
    developer: Any,
    validator: Any,
    risk_officer: Any,
    submitted_version: Any,
) -> None:
    # given rita signed in, then locked by five wrong passwords from elsewhere
    rr = _validated_tier_2(submitted_version, developer, validator)
    client.force_login(risk_officer)
    for _ in range(5):
        _sign_in(APIClient(), "rita", WRONG, ATTACKER)
    before = _request_row(rr)
    signatures = Signature.objects.count()
    events = AuditEvent.objects.count()
    # when she approves in the browser with the right password
    response = client.post(
        reverse("governance:request_approve", args=[rr.pk]),
        {"password": PASSWORD},
        REMOTE_ADDR=ELSEWHERE,
    )
    # then the page refuses it as locked and nothing changed
    assert response.status_code == 403
    assert lockout.LOCKED_MESSAGE in response.content.decode()
    assert _request_row(rr) == before
    assert Signature.objects.count() == signatures
    assert AuditEvent.objects.count() == events
    refusal = RefusedAction.objects.order_by("-id").first()
    assert refusal is not None
    assert (refusal.kind, refusal.action, refusal.ip_address, refusal.method) == (
        RefusalKind.LOCKED_OUT,
        "governance.request.approve",
        ELSEWHERE,
        "POST",
    )


# -- unlock ----------------------------------------------------------------------


def _lock_dana(client: Any) -> None:
    for _ in range(5):
        _sign_in(client, "dana", WRONG, ATTACKER)
    assert lockout.is_locked(
        username="dana", attempt=lockout.Attempt(ip_address=ELSEWHERE)
    )


def test_an_administrator_unlocks_an_account_and_the_right_password_works_again(
    client: Any, developer: Any, administrator: Any
) -> None:
    # given dana locked out
    _lock_dana(client)
    # when the administrator unlocks her account
    cleared = lockout.account_unlock(actor=administrator, username="dana")
    # then her five failures are cleared, and the unlock is an audit event
    assert cleared == 5
    event = AuditEvent.objects.get(event_type="governance.account.unlocked")
    assert (event.actor_id, event.object_id, event.payload) == (
        administrator.pk,
        str(developer.pk),
        {"username": "dana", "ip_address": "", "failures_cleared": 5},
    )
    # and the right password signs her in again
    assert _sign_in(client, "dana", PASSWORD, ELSEWHERE).status_code == 302
    assert _signed_in(client)


def test_only_an_administrator_may_unlock(
    client: Any, developer: Any, risk_officer: Any
) -> None:
    # given dana locked out
    _lock_dana(client)
    events = AuditEvent.objects.count()
    attempts = list(AccessAttempt.objects.values())
    last = _last_refusal_id()
    # when a risk officer tries to unlock her
    with pytest.raises(PermissionDenied) as info:
        lockout.account_unlock(actor=risk_officer, username="dana")
    # then it is refused and recorded, and nothing changed
    assert str(info.value) == "Only an administrator may unlock accounts."
    assert list(AccessAttempt.objects.values()) == attempts
    assert AuditEvent.objects.count() == events
    assert [
        (r.kind, r.action, r.actor_id, r.reason)
        for r in RefusedAction.objects.filter(id__gt=last)
    ] == [
        (
            RefusalKind.PERMISSION,
            lockout.UNLOCK,
            risk_officer.pk,
            "Only an administrator may unlock accounts.",
        )
    ]


def test_an_administrator_unlocks_in_the_admin(
    client: Any, developer: Any, administrator: Any
) -> None:
    # given dana locked out, and the administrator signed in to the admin
    _lock_dana(client)
    attempt = AccessAttempt.objects.get(username="dana")
    administrator.is_staff = True  # as account_create makes administrators
    administrator.save(update_fields=["is_staff"])
    admin = APIClient()
    admin.force_login(administrator)
    # when they list the attempts and unlock dana's account
    listing = admin.get(reverse("admin:axes_accessattempt_changelist"))
    response = admin.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "unlock_accounts", "_selected_action": [attempt.pk]},
    )
    # then the list showed her, and she is unlocked by an audited unlock
    assert listing.status_code == 200
    assert "dana" in listing.content.decode()
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert (
        AuditEvent.objects.filter(
            event_type="governance.account.unlocked", actor=administrator
        ).count()
        == 1
    )
    assert _sign_in(client, "dana", PASSWORD, ATTACKER).status_code == 302


def test_the_attempts_admin_is_for_administrators_only(
    client: Any, risk_officer: Any
) -> None:
    # given a risk officer with admin access to nothing of this
    risk_officer.is_staff = True
    risk_officer.save(update_fields=["is_staff"])
    client.force_login(risk_officer)
    # when they open the attempts
    response = client.get(reverse("admin:axes_accessattempt_changelist"))
    # then they are refused
    assert response.status_code == 403


def test_unlock_account_command_unlocks_an_address(
    client: Any, developer: Any, auditor: Any
) -> None:
    # given an address locked by guesses at five names
    for name in ["g1", "g2", "g3", "g4", "g5"]:
        _sign_in(client, name, WRONG, ATTACKER)
    assert _alert(_sign_in(client, "audrey", PASSWORD, ATTACKER)) == (
        lockout.LOCKED_MESSAGE
    )
    # when the operator unlocks the address
    call_command("unlock_account", ip_address=ATTACKER)
    # then the unlock is an audit event by the system, and audrey gets in
    event = AuditEvent.objects.get(event_type="governance.account.unlocked")
    assert (event.actor_id, event.actor_display, event.payload) == (
        None,
        "system",
        {"username": "", "ip_address": ATTACKER, "failures_cleared": 5},
    )
    assert _sign_in(client, "audrey", PASSWORD, ATTACKER).status_code == 302


# -- throttles -------------------------------------------------------------------


def _rates(settings: Any, **rates: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "token": "1000/s",
            "ingest": "1000/s",
            "user": "1000/s",
            "anon": "1000/s",
            **rates,
        },
    }
    cache.clear()


def _model_body(slug: str) -> dict[str, str]:
    return {"name": slug.title(), "slug": slug, "purpose": "Throttle test."}


def test_a_token_is_throttled_per_token_with_429_and_retry_after(
    settings: Any, developer: Any
) -> None:
    # given a token rate of two calls a minute, and two tokens of dana
    _rates(settings, token="2/m")
    first, second = client_for(developer), client_for(developer)
    # when the first token registers two models, then a third
    assert (
        first.post("/api/v1/models", _model_body("m-one"), format="json").status_code
        == 201
    )
    assert (
        first.post("/api/v1/models", _model_body("m-two"), format="json").status_code
        == 201
    )
    models = Model.objects.count()
    events = AuditEvent.objects.count()
    throttled = first.post("/api/v1/models", _model_body("m-three"), format="json")
    # then the third is refused with 429, Retry-After and the one error shape
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60
    body = throttled.json()
    assert (body["code"], body["errors"]) == ("throttled", {})
    assert body["detail"].startswith("Request was throttled.")
    # and nothing was written
    assert Model.objects.count() == models
    assert AuditEvent.objects.count() == events
    # and dana's other token is not throttled
    assert (
        second.post("/api/v1/models", _model_body("m-four"), format="json").status_code
        == 201
    )


def test_a_session_is_throttled_per_user(settings: Any, developer: Any) -> None:
    # given a session rate of one call a minute
    _rates(settings, user="1/m")
    client = APIClient()
    client.force_login(developer)
    # when dana calls twice in her browser session
    assert client.get("/api/v1/me").status_code == 200
    throttled = client.get("/api/v1/me")
    # then the second is throttled, and a token of hers is not
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"
    assert client_for(developer).get("/api/v1/me").status_code == 200


def test_ingest_endpoints_have_their_own_rate(settings: Any) -> None:
    # given a token rate of one a minute and an ingest rate of a thousand a second
    from audits.api.ingest_views import PredictionIngestApi
    from governance.api.throttling import TokenRateThrottle

    _rates(settings, token="1/m", ingest="1000/s")
    throttle = TokenRateThrottle()
    # when the throttle picks the scope for the ingest view and another
    # then the ingest view has its own
    assert throttle.scope_for(PredictionIngestApi()) == "ingest"
    assert throttle.scope_for(object()) == "token"


# -- the cache the throttles count in ---------------------------------------------


def _settings_value(expression: str, **env: str) -> Any:
    from tests.governance.test_settings_deploy import PRODUCTION_ENV, _manage

    return _manage(
        [
            "shell",
            "-v",
            "0",
            "-c",
            f"from django.conf import settings; print({expression})",
        ],
        {**PRODUCTION_ENV, **env},
    )


def test_the_cache_comes_from_modelgov_cache_url() -> None:
    # given MODELGOV_CACHE_URL unset, then a Redis URL, then something else
    # when the settings load
    default = _settings_value("settings.CACHES['default']['BACKEND']")
    redis = _settings_value(
        "settings.CACHES['default']",
        MODELGOV_CACHE_URL="redis://127.0.0.1:6379/3",
    )
    wrong = _settings_value(
        "settings.CACHES", MODELGOV_CACHE_URL="memcached://127.0.0.1:11211"
    )
    # then local memory by default, Redis when named, and a refusal otherwise
    assert default.stdout.strip() == "django.core.cache.backends.locmem.LocMemCache"
    assert redis.stdout.strip() == str(
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/3",
        }
    )
    assert wrong.returncode == 1
    assert (
        "MODELGOV_CACHE_URL must be redis://, rediss:// or locmem://, not "
        "'memcached://127.0.0.1:11211'"
    ) in wrong.stderr


def test_lockout_settings_come_from_the_environment() -> None:
    # given a limit of 3 and a cool-off of 30 minutes
    # when the settings load
    result = _settings_value(
        "settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME",
        MODELGOV_LOCKOUT_FAILURES="3",
        MODELGOV_LOCKOUT_COOLOFF_MINUTES="30",
    )
    # then axes gets them
    assert result.stdout.strip() == "3 0:30:00"


def test_throttle_rates_come_from_the_environment_and_a_bad_one_refuses_to_start() -> (
    None
):
    # given a token rate of 5 a minute, then a rate DRF cannot read
    # when the settings load
    good = _settings_value(
        "settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['token']",
        MODELGOV_THROTTLE_TOKEN="5/m",
    )
    bad = _settings_value("settings.REST_FRAMEWORK", MODELGOV_THROTTLE_INGEST="fast")
    # then the rate is taken, and the bad one stops the start naming the variable
    assert good.stdout.strip() == "5/m"
    assert bad.returncode == 1
    assert (
        "MODELGOV_THROTTLE_INGEST must be a rate like 20/s, 600/m, 1000/h or "
        "10000/d, not 'fast'"
    ) in bad.stderr
