"""Local emulation of the ``awsglue`` subset the totesys jobs use (see local_glue/README.md).

Importing it prepares the Spark settings the Glue runtime would give a job (JDBC driver, UTC), so that a job
script's own ``SparkContext.getOrCreate()`` starts a correctly configured local Spark. A caller that sets
``PYSPARK_SUBMIT_ARGS`` itself is the runtime: the deploy rehearsal gives the jobs Glue's settings that way, and
its job processes have only the packaged ``totes`` (without ``totes.local``) on their path.
"""

import os

if "PYSPARK_SUBMIT_ARGS" not in os.environ:
    from totes.local.spark import configure_spark_submit

    configure_spark_submit()
