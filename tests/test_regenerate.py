"""Regeneration against a loopback server that answers in the Messages API format: retries,
resume, the validator on its output, and the opt-in rule end to end. No real key, no internet."""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import polars as pl
import pytest
import yaml

from conftest import snakemake
from resid_atlas.core.errors import AtlasError
from resid_atlas.corpus.ingest import build_corpus
from resid_atlas.corpus.regenerate import parse_sentences, regenerate
from resid_atlas.corpus.validate import find_violations

FAKE_KEY = "sk-ant-test-not-a-real-key"
MAX_REQUESTS = 60  # the server refuses to answer more: a runaway client fails the test
TEMPLATES = {
    "in english": "The {w} story about {s} was told in plain words number {n}.",
    "in spanish": "La historia {w} sobre {s} fue contada con calma, número {n}.",
    "in japanese": "これは静かな話です、番号{n}。",
    "in all upper case": "THE {W} STORY ABOUT {S} WAS TOLD LOUDLY, NUMBER {n}.",
    "in all lower case": "the {w} story about {s} was told quietly, number {n}.",
}
WORDS = ["quiet", "bright", "odd", "long", "short", "kind", "bold", "calm", "warm", "cold"]


class FakeMessagesAPI(BaseHTTPRequestHandler):
    """POST /v1/messages: plays a script of statuses, then answers with JSON sentences (one bad
    one and one duplicate among them, which the client must reject)."""

    script: ClassVar[list[int]] = []
    requests: ClassVar[list[dict]] = []
    lock = threading.Lock()
    counter = 0

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        cls = type(self)
        with cls.lock:
            cls.requests.append(
                {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                }
            )
            status = cls.script.pop(0) if cls.script else 200
            if len(cls.requests) > MAX_REQUESTS:
                status = 400
        if status != 200:
            payload = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
            self.send_response(status)
            if status == 429:
                self.send_header("retry-after", "0")
        else:
            prompt = body["messages"][0]["content"]
            n, subject, attribute = re.match(
                r"Write (\d+) different sentences (about [a-z ]+?) (in [a-z ]+)\.", prompt
            ).groups()
            template = TEMPLATES[attribute]
            out = []
            for _ in range(int(n)):
                with cls.lock:
                    cls.counter += 1
                    k = cls.counter
                word = WORDS[k % len(WORDS)]
                out.append(
                    template.format(w=word, W=word.upper(), s=subject, S=subject.upper(), n=k)
                )
            out += [out[0], "   ", "Wrong case and wrong language, deliberately."]
            text = "Here they are:\n" + json.dumps(out, ensure_ascii=False)
            payload = {
                "id": "msg_test",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 10, "output_tokens": 10},
            }
            self.send_response(200)
        data = json.dumps(payload).encode()
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def api():
    FakeMessagesAPI.script = []
    FakeMessagesAPI.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeMessagesAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield FakeMessagesAPI, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def settings(base_url, **kw):
    return {
        "output": "unused",
        "model": "claude-test",
        "subjects": ["about music", "about vacation"],
        "attributes": ["in english", "in spanish", "in japanese", "in all upper case"],
        "per_pair": 6,
        "per_request": 4,
        "max_requests_per_pair": 4,
        "base_url": base_url,
        "api_key_env": "RESID_ATLAS_TEST_KEY",
        "anthropic_version": "2023-06-01",
        "max_tokens": 512,
        "temperature": 1.0,
        "timeout_s": 10,
        "max_retries": 3,
        "backoff_s": 0.01,
        "max_backoff_s": 0.05,
        "min_words": 5,
        "max_words": 40,
        **kw,
    }


def test_parse_sentences_json_or_lines():
    assert parse_sentences('Sure:\n["One.", "Two.", 3]') == ["One.", "Two."]
    assert parse_sentences("1. One here.\n- Two here.\n") == ["One here.", "Two here."]


def test_retries_then_writes_a_valid_corpus(api, tmp_path):
    server, url = api
    server.script = [429, 529, 500]
    out = tmp_path / "gen.csv"
    start = time.monotonic()
    df = regenerate(settings(url), None, out, api_key=FAKE_KEY)
    assert time.monotonic() - start < 30
    assert df.height == 2 * 4 * 6
    first = server.requests[0]
    assert first["path"] == "/v1/messages"
    assert first["headers"]["x-api-key"] == FAKE_KEY
    assert first["headers"]["anthropic-version"] == "2023-06-01"
    assert first["body"]["model"] == "claude-test"
    # 3 retried + 2 subjects x 4 attributes x 2 requests (4 + 2 sentences)
    assert len(server.requests) == 3 + 16
    corpus = build_corpus({"source": "csv", "path": str(out), "min_per_pair": 6}, "gen")
    assert corpus.height == 48 and corpus["pair"].n_unique() == 8


def test_resume_keeps_written_pairs(api, tmp_path):
    server, url = api
    out = tmp_path / "gen.csv"
    # the 9th request onwards fails for good: 4 pairs done (2 requests each), then give up
    server.script = [200] * 8 + [503] * 4
    with pytest.raises(AtlasError, match="still failing after 3 retries"):
        regenerate(settings(url), None, out, api_key=FAKE_KEY)
    assert not out.exists()
    parts = sorted((tmp_path / "gen.csv.parts").glob("*.json"))
    assert len(parts) == 4
    before = {p.name: p.read_text() for p in parts}
    server.requests.clear()
    df = regenerate(settings(url), None, out, api_key=FAKE_KEY)
    assert len(server.requests) == 8  # only the 4 missing pairs
    assert {p.name: p.read_text() for p in parts} == before
    assert (
        df.height == 48
        and find_violations(
            df.with_columns(
                pair=pl.concat_str("subject", pl.lit(":"), "attribute"), line=pl.lit(0)
            ),
            min_per_pair=6,
        ).is_empty()
    )


def test_no_key_and_client_errors_are_clear(api, tmp_path, monkeypatch):
    server, url = api
    monkeypatch.delenv("RESID_ATLAS_TEST_KEY", raising=False)
    with pytest.raises(AtlasError, match=r"needs an Anthropic API key in \$RESID_ATLAS_TEST_KEY"):
        regenerate(settings(url), None, tmp_path / "gen.csv")
    assert server.requests == []
    server.script = [401]
    with pytest.raises(AtlasError, match="HTTP 401"):
        regenerate(settings(url), None, tmp_path / "gen.csv", api_key=FAKE_KEY)
    assert len(server.requests) == 1  # no retry on a client error


@pytest.mark.workflow
def test_regenerate_rule_end_to_end(api, workdir, monkeypatch):
    server, url = api
    server.script = [429]
    config = workdir / "regen.yaml"
    regen = settings(url, output="resources/generated/regen.csv")
    regen["subjects"] = ["about music"]
    config.write_text(yaml.safe_dump({"corpus": {"regeneration": regen}}))
    (workdir / "resources").unlink()
    (workdir / "resources").mkdir()
    monkeypatch.setenv("RESID_ATLAS_TEST_KEY", FAKE_KEY)
    snakemake("--cores", "1", "corpus_regenerate", "--configfile", str(config), cwd=workdir)
    out = workdir / "resources/generated/regen.csv"
    corpus = build_corpus({"source": "csv", "path": str(out), "min_per_pair": 6}, "regen")
    assert corpus.height == 24 and len(server.requests) == 1 + 8
    log = (workdir / "results/logs/corpus/regenerate.log").read_text()
    assert "retry 1" in log and "wrote" in log
