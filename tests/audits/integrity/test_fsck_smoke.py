import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from audits.integrity import fsck


def test_clean_then_altered(approved: Any) -> None:
    report = fsck.check_governance()
    print(report.as_dict(), report.rows, report.rows_per_s)
    assert report.ok
    with connection.cursor() as c:
        c.execute("SET CONSTRAINTS ALL IMMEDIATE")
        c.execute("ALTER TABLE audits_auditevent DISABLE TRIGGER ALL")
        c.execute("UPDATE audits_auditevent SET actor_display='Mallory' WHERE id=(SELECT min(id) FROM audits_auditevent WHERE event_type='governance.request.approved')")
        c.execute("ALTER TABLE audits_auditevent ENABLE TRIGGER ALL")
    report = fsck.check_governance()
    print(report.as_dict())
    assert 0
