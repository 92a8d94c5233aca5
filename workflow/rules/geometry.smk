# Representation geometry (seed 000, "Representational Vector Similarities"): per layer, the
# attraction score of every subject:attribute pair (raw and PCA) and the subject/attribute
# grouping view; per (dataset, model) the summaries, trend, findings and figures.
# Outputs and columns: docs/geometry.md.


rule geometry_layer:
    input:
        shard="results/{dataset}/{model}/activations/layer_{layer}.npy",
        index="results/{dataset}/{model}/activations/index.parquet",
    output:
        scores="results/{dataset}/{model}/geometry/scores/layer_{layer}.parquet",
        grouping="results/{dataset}/{model}/geometry/grouping/layer_{layer}.parquet",
    log:
        "results/logs/{dataset}/{model}/geometry/layer_{layer}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=geometry_settings(*GEOMETRY_LAYER_KEYS),
    shell:
        "python -m resid_atlas geometry-layer --shard {input.shard} --index {input.index}"
        " --dataset {wildcards.dataset} --model {wildcards.model} --layer {wildcards.layer}"
        " --settings {params.settings:q} --threads {threads}"
        " --scores {output.scores} --grouping {output.grouping} 2> {log}"


rule geometry_summary:
    input:
        scores=geometry_layer_tables("scores"),
        grouping=geometry_layer_tables("grouping"),
    output:
        summary="results/{dataset}/{model}/geometry/summary.parquet",
        pulls="results/{dataset}/{model}/geometry/pulls.parquet",
        trend="results/{dataset}/{model}/geometry/trend.parquet",
        findings="results/{dataset}/{model}/geometry/findings.parquet",
        depth=report(
            "results/{dataset}/{model}/geometry/figures/depth.png",
            caption="../report/geometry/depth.rst",
            category="Geometry",
            labels={"model": "{model}", "figure": "distinctiveness by depth"},
        ),
        grouping=report(
            "results/{dataset}/{model}/geometry/figures/grouping.png",
            caption="../report/geometry/grouping.rst",
            category="Geometry",
            labels={"model": "{model}", "figure": "subject vs attribute grouping"},
        ),
    log:
        "results/logs/{dataset}/{model}/geometry/summary.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=geometry_settings("variants", "alpha"),
    shell:
        "python -m resid_atlas geometry-summary --scores {input.scores} --grouping {input.grouping}"
        " --settings {params.settings:q} --summary {output.summary} --pulls {output.pulls}"
        " --trend {output.trend} --findings {output.findings} --depth-figure {output.depth}"
        " --grouping-figure {output.grouping} 2> {log}"


rule geometry_heatmaps:
    input:
        scores=geometry_layer_tables("scores"),
    output:
        grid=report(
            "results/{dataset}/{model}/geometry/figures/heatmaps_{variant}.png",
            caption="../report/geometry/heatmaps.rst",
            category="Geometry",
            labels={"model": "{model}", "figure": "attraction heatmaps ({variant})"},
        ),
        gif=report(
            "results/{dataset}/{model}/geometry/figures/heatmaps_{variant}.gif",
            caption="../report/geometry/heatmaps_gif.rst",
            category="Geometry",
            labels={
                "model": "{model}",
                "figure": "attraction heatmap animation ({variant})",
            },
        ),
    log:
        "results/logs/{dataset}/{model}/geometry/heatmaps_{variant}.log",
    wildcard_constraints:
        variant="raw|centred|pca",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=geometry_settings("gif_frame_ms"),
    shell:
        "python -m resid_atlas geometry-heatmaps --scores {input.scores} --variant {wildcards.variant}"
        " --settings {params.settings:q} --grid {output.grid} --gif {output.gif} 2> {log}"


rule geometry_modes:
    input:
        scores=geometry_mode_inputs("scores"),
        modes=geometry_mode_inputs("modes"),
    output:
        table="results/{dataset}/{model}/geometry/modes_correlation.parquet",
        findings="results/{dataset}/{model}/geometry/modes_findings.parquet",
        figure=report(
            "results/{dataset}/{model}/geometry/figures/modes_correlation.png",
            caption="../report/geometry/modes_correlation.rst",
            category="Geometry",
            labels={"model": "{model}", "figure": "mode characteristics vs scores"},
        ),
    log:
        "results/logs/{dataset}/{model}/geometry/modes.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=geometry_settings("correlation", "alpha"),
    shell:
        "python -m resid_atlas geometry-modes --scores {input.scores} --modes {input.modes}"
        " --settings {params.settings:q} --out {output.table} --findings {output.findings}"
        " --figure {output.figure} 2> {log}"
