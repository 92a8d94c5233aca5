# Classifier stage (study 001, docs/classifier.md): per (dataset, model), KDE densities per (pair,
# layer) on the training split, every configured scoring variant and the logistic-regression
# reference; the Japanese pooling control re-runs the control variants on the `last` protocol's
# shards (control-last/); then one summary and findings table per model, and the stage's findings.
# The shards are named one by one (never a folder listing), so a shard left by a deeper model
# is never read.


rule classifier_classify:
    input:
        index=index_of,
        meta=meta_of,
        shards=shards(PROTOCOL),
    output:
        tables=classifier_out.tables(config, "main"),
        confusion=[
            report(
                classifier_out.variant_file("main", v, "confusion.png"),
                caption="../report/classifier/confusion.rst",
                category="Tail classifier",
                subcategory="{model}",
                labels={"model": "{model}", "variant": v, "figure": "confusion"},
            )
            for v in classifier_out.variants(config, "main")
        ],
        f1=[
            report(
                classifier_out.variant_file("main", v, "f1.png"),
                caption="../report/classifier/f1.rst",
                category="Tail classifier",
                subcategory="{model}",
                labels={"model": "{model}", "variant": v, "figure": "F1"},
            )
            for v in classifier_out.variants(config, "main")
        ],
        sweep=report(
            classifier_out.run_file("main", "layer_sweep.png"),
            caption="../report/classifier/layer_sweep.rst",
            category="Tail classifier",
            subcategory="{model}",
            labels={
                "model": "{model}",
                "variant": "single layers",
                "figure": "layer sweep",
            },
        ),
        sweep_table=classifier_out.run_file("main", "layer_sweep.parquet"),
        densities=classifier_out.run_file("main", "densities.parquet"),
        meta=classifier_out.run_file("main", "meta.json"),
    log:
        log_of(classifier_out.run_file("main", "meta.json")),
    benchmark:
        benchmark_of(classifier_out.run_file("main", "meta.json"))
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
    params:
        settings=as_json(config["classifier"]),
        variants=as_json(config["classifier"]["variants"]),
        out_dir=lambda wc, output: str(Path(output.meta).parent),
    shell:
        "python -m resid_atlas classifier classify --index {input.index:q} --meta {input.meta:q} --shards {input.shards:q}"
        " --model {wildcards.model:q} --settings {params.settings:q}"
        " --variants {params.variants:q} --threads {threads}"
        " --out-dir {params.out_dir:q} 2> {log:q}"


rule classifier_control:
    input:
        index=lambda wc: index_of(wc, "last"),
        meta=lambda wc: meta_of(wc, "last"),
        shards=shards("last"),
    output:
        tables=classifier_out.tables(config, "control"),
        figures=[
            classifier_out.variant_file("control", v, f"{name}.png")
            for v in classifier_out.variants(config, "control")
            for name in classifier_out.FIGURES
        ],
        sweep=classifier_out.run_file("control", "layer_sweep.png"),
        sweep_table=classifier_out.run_file("control", "layer_sweep.parquet"),
        densities=classifier_out.run_file("control", "densities.parquet"),
        meta=classifier_out.run_file("control", "meta.json"),
    log:
        log_of(classifier_out.run_file("control", "meta.json")),
    benchmark:
        benchmark_of(classifier_out.run_file("control", "meta.json"))
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
    params:
        settings=as_json(config["classifier"]),
        variants=as_json(config["classifier"]["control_variants"]),
        out_dir=lambda wc, output: str(Path(output.meta).parent),
    shell:
        "python -m resid_atlas classifier classify --index {input.index:q} --meta {input.meta:q} --shards {input.shards:q}"
        " --model {wildcards.model:q} --settings {params.settings:q}"
        " --variants {params.variants:q} --no-logreg --threads {threads}"
        " --out-dir {params.out_dir:q} 2> {log:q}"


rule classifier_summary:
    input:
        unpack(classifier_summary_inputs),
    output:
        summary=classifier_out.summary("summary"),
        japanese=classifier_out.summary("japanese_control"),
        findings=classifier_out.summary("findings"),
    log:
        log_of(classifier_out.summary("summary")),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=as_json(config["classifier"]),
        control=lambda wc, input: input.control if "control" in input.keys() else [],
    shell:
        "python -m resid_atlas classifier summary --tables {input.tables:q}"
        " --control-tables {params.control:q}"
        " --model {wildcards.model:q} --settings {params.settings:q}"
        " --summary {output.summary:q} --japanese {output.japanese:q}"
        " --findings {output.findings:q} 2> {log:q}"


rule classifier_findings:
    input:
        atlas_files(classifier_out.summary("findings")),
    output:
        classifier_out.STAGE_FINDINGS,
    log:
        log_of(classifier_out.STAGE_FINDINGS),
    localrule: True
    conda:
        ENV
    shell:
        "python -m resid_atlas classifier findings --findings {input:q} --out {output:q} 2> {log:q}"
