# Report stage (README, "Query the atlas"): a DuckDB atlas with one view per table family
# (workflow/sql/views/), cross-model tables (workflow/sql/report/, Parquet and CSV), figures and
# the findings page. It reads every analysis's outputs, so it runs after them; the SQL files
# are inputs, so editing one reruns it.


rule report_build:
    input:
        views=REPORT_VIEWS,
        tables=REPORT_TABLES,
        results=report_inputs,
    output:
        atlas=report_out.ATLAS,
        tables=[
            report_out.table(Path(sql).stem, ext)
            for sql in REPORT_TABLES
            for ext in ("parquet", "csv")
        ],
        figures=[
            report(
                report_out.figure(name),
                caption="../report/report/figures.rst",
                category="Cross-model report",
                labels={"figure": name.replace("_", " ")},
            )
            for name in report_out.FIGURES
        ],
        page=report(
            report_out.PAGE,
            caption="../report/report/findings.rst",
            category="Cross-model report",
            labels={"figure": "findings page"},
        ),
    log:
        log_of(report_out.ATLAS),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        out_dir=lambda wc, output: str(Path(output.atlas).parent),
    shell:
        "python -m resid_atlas report build --views {input.views:q} --tables {input.tables:q}"
        " --inputs {input.results:q} --out-dir {params.out_dir:q} 2> {log:q}"
