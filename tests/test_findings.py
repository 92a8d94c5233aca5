import math

import polars as pl
import pytest

from resid_atlas.stats.findings import FINDINGS_SCHEMA, finding, findings_frame, write_findings


def test_findings_rows_and_schema(tmp_path):
    rows = [
        finding("000 beyond-gaussian", "c", "A claim.", "m", "holds", 0.7, "70% of fits"),
        finding("000 beyond-gaussian", "d", "B claim.", "m", "not run", None, "no data"),
    ]
    df = findings_frame(rows)
    assert df.schema == pl.Schema(FINDINGS_SCHEMA)
    assert math.isnan(df["value"][1])
    write_findings(rows, tmp_path / "f.parquet")
    assert pl.read_parquet(tmp_path / "f.parquet").equals(df)
    with pytest.raises(ValueError, match="verdict"):
        finding("s", "c", "x", "m", "maybe", 1.0, "")
