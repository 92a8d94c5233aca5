"""The studies' reference dataset (Levinson 2024): pinned upstream files, their checksums, where
the download lands, and the download itself (urllib, sha256-verified, atomic).

A `source: levinson-2024` dataset without `path:` reads the downloaded copy (the download rule
fetches it); with `path:` it reads that local file and nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path

from resid_atlas.core.atomic import atomic_path
from resid_atlas.core.errors import AtlasError

log = logging.getLogger(__name__)

SOURCE = "levinson-2024"
COMMIT = "cd30fc5feb6c60afb72eb450a3ce84d7b28b2c29"
BASE_URL = f"https://raw.githubusercontent.com/good-epic/activation-tails/{COMMIT}/data_in"
SENTENCES = "sentences_20241018_00.json"
SPLIT = "seed_42_test_split.json"
SHA256 = {
    SENTENCES: "d7a76b5e37fdca37a5e66e1f8fa6774748e4fd6552027972d7a8c85dd2262436",
    SPLIT: "32fed62e0a1f29bf878c6de9720bc782fff846059c4957affad2ef2a6224f23c",
}
DOWNLOAD_DIR = Path("resources") / "downloads" / SOURCE
CHUNK = 1 << 16


def download_path(file: str) -> str:
    return str(DOWNLOAD_DIR / file)


def dataset_files(spec: dict) -> tuple[str | None, str | None]:
    """(sentence file, split file) a dataset entry reads. A levinson-2024 entry without `path`
    reads the downloaded copies, and its split defaults to the downloaded published split."""
    path, split = spec.get("path"), spec.get("split_file")
    if spec["source"] == SOURCE and path is None:
        path = download_path(SENTENCES)
        split = split or download_path(SPLIT)
    return path, split


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def offline_hint(datasets: list[str] | None = None) -> str:
    names = ", ".join(f"datasets.{d}" for d in datasets or []) or "datasets.<name>"
    return (
        f"To work offline, copy the files once from a machine with internet (or from the project's "
        f"shared data folder) and point the dataset at them: under {names} set "
        f"path: /local/copy/{SENTENCES} and split_file: /local/copy/{SPLIT}; "
        "then no download runs."
    )


def fetch(
    file: str,
    out: str | Path,
    base_url: str = BASE_URL,
    timeout: float = 20.0,
    datasets: list[str] | None = None,
) -> str:
    """Download `file` from `base_url` to `out`; verify its sha256; return the digest."""
    if file not in SHA256:
        raise AtlasError(f"{file}: not a file of the {SOURCE} dataset ({', '.join(SHA256)}).")
    url = f"{base_url.rstrip('/')}/{file}"
    start = time.monotonic()
    digest = hashlib.sha256()
    with atomic_path(out) as tmp:
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "resid-atlas"})
            with (
                urllib.request.urlopen(request, timeout=timeout) as response,
                open(tmp, "wb") as fh,
            ):
                while chunk := response.read(CHUNK):
                    digest.update(chunk)
                    fh.write(chunk)
        except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AtlasError(
                f"could not download {url} ({type(exc).__name__}: {reason}) after "
                f"{time.monotonic() - start:.1f} s; the internet may be unreachable from this "
                f"machine. {offline_hint(datasets)}"
            ) from None
        got = digest.hexdigest()
        if got != SHA256[file]:
            raise AtlasError(
                f"{url}: sha256 {got} does not match the pinned {SHA256[file]}; the download is "
                "corrupt or the upstream file changed. Nothing was written; retry, or use a "
                f"verified local copy. {offline_hint(datasets)}"
            )
    log.info("downloaded %s -> %s (sha256 verified) in %.1f s", url, out, time.monotonic() - start)
    return got


def download(out: list[str], datasets: list[str], base_url: str | None, timeout: float) -> None:
    """Step `corpus download`: each `out` file (named as an upstream file), sha256-checked."""
    for path in out:
        kwargs = {"base_url": base_url} if base_url else {}
        fetch(Path(path).name, path, timeout=timeout, datasets=datasets, **kwargs)
