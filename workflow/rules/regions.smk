# Stable regions (seed 004): per model, interpolation curves between real activations, sharpness
# per prompt pair and 2-D slices; then one summary, semantic check and findings across
# regions.models. Outputs and columns: docs/regions.md.


rule regions:
    input:
        regions_corpus,
    output:
        curves="results/regions/{model}/curves.parquet",
        sharpness="results/regions/{model}/sharpness.parquet",
        slices="results/regions/{model}/slices.parquet",
        anchors="results/regions/{model}/slice_anchors.parquet",
        meta="results/regions/{model}/meta.json",
        curves_png=report(
            "results/regions/{model}/curves.png",
            caption="../report/regions/curves.rst",
            category="Stable regions",
            labels={"model": "{model}", "figure": "interpolation curves"},
        ),
        slices_png=report(
            "results/regions/{model}/slices.png",
            caption="../report/regions/slices.rst",
            category="Stable regions",
            labels={"model": "{model}", "figure": "2-D slices"},
        ),
    log:
        "results/logs/regions/{model}.log",
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=model_mem(extra_mb=3000),
        runtime=model_minutes(15),
        gpu=model_gpu(config["regions"]["device"]),
    params:
        models=lambda wc: as_json(model_entries(wc.model)),
        settings=as_json(config["regions"]),
    shell:
        "python -m resid_atlas regions --corpus {input} --model {wildcards.model}"
        " --models {params.models:q} --settings {params.settings:q} --threads {threads}"
        " --out-dir $(dirname {output.meta}) 2> {log}"


rule regions_summary:
    input:
        sharpness=expand(
            "results/regions/{model}/sharpness.parquet",
            model=config["regions"]["models"],
        ),
        meta=expand(
            "results/regions/{model}/meta.json", model=config["regions"]["models"]
        ),
    output:
        summary="results/regions/summary.parquet",
        semantic="results/regions/semantic.parquet",
        findings="results/regions/findings.parquet",
        figure=report(
            "results/regions/sharpness.png",
            caption="../report/regions/sharpness.rst",
            category="Stable regions",
            labels={"model": "all", "figure": "sharpness by model"},
        ),
    log:
        "results/logs/regions/summary.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=as_json(config["regions"]),
    shell:
        "python -m resid_atlas regions-summary $(dirname {input.meta})"
        " --settings {params.settings:q} --summary {output.summary}"
        " --semantic {output.semantic} --findings {output.findings}"
        " --figure {output.figure} 2> {log}"
