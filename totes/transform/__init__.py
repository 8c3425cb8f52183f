"""The transformation job's logic: staging, data-quality rules, dimensions, facts, and the run that wires them."""
