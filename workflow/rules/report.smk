# The cross-model report: a DuckDB atlas with one view per table family (workflow/sql/views/),
# cross-model tables (workflow/sql/report/, Parquet and CSV), figures and the findings page.
# It reads every analysis's outputs, so it runs after them.


rule report:
    input:
        analysis_targets,
    output:
        atlas="results/report/atlas.duckdb",
        tables=expand(
            "results/report/{name}.{ext}", name=REPORT_TABLES, ext=["parquet", "csv"]
        ),
        figures=report(
            expand("results/report/{name}.png", name=REPORT_FIGURES),
            caption="../report/report/figures.rst",
            category="Cross-model report",
            labels=lambda wc, path: {"figure": Path(path).stem.replace("_", " ")},
        ),
        findings=report(
            "results/report/findings.html",
            caption="../report/report/findings.rst",
            category="Cross-model report",
            labels={"figure": "findings page"},
        ),
    log:
        "results/logs/report.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        sql_dir=SQL_DIR,
        # The SQL is workflow code outside the rule: its digest reruns the report when it changes.
        sql_digest=sql_digest(),
    shell:
        "python -m resid_atlas report --sql-dir {params.sql_dir:q} --out-dir results/report 2> {log}"
