"""benchmarks/formats.py: a working format reports 'ok' with its output difference; a missing package says so."""

from __future__ import annotations


def test_torchscript_ok_and_missing_package(monkeypatch):
    import formats

    status = formats.check("hsd-n.yaml", "torchscript", 64)
    assert status.startswith("ok (max abs diff"), status
    assert float(status.split("diff ")[1].split(",")[0]) < 1e-4
    monkeypatch.setitem(formats.PACKAGES, "torchscript", "no_such_package_xyz")
    assert formats.check("hsd-n.yaml", "torchscript", 64).startswith("not installed")
