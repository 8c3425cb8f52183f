"""The star-schema warehouse: its migrations, the check that it matches :mod:`totes.star`, and the loader.

- :mod:`totes.warehouse.migrations` applies the versioned DDL of ``sql/warehouse/`` (``python -m
  totes.warehouse migrate``, ``make warehouse``);
- :mod:`totes.warehouse.schema` checks the migrated tables against ``totes/star.py`` (the load job runs it
  first);
- :mod:`totes.warehouse.batch` turns committed transform manifests into one batch and reads its files;
- :mod:`totes.warehouse.loader` stages a batch with COPY and merges it in one transaction;
- :mod:`totes.warehouse.run` is one run of the load job (``glue_jobs/load_warehouse.py``).
"""
