"""Load and validate the pipeline config against its JSON-Schema, filling defaults.

The Snakefile and the command line both go through `validate_config`, so a wrong key, type or
model reference fails the same way everywhere: one message naming the key and the fix.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from resid_atlas.core.errors import AtlasError

REPO_ROOT = Path(__file__).resolve().parents[3]
SCHEMA_DIR = REPO_ROOT / "workflow" / "schemas"


def load_schema(name: str) -> dict:
    return yaml.safe_load((SCHEMA_DIR / name).read_text())


def _with_defaults(validator_class):
    """jsonschema's documented recipe: a validator that fills `default` values as it validates."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = _copy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _copy(value: Any) -> Any:
    return yaml.safe_load(yaml.safe_dump(value))


def _strict_integers(validator_class):
    """JSON Schema's `integer` accepts 42.0 (a float with no fraction); the jobs then get a float
    where range() or an index needs an int. Here `integer` means a YAML integer (not a bool)."""
    checker = validator_class.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    )
    return jsonschema.validators.extend(validator_class, type_checker=checker)


_Validator = _with_defaults(_strict_integers(jsonschema.Draft202012Validator))


def schema_defaults(*path: str) -> dict:
    """The schema's defaults of one config section (e.g. "distributions", or "corpus",
    "validation"): the only place defaults live, for code that runs without a full config."""
    schema = load_schema("config.schema.yaml")
    for key in path:
        schema = schema["properties"][key]
    instance: dict = {}
    _Validator(schema).validate(instance)
    return instance


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _explain(error: jsonschema.ValidationError, where: str) -> str:
    key = _key(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        hints = []
        for name in extra:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f"'{_key([*error.absolute_path, name])}' is not a known key"
            hints.append(hint + (f" (did you mean '{close[0]}'?)" if close else ""))
        return f"{where}: {'; '.join(hints)}. Allowed keys here: {', '.join(allowed)}."
    if error.validator == "enum":
        choices = ", ".join(map(str, error.validator_value))
        return f"{where}: key '{key}' is {error.instance!r}; choose one of: {choices}."
    if error.validator == "required":
        return f"{where}: {error.message} under '{key}'; add it (see config/README.md)."
    if error.validator == "type":
        whole = isinstance(error.instance, float) and error.instance.is_integer()
        fix = "fix the value"
        if whole:
            fix = f"write {int(error.instance)}, without the decimal point"
        return (
            f"{where}: key '{key}' must be of type {error.validator_value}, "
            f"got {error.instance!r}; {fix} (see config/README.md)."
        )
    if error.validator == "pattern":
        return (
            f"{where}: key '{key}' = {error.instance!r} does not match the expected form "
            f"{error.validator_value!r}; see config/README.md."
        )
    if error.validator in {"oneOf", "anyOf"} and error.context:
        best = jsonschema.exceptions.best_match(error.context)
        return _explain(best, where)
    forms = (
        [sub.get("required") for sub in error.validator_value] if error.validator == "oneOf" else []
    )
    if forms and all(f and len(f) == 1 for f in forms):
        # valid under several alternatives: e.g. a random-init entry with like and architecture
        keys = " or ".join(f[0] for f in forms)
        return f"{where}: '{key}' must have {keys}, not both; keep one (see config/README.md)."
    return f"{where}: key '{key}': {error.message}; see config/README.md."


def validate(instance: dict, schema_name: str, where: str) -> dict:
    """Validate `instance` in place (defaults filled) against a schema file; raise AtlasError."""
    validator = _Validator(load_schema(schema_name))
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        raise AtlasError(_explain(jsonschema.exceptions.best_match(errors), where))
    return instance


def validate_config(config: dict, where: str = "config") -> dict:
    """Schema validation plus the cross-references a schema cannot express."""
    if not isinstance(config, dict) or not config:
        raise AtlasError(f"{where}: the config is empty; start from config/config.yaml.")
    validate(config, "config.schema.yaml", where)
    models = config["models"]
    for name, spec in models.items():
        like = spec.get("like")
        if like is not None and like not in models:
            raise AtlasError(
                f"{where}: models.{name}.like names '{like}', which is not a model entry; "
                f"use one of: {', '.join(sorted(models))}."
            )
        if like is not None and "config" in spec:
            raise AtlasError(
                f"{where}: models.{name} has both like: and config:; a like: entry copies the "
                f"shape of '{like}' and would ignore config:. Drop config:, or replace like: by "
                "architecture: to build that shape."
            )
        if like is not None and models[like]["source"] == "random-init":
            raise AtlasError(
                f"{where}: models.{name}.like names '{like}', itself a random-init model; "
                "point 'like' at a trained (hf or gguf-package) entry."
            )
    for section, key, known in _references(config):
        for value in section.get(key, []):
            if value not in known:
                label = "corpus.summary_models" if key == "summary_models" else key
                raise AtlasError(
                    f"{where}: '{value}' in {label} is not defined; "
                    f"define it or use one of: {', '.join(sorted(known))}."
                )
    for kind in ("models", "datasets"):
        _check_distinct_names(config[kind], kind, where)
    for low, high, why in _ordered_keys(config):
        if not low[1] < high[1]:
            raise AtlasError(
                f"{where}: {low[0]} ({low[1]}) must be below {high[0]} ({high[1]}): {why}; "
                "fix one of them."
            )
    if not config["atlas"]["models"]:
        raise AtlasError(f"{where}: atlas.models is empty; list at least one model entry.")
    for check in (_datasets_named, _facts, _classifier, _regions):
        problem = check(config)
        if problem:
            raise AtlasError(f"{where}: {problem}")
    return config


def _datasets_named(config: dict) -> str | None:
    """Sections that name one dataset (`dataset:`) must name a dataset entry."""
    datasets = sorted(config["datasets"])
    for section in ("regions", "plateaus", "facts"):
        name = config[section]["dataset"]
        if section == "plateaus" and config[section].get("text_file"):
            continue
        if name not in config["datasets"]:
            extra = ", or set plateaus.text_file" if section == "plateaus" else ""
            return (
                f"{section}.dataset is '{name}', which is not a dataset entry; use one of: "
                f"{', '.join(datasets)}{extra}."
            )
    return None


def _facts(config: dict) -> str | None:
    facts = config["facts"]
    lo, hi = facts["powerlaw_ranks"]
    if not 0 <= lo < hi <= 1:
        return (
            f"facts.powerlaw_ranks is {facts['powerlaw_ranks']}; give two fractions "
            "0 <= lo < hi <= 1 of the spectrum's length, e.g. [0.01, 0.5]."
        )
    lo, hi = facts["tail_range"]
    if not 0 <= lo < hi <= facts["hist_range"]:
        return (
            f"facts.tail_range is {facts['tail_range']}; give 0 <= lo < hi <= "
            f"facts.hist_range ({facts['hist_range']}), in sd units, e.g. [2, 10]."
        )
    return None


def _classifier(config: dict) -> str | None:
    c = config["classifier"]
    if c["tail_rising"] > c["tail_window"]:
        return (
            f"classifier.tail_rising ({c['tail_rising']}) cannot exceed "
            f"classifier.tail_window ({c['tail_window']}); lower it."
        )
    main = c["findings"]["main_variant"]
    if main not in c["variants"]:
        return (
            f"classifier.findings.main_variant '{main}' is not in classifier.variants "
            f"{c['variants']}; add it there or pick one of them."
        )
    return None


def _regions(config: dict) -> str | None:
    r = config["regions"]
    steps, sharp = r["steps"], r["sharp_above"]
    if sharp >= steps - 1:
        return (
            f"regions.sharp_above = {sharp} cannot be exceeded by a monotone curve with "
            f"regions.steps = {steps} (sharpness is at most steps - 1 = {steps - 1}); lower "
            f"sharp_above or raise steps to at least {int(sharp) + 2}."
        )
    if r["smooth_below"] >= sharp:
        return (
            f"regions.smooth_below ({r['smooth_below']}) must be below regions.sharp_above "
            f"({sharp}); fix one of them."
        )
    return None


def _references(config: dict):
    """(section, key, known names) for every list in the config that names models or datasets."""
    models, datasets = set(config["models"]), set(config["datasets"])
    yield config["atlas"], "models", models
    yield config["corpus"], "summary_models", models
    yield config["atlas"], "datasets", datasets
    for section in config.values():
        if (
            isinstance(section, dict)
            and section is not config["atlas"]
            and isinstance(section.get("models"), list)
        ):
            yield section, "models", models


def validate_plan(config: dict, where: str = "config") -> None:
    """The checks that need the shape of each model the config runs (its layer count, its
    position table), made while planning so no job meets them: layers the config names that a
    model lacks, and prompts longer than a model's learned positions. Call after
    validate_config."""
    from resid_atlas.classifier.variants import parse_variant
    from resid_atlas.models.catalog import n_layers, position_limit

    models = config["models"]
    dist = config["distributions"]
    for model in config["atlas"]["models"]:
        depth = n_layers(model, models)
        has = f"model '{model}' has {depth} layers (0 .. {depth - 1})"
        fitted = range(depth) if dist["layers"] == "all" else dist["layers"]
        for key, chosen in (
            ("distributions.layers", [] if dist["layers"] == "all" else dist["layers"]),
            ("classifier.logreg.layers", config["classifier"]["logreg"]["layers"]),
        ):
            beyond = sorted({layer for layer in chosen if layer >= depth})
            if beyond:
                raise AtlasError(
                    f"{where}: {key} lists {', '.join(map(str, beyond))}, but {has}; "
                    f"list layers below {depth} (or `all`/[] for every layer)."
                )
        for key in ("variants", "control_variants"):
            for variant in config["classifier"][key]:
                parse_variant(variant, depth, where=f"{where}: classifier.{key} (model '{model}')")
        figure = dist["figure_layer"]
        if figure is not None and figure not in fitted:
            raise AtlasError(
                f"{where}: distributions.figure_layer is {figure}, but {has}"
                + ("" if dist["layers"] == "all" else f" and distributions.layers is {fitted}")
                + "; pick a fitted layer, or null for the middle one."
            )
    for key, users, length in _prompt_lengths(config):
        for model in users:
            limit = position_limit(model, models)
            if limit is not None and limit < length:
                raise AtlasError(
                    f"{where}: model '{model}' has {limit} positions "
                    f"(models.{model}.config n_positions), but {key} makes prompts of up to "
                    f"{length} tokens; raise n_positions to at least {length} or lower {key}."
                )


def _prompt_lengths(config: dict):
    """(key, models, longest prompt in tokens, BOS included) of every stage that runs models."""
    ext, facts = config["extraction"], config["facts"]
    yield "extraction.max_tokens", config["atlas"]["models"], ext["max_tokens"]
    yield "facts.max_tokens", facts["models"], facts["max_tokens"]
    for stage in ("regions", "plateaus"):
        spec = config[stage]
        length = spec["prompt_length"] + bool(spec["prepend_bos"])
        yield f"{stage}.prompt_length", spec["models"], length


def _ordered_keys(config: dict):
    """Pairs of keys whose values must be strictly increasing, and why."""
    dist = config["distributions"]
    regen = config["corpus"]["regeneration"]
    yield (
        ("distributions.tail_from_sd", dist["tail_from_sd"]),
        ("distributions.tail_to_sd", dist["tail_to_sd"]),
        "they bound the tail-weight fit's range",
    )
    yield (
        ("corpus.regeneration.min_words", regen["min_words"]),
        ("corpus.regeneration.max_words", regen["max_words"]),
        "they bound a sentence's length",
    )


def _check_distinct_names(entries: dict, kind: str, where: str) -> None:
    """Names become rule names (where - and . become _) and folder names (which a case-insensitive
    file system compares without case): two names equal after both would share them."""
    seen: dict[str, str] = {}
    for name in entries:
        same = re.sub(r"[-.]", "_", name).lower()
        if same in seen:
            raise AtlasError(
                f"{where}: {kind} '{seen[same]}' and '{name}' become the same name '{same}' "
                "in rule and folder names (- and . become _, and case is not kept everywhere); "
                "rename one of them."
            )
        seen[same] = name


def load_config(path: str | Path) -> dict:
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise AtlasError(f"config file {path} does not exist; pass an existing file.") from None
    except yaml.YAMLError as exc:
        raise AtlasError(f"config file {path} is not valid YAML: {exc}") from None
    return validate_config(config, where=str(path))
