"""Every reference in terraform/ resolves, and everything declared is used: what `terraform validate` would
catch first, checked on the parsed HCL since no provider can be downloaded here."""

from __future__ import annotations

from tests.terraform.tfconfig import code_of, references, values_of


def _all_references(tf) -> dict[str, set[str]]:
    """Reference -> files it appears in, over every block of every file (provider and terraform included)."""
    found: dict[str, set[str]] = {}
    for name, parsed in tf.files.items():
        for value in values_of(parsed):
            for reference in references(value):
                found.setdefault(reference, set()).add(name)
    return found


def _declared(tf) -> set[str]:
    declared = {block.address for block in tf.blocks if block.kind != "output"}
    declared |= {f"local.{name}" for name in tf.locals}
    return declared


def test_every_file_parses_and_declares_something(tf):
    assert tf.files, "no .tf file in terraform/"
    for name, parsed in tf.files.items():
        assert parsed, f"terraform/{name} declares nothing"


def test_every_reference_resolves(tf):
    unresolved = {
        ref: sorted(files) for ref, files in _all_references(tf).items() if ref not in _declared(tf)
    }
    assert not unresolved, f"references to nothing declared: {unresolved}"


def test_every_variable_local_and_data_source_is_used(tf):
    used = set(_all_references(tf))
    unused = sorted(
        address
        for address in _declared(tf)
        if address.startswith(("var.", "local.", "data.")) and address not in used
    )
    assert not unused, f"declared but never used: {unused}"


def test_no_address_is_declared_twice(tf):
    addresses = [block.address for block in tf.blocks]
    duplicates = sorted({address for address in addresses if addresses.count(address) > 1})
    assert not duplicates, f"declared more than once: {duplicates}"


def test_reference_scanner_ignores_words_inside_strings():
    assert references('"${aws_s3_bucket.this["x"].arn}/* mentions aws_glue_job.other and var.nothing"') == {
        "aws_s3_bucket.this"
    }
    assert references('${merge(var.tags, {Name = "local.fake ${local.name_prefix}"})}') == {
        "var.tags",
        "local.name_prefix",
    }
    assert "data.aws_region.current" not in code_of('"data.aws_region.current"')
