"""Load and validate the pipeline config against its JSON-Schema, filling defaults.

The Snakefile and the command line both go through `validate_config`, so a wrong key, type or
model reference fails the same way everywhere: one message naming the key and the fix.
"""

from __future__ import annotations

import difflib
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


_Validator = _with_defaults(jsonschema.Draft202012Validator)


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
        return (
            f"{where}: key '{key}' must be of type {error.validator_value}, "
            f"got {error.instance!r}; fix the value (see config/README.md)."
        )
    if error.validator == "pattern":
        return (
            f"{where}: key '{key}' = {error.instance!r} does not match the expected form "
            f"{error.validator_value!r}; see config/README.md."
        )
    if error.validator in {"oneOf", "anyOf"} and error.context:
        best = jsonschema.exceptions.best_match(error.context)
        return _explain(best, where)
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
        if like is not None and models[like]["source"] == "random-init":
            raise AtlasError(
                f"{where}: models.{name}.like names '{like}', itself a random-init model; "
                "point 'like' at a trained (hf or gguf-package) entry."
            )
    for section, key, known in _references(config):
        for value in section.get(key, []):
            if value not in known:
                raise AtlasError(
                    f"{where}: '{value}' in {key} is not defined; "
                    f"define it or use one of: {', '.join(sorted(known))}."
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
    yield config["atlas"], "datasets", datasets
    for section in config.values():
        if (
            isinstance(section, dict)
            and section is not config["atlas"]
            and isinstance(section.get("models"), list)
        ):
            yield section, "models", models


def load_config(path: str | Path) -> dict:
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise AtlasError(f"config file {path} does not exist; pass an existing file.") from None
    except yaml.YAMLError as exc:
        raise AtlasError(f"config file {path} is not valid YAML: {exc}") from None
    return validate_config(config, where=str(path))
