"""The test servers clean up after themselves: a work directory they made goes with them, one given stays."""

from pathlib import Path

from logvec.testing.servers import start_kafka


def test_a_server_removes_the_work_directory_it_made_and_keeps_one_it_was_given(tmp_path):
    server = start_kafka("noida")
    made = Path(server.workdir)
    assert (made / "noida-data").is_dir() and (made / "noida.log").exists()
    server.stop()
    assert not made.exists()

    given = start_kafka("noida", str(tmp_path))
    given.stop()
    assert (tmp_path / "noida.log").exists()
