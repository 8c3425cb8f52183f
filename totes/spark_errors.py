"""Readable messages from Spark failures: the Java cause that says what went wrong, not the Py4J wrapper.

A failed Spark action surfaces in Python as ``Py4JJavaError: An error occurred while calling o123.parquet``;
what happened (which file is corrupt, which path is missing) is in a cause further down the Java chain.
"""

from __future__ import annotations

import re


def java_messages(error: BaseException) -> list[str]:
    """The Java exception chain of ``error``, outermost first; its own text when it is not a Java error."""
    messages = []
    java_exception = getattr(error, "java_exception", None)
    while java_exception is not None:
        messages.append(str(java_exception.toString()))
        java_exception = java_exception.getCause()
    return messages or [" ".join(str(error).split())]


# A path ending in a parquet file name; class names such as org.apache.parquet.format... must not count.
_PARQUET_PATH = re.compile(r"/[^\s/]+\.parquet\b")


def names_a_file(message: str) -> bool:
    return bool(_PARQUET_PATH.search(message)) or "Path does not exist" in message


def file_failure(error: BaseException) -> str:
    """The most specific message of a failed read or write: the deepest cause that names a file, else the
    root cause."""
    messages = java_messages(error)
    message = ([m for m in messages if names_a_file(m)] or messages)[-1]
    # "java.lang.RuntimeException: file:/... is not a Parquet file" reads better without the class name.
    head, _, rest = message.partition(": ")
    return rest if rest and "." in head and " " not in head else message


def is_java_error(error: BaseException) -> bool:
    return getattr(error, "java_exception", None) is not None
