"""Files replaced whole: the old one stays if writing the new one fails."""

import pytest

from logvec.atomic import replaced


def test_replaced_swaps_in_the_new_file_and_keeps_the_old_one_on_failure(tmp_path):
    target = tmp_path / "meta.json"
    with replaced(target) as tmp:
        tmp.write_text("one")
    assert target.read_text() == "one"
    with pytest.raises(RuntimeError):
        with replaced(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "one"
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]  # no temporary left behind
