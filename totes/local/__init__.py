"""The local runtime: runs the Glue job scripts on this machine (runner, CLI, Spark set-up). Never shipped to Glue."""
