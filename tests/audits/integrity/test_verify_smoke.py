from typing import Any

from django.db import connection

from audits.integrity import verify
from governance.models import ReleaseRequest, Signature


def test_smoke(approved: Any) -> None:
    rr = approved
    sigs = list(Signature.objects.filter(request=rr))
    v = verify.verdicts([rr, *sigs])
    print({k: x.message for k, x in v.items()})
    assert all(x.verified for x in v.values())
    with connection.cursor() as c:
        c.execute("SET CONSTRAINTS ALL IMMEDIATE")
        c.execute("ALTER TABLE governance_signature DISABLE TRIGGER ALL")
        c.execute("UPDATE governance_signature SET printed_name='Mallory' WHERE id=%s", [sigs[0].pk])
        c.execute("ALTER TABLE governance_signature ENABLE TRIGGER ALL")
        c.execute("UPDATE governance_releaserequest SET approved_at=approved_at - interval '1 day' WHERE id=%s", [rr.pk])
    v = verify.verdicts([ReleaseRequest.objects.get(pk=rr.pk), *Signature.objects.filter(request=rr)])
    print({k: x.message for k, x in v.items()})
    assert 0

