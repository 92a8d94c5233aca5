"""The cross-model report: atlas views, report tables, findings page, README example queries."""

import re
from pathlib import Path

import duckdb
import polars as pl
import pytest

from conftest import ROOT
from resid_atlas.report.atlas import build_atlas, sql_files
from resid_atlas.report.findings_page import render
from resid_atlas.report.tables import run_table
from resid_atlas.stats import verdicts
from resid_atlas.stats.findings import finding, findings_frame

VIEWS = sql_files(sorted((ROOT / "workflow" / "sql" / "views").glob("*.sql")))
TABLES = sql_files(sorted((ROOT / "workflow" / "sql" / "report").glob("*.sql")))


def readme_queries() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Query the atlas", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def atlas(tiny_run):
    return tiny_run / "results" / "report" / "atlas.duckdb"


def test_every_view_has_rows(atlas, tiny_run):
    with duckdb.connect(str(atlas), read_only=True) as con:
        catalog = con.sql("SELECT view, status, n_rows FROM atlas_catalog").pl()
    assert set(catalog["view"]) == set(VIEWS)
    assert catalog.filter(pl.col("status") != "ok").is_empty(), catalog
    assert (catalog["n_rows"] > 0).all(), catalog


def test_views_resolve_from_the_run_directory(atlas, tiny_run, monkeypatch):
    monkeypatch.chdir(tiny_run)  # views hold paths relative to the repository root
    with duckdb.connect(str(atlas), read_only=True) as con:
        fits = con.sql("SELECT * FROM fits LIMIT 5").pl()
        models = con.sql("SELECT dataset, model, protocol, n_layers FROM models ORDER BY ALL").pl()
    assert {"dataset", "model", "layer", "pair", "family", "sse", "aic"} <= set(fits.columns)
    # one row per extraction: the configured protocol and the Japanese control's `last`
    assert models.rows() == [("tiny", "tiny-llama", "last", 3), ("tiny", "tiny-llama", "seed", 3)]


def test_report_tables_written(tiny_run):
    out = tiny_run / "results" / "report"
    for name in TABLES:
        table = pl.read_parquet(out / f"{name}.parquet")
        assert table.height > 0, name
        assert pl.read_csv(out / f"{name}.csv").height == table.height
    depth = pl.read_parquet(out / "tails_modes_by_depth.parquet")
    assert depth["rel_depth"].to_list() == pytest.approx([1 / 3, 2 / 3, 1.0])
    for figure in ("depth", "family_shares", "classifier_f1", "plateau_thresholds", "sharpness"):
        assert (out / f"{figure}.png").stat().st_size > 1000


def test_findings_page_lists_every_claim(tiny_run):
    out = tiny_run / "results" / "report"
    findings = pl.read_parquet(out / "findings.parquet")
    page = (out / "findings.html").read_text()
    assert findings["study"].n_unique() >= 5
    for claim_id in findings["claim_id"].unique():
        assert claim_id in page
    for study in ("000", "001", "002", "003", "004"):
        assert any(s.startswith(study) for s in findings["study"]), study


def test_readme_example_queries_run(atlas, tiny_run, monkeypatch):
    monkeypatch.chdir(tiny_run)
    queries = readme_queries()
    assert len(queries) >= 3
    with duckdb.connect(str(atlas), read_only=True) as con:
        for query in queries:
            con.sql(query).fetchall()


def test_absent_family_is_listed_and_report_table_empty(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("results/x").mkdir(parents=True)
    pl.DataFrame({"a": [1]}).write_parquet("results/x/findings.parquet")
    catalog = build_atlas("atlas.duckdb", {"fits": VIEWS["fits"], "other": "SELECT 1 AS a"})
    assert dict(catalog.select("view", "status").iter_rows()) == {"fits": "absent", "other": "ok"}
    with duckdb.connect("atlas.duckdb", read_only=True) as con:
        table = run_table(con, TABLES["best_family_shares"], {"fits"})
    assert table.is_empty() and table.columns == ["missing_views"]


def test_findings_page_marks_missing_model_not_run():
    rows = [
        finding(
            "004 stable-regions",
            "c1",
            "Claim one.",
            "m1",
            verdicts.interval(2.0, 1.5, 2.5, 40, "95% bootstrap CI of the median above 0"),
            2.0,
            "median 2",
            "results/a.png",
        ),
        finding(
            "004 stable-regions",
            "c2",
            "Claim two.",
            "m2",
            verdicts.threshold(False, None, 3, "a threshold"),
            None,
            "no",
        ),
    ]
    page = render(findings_frame(rows), "results/report/findings.html")
    assert page.count("not run") >= 3  # legend, summary header, and the two missing cells
    assert 'href="../a.png"' in page
    # the evidence columns are on the page
    assert "effect 2; 95% CI [1.5, 2.5]; n = 40" in page
    assert "rule: 95% bootstrap CI of the median above 0" in page
    assert "rule: a threshold" in page
