"""Regenerate a sentence corpus with the Anthropic Messages API (as the studies did with Claude).

Opt-in (rule `corpus_regenerate`, never a default target). For every subject x attribute pair of
the config it asks for sentences until `per_pair` pass the validator's checks for that attribute
(empty, duplicate across the whole corpus, attribute rules), then writes the CSV
`id, subject, attribute, text` and validates it as a whole before it lands.

Resumable: each finished pair is saved at once (atomically) to `<output>.parts/<pair>.json`; a
rerun keeps every saved pair made with the same model and at least `per_pair` sentences, and asks
only for the rest. Requests retry with exponential back-off (honouring `retry-after`) on 429,
529, other 5xx and network errors; other HTTP errors stop with the API's own message.
Plain urllib: no SDK needed; `base_url` points tests at a loopback server.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import polars as pl

from resid_atlas.core.atomic import atomic_path
from resid_atlas.core.errors import AtlasError
from resid_atlas.corpus.validate import (
    apply_violations,
    check_text,
    checks_for,
    find_violations,
    normalise,
    settings_with_defaults,
)

log = logging.getLogger(__name__)

RETRY_STATUS = {429, 529}
SYSTEM = (
    "You write natural, varied sentences for a research dataset on how language models represent "
    "topics and styles. Answer with the requested JSON only."
)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def prompt(subject: str, attribute: str, n: int, settings: dict, avoid: list[str]) -> str:
    lines = [
        f"Write {n} different sentences {subject} {attribute}.",
        f"Each item is one sentence of about {settings['min_words']} to {settings['max_words']} "
        f"words, clearly {subject} and clearly {attribute}.",
        "Vary the length, the structure and the vocabulary; no numbering, no repeats.",
    ]
    if avoid:
        lines.append("Do not repeat any of these earlier sentences:")
        lines += [f"- {s}" for s in avoid[-20:]]
    lines.append(f"Answer with a JSON array of {n} strings and nothing else.")
    return "\n".join(lines)


def parse_sentences(text: str) -> list[str]:
    """A JSON array of strings in the answer; else one sentence per non-empty line."""
    start, end = text.find("["), text.rfind("]")
    if 0 <= start < end:
        try:
            items = json.loads(text[start : end + 1])
            if isinstance(items, list):
                return [s.strip() for s in items if isinstance(s, str) and s.strip()]
        except json.JSONDecodeError:
            pass
    out = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip().strip('",').strip()
        if line and line not in "[]":
            out.append(line)
    return out


class MessagesClient:
    """POST /v1/messages with retries; returns the text of the answer."""

    def __init__(self, settings: dict, api_key: str, sleep=time.sleep):
        self.settings = settings
        self.api_key = api_key
        self.sleep = sleep
        self.requests = 0
        self.retries = 0

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        cap = self.settings["max_backoff_s"]
        if retry_after:
            try:
                return min(cap, max(0.0, float(retry_after)))
            except ValueError:
                pass
        return min(cap, self.settings["backoff_s"] * 2**attempt)

    def create(self, user: str) -> str:
        s = self.settings
        body = json.dumps(
            {
                "model": s["model"],
                "max_tokens": s["max_tokens"],
                "temperature": s["temperature"],
                "system": SYSTEM,
                "messages": [{"role": "user", "content": user}],
            }
        ).encode()
        url = s["base_url"].rstrip("/") + "/v1/messages"
        headers = {
            "content-type": "application/json",
            "x-api-key": self.api_key,
            "anthropic-version": s["anthropic_version"],
        }
        for attempt in range(s["max_retries"] + 1):
            self.requests += 1
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=s["timeout_s"]) as response:
                    answer = json.loads(response.read())
                return "".join(
                    block.get("text", "")
                    for block in answer.get("content", [])
                    if block.get("type") == "text"
                )
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode("utf-8", "replace")[:300]
                retry = exc.code in RETRY_STATUS or exc.code >= 500
                if not retry:
                    raise AtlasError(
                        f"{url}: HTTP {exc.code} from the Messages API: {detail}. Check "
                        f"corpus.regeneration.model and the key in ${s['api_key_env']}."
                    ) from None
                reason, retry_after = f"HTTP {exc.code}", exc.headers.get("retry-after")
            except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
                reason, retry_after = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}", None
            except json.JSONDecodeError as exc:
                raise AtlasError(f"{url}: the answer is not JSON ({exc}).") from None
            if attempt == s["max_retries"]:
                raise AtlasError(
                    f"{url}: still failing after {s['max_retries']} retries ({reason}); "
                    "rerun later: finished pairs are kept."
                )
            delay = self._delay(attempt, retry_after)
            self.retries += 1
            log.warning("%s; retry %d in %.2f s", reason, attempt + 1, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")


def part_path(out: Path, subject: str, attribute: str) -> Path:
    return Path(f"{out}.parts") / f"{slug(subject)}__{slug(attribute)}.json"


def load_part(path: Path, settings: dict) -> list[str] | None:
    try:
        part = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if (
        part.get("model") != settings["model"]
        or len(part.get("sentences", [])) < settings["per_pair"]
    ):
        return None
    return part["sentences"][: settings["per_pair"]]


def generate_pair(
    client: MessagesClient,
    subject: str,
    attribute: str,
    settings: dict,
    validation: dict,
    seen: set[str],
) -> list[str]:
    rules = checks_for(attribute, validation)
    kept: list[str] = []
    rejected = 0
    for _ in range(settings["max_requests_per_pair"]):
        need = settings["per_pair"] - len(kept)
        if need <= 0:
            break
        n = min(settings["per_request"], need)
        answer = client.create(prompt(subject, attribute, n, settings, kept))
        for sentence in parse_sentences(answer):
            key = normalise(sentence)
            if not key or key in seen or any(check_text(key, r, validation) for r in rules):
                rejected += 1
                continue
            seen.add(key)
            kept.append(key)
            if len(kept) == settings["per_pair"]:
                break
    if len(kept) < settings["per_pair"]:
        raise AtlasError(
            f"{subject} / {attribute}: only {len(kept)} of {settings['per_pair']} usable "
            f"sentences after {settings['max_requests_per_pair']} requests ({rejected} rejected "
            "by the validator's checks); raise max_requests_per_pair or check the model."
        )
    if rejected:
        log.info("%s / %s: %d candidate(s) rejected by the checks", subject, attribute, rejected)
    return kept


def regenerate(
    settings: dict, validation: dict | None, out: str | Path, api_key: str | None = None, sleep=None
) -> pl.DataFrame:
    out = Path(out)
    validation = settings_with_defaults(validation)
    api_key = api_key or os.environ.get(settings["api_key_env"])
    pairs = [(s, a) for s in settings["subjects"] for a in settings["attributes"]]
    sentences: dict[tuple[str, str], list[str]] = {}
    seen: set[str] = set()
    for pair in pairs:
        part = load_part(part_path(out, *pair), settings)
        if part is not None and not any(normalise(t) in seen for t in part):
            sentences[pair] = part
            seen.update(normalise(t) for t in part)
    if sentences:
        log.info("resuming: %d of %d pairs already written", len(sentences), len(pairs))
    todo = [p for p in pairs if p not in sentences]
    if todo and not api_key:
        raise AtlasError(
            f"regeneration needs an Anthropic API key in ${settings['api_key_env']} "
            f"({len(todo)} pair(s) to write); export it, or change corpus.regeneration.api_key_env."
        )
    client = MessagesClient(settings, api_key or "", **({"sleep": sleep} if sleep else {}))
    for i, (subject, attribute) in enumerate(todo, 1):
        got = generate_pair(client, subject, attribute, settings, validation, seen)
        part = {"subject": subject, "attribute": attribute, "model": settings["model"]}
        with atomic_path(part_path(out, subject, attribute)) as tmp:
            tmp.write_text(json.dumps({**part, "sentences": got}, ensure_ascii=False, indent=1))
        sentences[(subject, attribute)] = got
        log.info("pair %d/%d %s / %s: %d sentences", i, len(todo), subject, attribute, len(got))
    rows = [
        (f"{slug(s)}.{slug(a)}.{i:03d}", s, a, text)
        for s, a in pairs
        for i, text in enumerate(sentences[(s, a)])
    ]
    df = pl.DataFrame(rows, schema=["id", "subject", "attribute", "text"], orient="row")
    df = df.with_columns(
        pair=pl.concat_str("subject", pl.lit(":"), "attribute"),
        line=pl.int_range(2, df.height + 2, dtype=pl.Int64),
    )
    violations = find_violations(
        df, validation, min_per_pair=settings["per_pair"], dataset="regenerated", file=str(out)
    )
    apply_violations(df, violations, f"regenerated corpus {out}", validation["report_rows"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "subject", "attribute", "text"])
    writer.writerows(rows)
    with atomic_path(out) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
    log.info(
        "wrote %s: %d sentences, %d pairs; %d requests, %d retries",
        out,
        len(rows),
        len(pairs),
        client.requests,
        client.retries,
    )
    return df.select("id", "subject", "attribute", "text")
