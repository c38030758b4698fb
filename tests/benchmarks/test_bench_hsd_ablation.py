"""The HSD ablation script's argument check (its training is benchmarked, not tested)."""

import pytest

import hsd_ablation


def test_hsd_unknown_row_is_refused_with_the_valid_labels(capsys):
    with pytest.raises(SystemExit):
        hsd_ablation.main(["--rows", "student", "studnet + LD"])
    err = capsys.readouterr().err
    assert "unknown rows ['studnet + LD']" in err and "'student + LD'" in err
