"""The reference dataset: download by pinned URL with sha256 (against loopback), the offline
message, and loading the local copy through `path:`."""

import functools
import hashlib
import http.server
import threading
import time

import polars as pl
import pytest
import yaml

from conftest import ROOT, snakemake
from resid_atlas.core.errors import AtlasError
from resid_atlas.corpus.download import (
    BASE_URL,
    COMMIT,
    SENTENCES,
    SHA256,
    SPLIT,
    dataset_files,
    fetch,
)
from resid_atlas.corpus.ingest import build_corpus

REFERENCE = ROOT.parent / "shared" / "data" / "levinson-2024"
needs_reference = pytest.mark.skipif(
    not REFERENCE.exists(), reason="the reference dataset is not beside the repo"
)


@pytest.fixture
def file_server(tmp_path):
    """Serves tmp_path/www over HTTP on 127.0.0.1 for the duration of a test."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_pinned_url_and_default_paths():
    assert COMMIT in BASE_URL and BASE_URL.startswith("https://raw.githubusercontent.com/")
    path, split = dataset_files({"source": "levinson-2024"})
    assert path.endswith(f"resources/downloads/levinson-2024/{SENTENCES}")
    assert split.endswith(SPLIT)
    assert dataset_files({"source": "levinson-2024", "path": "x.json"}) == ("x.json", None)


def test_unreachable_host_fails_fast_with_the_local_path_hint(tmp_path):
    start = time.monotonic()
    with pytest.raises(AtlasError) as info:
        fetch(SENTENCES, tmp_path / SENTENCES, base_url=closed_port(), datasets=["ref"])
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "could not download" in message and "datasets.ref" in message
    assert "path:" in message and "split_file:" in message
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_checksum_is_verified(tmp_path, file_server):
    www, url = file_server
    (www / SENTENCES).write_text('{"tampered": {}}')
    with pytest.raises(AtlasError, match="does not match the pinned"):
        fetch(SENTENCES, tmp_path / "out.json", base_url=url)
    assert not (tmp_path / "out.json").exists()


@needs_reference
def test_download_from_a_mirror_verifies_and_lands(tmp_path, file_server):
    www, url = file_server
    for name in (SENTENCES, SPLIT):
        (www / name).write_bytes((REFERENCE / name).read_bytes())
        digest = fetch(name, tmp_path / name, base_url=url)
        assert digest == SHA256[name]
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == SHA256[name]


@needs_reference
def test_reference_loads_through_path_offline():
    spec = {
        "source": "levinson-2024",
        "path": str(REFERENCE / SENTENCES),
        "split_file": str(REFERENCE / SPLIT),
        "min_per_pair": 150,
        "allow_checks": ["duplicate", "lower_case", "upper_case"],
    }
    df = build_corpus(spec, "levinson-2024")
    assert df.height == 23_993 and df["pair"].n_unique() == 120
    assert (df["split"] == "test").sum() == 4_800
    # without the allow-list the default (stop) refuses it, naming the rules and the file
    with pytest.raises(AtlasError, match=r"508 violation.*duplicate 488") as info:
        build_corpus({**spec, "allow_checks": []}, "levinson-2024")
    assert SENTENCES in str(info.value)
    # drop: a cleaned variant; the published split excuses the test sentences it drops
    clean = build_corpus({**spec, "allow_checks": [], "on_violation": "drop"}, "levinson-2024")
    assert clean.height == 23_993 - 508 and clean["pair"].n_unique() == 120
    assert clean["text"].n_unique() == clean.height


@pytest.mark.workflow
def test_download_rule_offline_message_and_config_entry(workdir):
    """The shipped config's levinson-2024 entry (no path:) needs the download rule; here (no
    internet) it must fail fast, saying how to point path: at a local copy."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    assert config["datasets"]["levinson-2024"]["allow_checks"] == [
        "duplicate",
        "lower_case",
        "upper_case",
    ]
    target = "resources/downloads/levinson-2024/sentences_20241018_00.json"
    (workdir / "resources").unlink()  # a private resources/ so nothing lands in the repository
    (workdir / "resources").mkdir()
    start = time.monotonic()
    proc = snakemake("--cores", "1", target, cwd=workdir, check=False, timeout=300)
    log = workdir / "results/logs/corpus/download.log"
    if proc.returncode == 0:  # a machine with internet: the pinned file arrived and verified
        assert hashlib.sha256((workdir / target).read_bytes()).hexdigest() == SHA256[SENTENCES]
        return
    message = log.read_text() if log.exists() else proc.stdout + proc.stderr
    assert "could not download" in message and "datasets.levinson-2024" in message
    assert "path:" in message and time.monotonic() - start < 120
    assert not (workdir / target).exists()


@needs_reference
@pytest.mark.workflow
def test_reference_through_the_workflow_with_a_local_path(workdir):
    """A local path: means no download rule; validate + ingest give 23,993 rows, 120 pairs."""
    config = workdir / "ref.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "datasets": {
                    "levinson-2024": {
                        "source": "levinson-2024",
                        "path": str(REFERENCE / SENTENCES),
                        "split_file": str(REFERENCE / SPLIT),
                    }
                }
            }
        )
    )
    target = "results/corpus/levinson-2024/corpus.parquet"
    proc = snakemake("--cores", "2", target, "--configfile", str(config), cwd=workdir)
    assert "corpus_download" not in proc.stdout + proc.stderr
    df = pl.read_parquet(workdir / target)
    assert df.height == 23_993 and df["pair"].n_unique() == 120
    v = pl.read_parquet(workdir / "results/corpus/levinson-2024/violations.parquet")
    assert set(v["action"]) == {"allowed"} and v.height == 508
