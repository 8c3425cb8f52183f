"""The totesys source database locally: schema, seeded data generator and change simulator.

Local tooling only; not part of what the Glue jobs need.
"""
