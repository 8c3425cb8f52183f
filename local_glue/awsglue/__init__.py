"""Local emulation of the ``awsglue`` subset the totesys jobs use (see local_glue/README.md).

Importing it prepares the Spark settings the Glue runtime would give a job (JDBC driver, UTC), so that a job
script's own ``SparkContext.getOrCreate()`` starts a correctly configured local Spark.
"""

from totes.local.spark import configure_spark_submit

configure_spark_submit()
