"""The totesys source database locally: schema, seeded data generator and change simulator. Never shipped to Glue."""
