# Likelihood classifier (seed 001): per (dataset, model), KDE densities per (pair, layer) on the
# training split, every configured scoring variant and the logistic-regression reference; the
# Japanese pooling control re-runs the control variants on the `last` protocol's shards; then one
# summary and findings table per model. Outputs and columns: docs/classifier.md.


rule classify:
    input:
        unpack(lambda wc: classifier_inputs(wc, "activations")),
    output:
        tables=classifier_files(
            "classifier", CLASSIFIER_VARIANTS + ["logreg"], "parquet"
        ),
        confusion=[
            report(
                f"results/{{dataset}}/{{model}}/classifier/{v}/confusion.png",
                caption="../report/classifier/confusion.rst",
                category="Tail classifier",
                subcategory="{model}",
                labels={"model": "{model}", "variant": v, "figure": "confusion"},
            )
            for v in CLASSIFIER_VARIANTS + ["logreg"]
        ],
        f1=[
            report(
                f"results/{{dataset}}/{{model}}/classifier/{v}/f1.png",
                caption="../report/classifier/f1.rst",
                category="Tail classifier",
                subcategory="{model}",
                labels={"model": "{model}", "variant": v, "figure": "F1"},
            )
            for v in CLASSIFIER_VARIANTS + ["logreg"]
        ],
        sweep=report(
            "results/{dataset}/{model}/classifier/layer_sweep.png",
            caption="../report/classifier/layer_sweep.rst",
            category="Tail classifier",
            subcategory="{model}",
            labels={
                "model": "{model}",
                "variant": "single layers",
                "figure": "layer sweep",
            },
        ),
        sweep_table="results/{dataset}/{model}/classifier/layer_sweep.parquet",
        densities="results/{dataset}/{model}/classifier/densities.parquet",
        meta="results/{dataset}/{model}/classifier/meta.json",
    log:
        "results/logs/{dataset}/{model}/classify.log",
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
    params:
        settings=as_json(config["classifier"]),
        variants=as_json(CLASSIFIER_VARIANTS),
    shell:
        "python -m resid_atlas classify --activations $(dirname {input.index})"
        " --model {wildcards.model} --settings {params.settings:q}"
        " --variants {params.variants:q} --threads {threads}"
        " --out-dir $(dirname {output.meta}) 2> {log}"


rule classify_last:
    input:
        unpack(lambda wc: classifier_inputs(wc, "activations-last")),
    output:
        tables=classifier_files("classifier-last", CLASSIFIER_CONTROL, "parquet"),
        figures=classifier_files("classifier-last", CLASSIFIER_CONTROL, "png"),
        sweep="results/{dataset}/{model}/classifier-last/layer_sweep.png",
        sweep_table="results/{dataset}/{model}/classifier-last/layer_sweep.parquet",
        densities="results/{dataset}/{model}/classifier-last/densities.parquet",
        meta="results/{dataset}/{model}/classifier-last/meta.json",
    log:
        "results/logs/{dataset}/{model}/classify-last.log",
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
    params:
        settings=as_json(config["classifier"]),
        variants=as_json(CLASSIFIER_CONTROL),
    shell:
        "python -m resid_atlas classify --activations $(dirname {input.index})"
        " --model {wildcards.model} --settings {params.settings:q}"
        " --variants {params.variants:q} --no-logreg --threads {threads}"
        " --out-dir $(dirname {output.meta}) 2> {log}"


rule classifier_findings:
    input:
        unpack(classifier_findings_inputs),
    output:
        summary="results/{dataset}/{model}/classifier/summary.parquet",
        japanese="results/{dataset}/{model}/classifier/japanese_control.parquet",
        findings="results/{dataset}/{model}/classifier/findings.parquet",
    log:
        "results/logs/{dataset}/{model}/classifier-findings.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=as_json(config["classifier"]),
        control=lambda wc, input: (
            f"--control $(dirname {input.control})"
            if "control" in input.keys()
            else ""
        ),
    shell:
        "python -m resid_atlas classify-findings --run-dir $(dirname {input.run})"
        " {params.control} --model {wildcards.model} --settings {params.settings:q}"
        " --summary {output.summary} --japanese {output.japanese}"
        " --findings {output.findings} 2> {log}"
