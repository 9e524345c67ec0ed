"""Evidence integrity: every governance record that modelgov shows as evidence is
committed to the ledger when it is written, and checked against its leaf when it is
read (issue 13, ADR 0027).

* :mod:`audits.integrity.inventory` is the one list of evidence record classes;
* :mod:`audits.integrity.canonical` makes a row's committed fields (pure);
* :mod:`audits.integrity.commit` appends a row's record leaf (services call it);
* :mod:`audits.integrity.verify` gives the mark a page shows for a row;
* :mod:`audits.integrity.fsck` checks every evidence row against the ledger.
"""
