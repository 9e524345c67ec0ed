"""The demonstration data set loaded by ``manage.py demo``.

- ``training``: real training runs on the shipped data (pure: no Django);
- ``content``: inventory entries, model cards and documents built from those runs
  (pure);
- ``loader``: puts it all in the database through the services, idempotently.
"""
