"""Code shared by the totesys Glue jobs: table definitions, settings, secrets, zones, bookmarks, logging.

Shipped to AWS Glue as a zip through ``--extra-py-files``; locally it is on ``PYTHONPATH``.
"""
