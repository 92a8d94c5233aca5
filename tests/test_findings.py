import math

import polars as pl
import pytest

from resid_atlas.stats import verdicts
from resid_atlas.stats.findings import FINDINGS_SCHEMA, finding, findings_frame, write_findings


def test_findings_rows_and_schema(tmp_path):
    rows = [
        finding(
            "000 beyond-gaussian",
            "c",
            "A claim.",
            "m",
            verdicts.share(70, 100, "share of fits above 0.5", 0.5),
            0.7,
            "70% of fits",
        ),
        finding("000 beyond-gaussian", "d", "B claim.", "m", verdicts.not_run("x"), None, "no"),
    ]
    df = findings_frame(rows)
    assert df.schema == pl.Schema(FINDINGS_SCHEMA)
    assert math.isnan(df["value"][1])
    assert df["verdict"].to_list() == ["holds", "not run"]
    assert df["n"][0] == 100 and df["ci_low"][0] > 0.5 and df["ci_high"][1] is None
    assert df["rule"][1] == "not run: x"
    write_findings(rows, tmp_path / "f.parquet")
    assert pl.read_parquet(tmp_path / "f.parquet").equals(df)
    with pytest.raises(TypeError, match="Evidence"):
        finding("s", "c", "x", "m", "holds", 1.0, "")
