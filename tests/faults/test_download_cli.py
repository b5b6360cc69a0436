"""Download faults end to end through `gan download URL` (the library-level faults: reset
mid-file, stall, 404, 500 then success, redirect loop, a Content-Length that lies, no Range,
are in tests/data/test_download.py). Promise: the user sees one paragraph and a non-zero exit
(or a retry that succeeds), and nothing half-downloaded is ever installed."""

from __future__ import annotations

from faults.faultkit import Served, assert_clean_error, http_server, make_tgz, png_bytes, sha256, temp_files

from gancli.data import registry


def archive() -> bytes:
    return make_tgz({f"imgs/{i}.png": png_bytes(i, 24) for i in range(4)})


def test_404_through_the_cli_names_the_address_and_the_offline_way(tmp_path, cli):
    root = tmp_path / "root"
    with http_server({}) as base:
        res = cli("download", f"{base}/gone.tgz", "--name", "gone", "--root", root, "--quiet")
    assert_clean_error(res, f"Could not download {base}/gone.tgz", "HTTP 404", "--from-file", code=2)
    assert registry.find_downloaded("gone", root) is None and not list(root.rglob("*.part"))


def test_reset_mid_file_through_the_cli_retries_and_resumes(tmp_path, cli):
    data = archive()
    served = Served(data, ["reset:5000"])
    root = tmp_path / "root"
    with http_server({"/a.tgz": served}) as base:
        res = cli(
            "download", f"{base}/a.tgz", "--name", "imgs", "--sha256", sha256(data), "--root", root, "--quiet"
        )
    assert res.code == 0, res.text
    assert "imgs: 4 images ready" in " ".join(res.text.split())
    assert served.ranges == [None, "bytes=5000-"]
    assert not temp_files(root) and not list(root.rglob("*.part"))


def test_a_web_page_instead_of_the_archive_installs_nothing(tmp_path, cli):
    """#12 item 15: the message names the address and the offline way, and the page is not left
    in downloads/ where a second run would take it for the finished archive."""
    root = tmp_path / "root"
    with http_server({"/a.tgz": Served(archive(), ["html"])}) as base:
        res = cli("download", f"{base}/a.tgz", "--name", "imgs", "--root", root, "--quiet")
        assert_clean_error(
            res, f"{base}/a.tgz sent a web page", "gan download --name imgs --from-file PATH", code=2
        )
        assert registry.find_downloaded("imgs", root) is None
        assert not (root / "datasets" / "imgs").exists() and not temp_files(root)
        assert not (root / "downloads" / "imgs").exists()  # no empty folder with a lock left behind
        again = cli("download", f"{base}/a.tgz", "--name", "imgs", "--root", root, "--quiet")
    assert again.code == 0, again.text  # the server now sends the archive: it is fetched, not the page reused
    assert registry.find_downloaded("imgs", root) is not None
