"""The ingestion job's logic: read windows, source schema checks, JDBC reads, zone writes."""
