# Geometry stage (study 000, "Representational Vector Similarities", docs/geometry.md): per layer,
# the attraction score of every subject:attribute pair (raw and PCA) and the subject/attribute
# grouping view; per (dataset, model) the summaries, trend, findings and figures; the stage's
# findings stacked.


rule geometry_layer:
    input:
        shard=shard,
        index=index_of,
        meta=meta_of,
    output:
        scores=geometry_out.SCORES,
        grouping=geometry_out.GROUPING,
    log:
        log_of(geometry_out.SCORES),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=settings("geometry", geometry_out.LAYER_SETTINGS),
    shell:
        "python -m resid_atlas geometry layer --shard {input.shard:q} --index {input.index:q} --meta {input.meta:q}"
        " --dataset {wildcards.dataset:q} --model {wildcards.model:q}"
        " --layer {wildcards.layer:q} --settings {params.settings:q} --threads {threads}"
        " --scores {output.scores:q} --grouping {output.grouping:q} 2> {log:q}"


rule geometry_summary:
    input:
        scores=geometry_tables(geometry_out.SCORES),
        grouping=geometry_tables(geometry_out.GROUPING),
    output:
        summary=geometry_out.table("summary"),
        pulls=geometry_out.table("pulls"),
        trend=geometry_out.table("trend"),
        findings=geometry_out.table("findings"),
        depth=report(
            geometry_out.figure("depth"),
            caption="../report/geometry/depth.rst",
            category="Geometry",
            labels={"model": "{model}", "figure": "distinctiveness by depth"},
        ),
        grouping=report(
            geometry_out.figure("grouping"),
            caption="../report/geometry/grouping.rst",
            category="Geometry",
            labels={"model": "{model}", "figure": "subject vs attribute grouping"},
        ),
    log:
        log_of(geometry_out.table("summary")),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=settings("geometry", geometry_out.SUMMARY_SETTINGS),
    shell:
        "python -m resid_atlas geometry summary --scores {input.scores:q} --grouping {input.grouping:q}"
        " --settings {params.settings:q} --summary {output.summary:q}"
        " --pulls {output.pulls:q} --trend {output.trend:q} --findings {output.findings:q}"
        " --depth-figure {output.depth:q} --grouping-figure {output.grouping:q} 2> {log:q}"


rule geometry_heatmaps:
    input:
        scores=geometry_tables(geometry_out.SCORES),
    output:
        grid=report(
            geometry_out.HEATMAP.replace("{ext}", "png"),
            caption="../report/geometry/heatmaps.rst",
            category="Geometry",
            labels={"model": "{model}", "figure": "attraction heatmaps ({variant})"},
        ),
        gif=report(
            geometry_out.HEATMAP.replace("{ext}", "gif"),
            caption="../report/geometry/heatmaps_gif.rst",
            category="Geometry",
            labels={
                "model": "{model}",
                "figure": "attraction heatmap animation ({variant})",
            },
        ),
    log:
        log_of(geometry_out.HEATMAP.replace("{ext}", "png")),
    wildcard_constraints:
        variant="raw|centred|pca",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=settings("geometry", geometry_out.HEATMAP_SETTINGS),
    shell:
        "python -m resid_atlas geometry heatmaps --scores {input.scores:q} --variant {wildcards.variant:q}"
        " --settings {params.settings:q} --grid {output.grid:q} --gif {output.gif:q}"
        " 2> {log:q}"


rule geometry_modes:
    input:
        scores=geometry_tables(geometry_out.SCORES, covered_only=True),
        modes=geometry_tables(distributions_out.MODES, covered_only=True),
    output:
        table=geometry_out.table("modes_correlation"),
        findings=geometry_out.table("modes_findings"),
        figure=report(
            geometry_out.figure("modes_correlation"),
            caption="../report/geometry/modes_correlation.rst",
            category="Geometry",
            labels={"model": "{model}", "figure": "mode characteristics vs scores"},
        ),
    log:
        log_of(geometry_out.table("modes_correlation")),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=settings("geometry", geometry_out.MODES_SETTINGS),
    shell:
        "python -m resid_atlas geometry modes --scores {input.scores:q} --modes {input.modes:q}"
        " --settings {params.settings:q} --out {output.table:q}"
        " --findings {output.findings:q} --figure {output.figure:q} 2> {log:q}"


rule geometry_findings:
    input:
        geometry_findings,
    output:
        geometry_out.STAGE_FINDINGS,
    log:
        log_of(geometry_out.STAGE_FINDINGS),
    localrule: True
    conda:
        ENV
    shell:
        "python -m resid_atlas geometry findings --findings {input:q} --out {output:q} 2> {log:q}"
