# Activation plateaus and sensitive directions (seed 003, METHODS.md §4). One sweep job per model
# loads it once and writes every condition's curves (one file per condition); the summary turns
# them into threshold crossings and figures; the findings table compares conditions and models.

SWEEP_KEYS = (
    "prompt_length",
    "prepend_bos",
    "site_layer",
    "readout_layer",
    "reference_prompts",
    "curves",
    "steps",
    "conditions",
    "triangle",
    "seed",
    "device",
    "batch_size",
)


rule plateaus_sweep:
    input:
        plateaus_source,
    output:
        curves=[
            f"results/plateaus/{{model}}/curves/{condition}.parquet"
            for condition in config["plateaus"]["conditions"]
        ],
        triangle="results/plateaus/{model}/triangle.parquet",
        prompts="results/plateaus/{model}/prompts.parquet",
        reference="results/plateaus/{model}/reference.npz",
        meta="results/plateaus/{model}/reference.json",
    log:
        "results/logs/plateaus/{model}/sweep.log",
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=model_mem(extra_mb=2000),
        runtime=model_minutes(10),
        gpu=model_gpu(config["plateaus"]["device"]),
    params:
        models=lambda wc: as_json(model_entries(wc.model)),
        settings=plateaus_settings(*SWEEP_KEYS),
        source=plateaus_source_arg,
    shell:
        "python -m resid_atlas plateaus-sweep --model {wildcards.model} --models {params.models:q}"
        " --settings {params.settings:q} {params.source} --threads {threads}"
        " --out-dir $(dirname {output.triangle}) 2> {log}"


rule plateaus_summary:
    input:
        curves=lambda wc: plateaus_curves(wc.model),
        triangle="results/plateaus/{model}/triangle.parquet",
    output:
        thresholds="results/plateaus/{model}/thresholds.parquet",
        triangle="results/plateaus/{model}/triangle_crossings.parquet",
        summary="results/plateaus/{model}/summary.parquet",
        kl=report(
            "results/plateaus/{model}/figures/kl_curves.png",
            caption="../report/plateaus/kl_curves.rst",
            category="Plateaus",
            labels={"model": "{model}", "figure": "KL curves"},
        ),
        l2=report(
            "results/plateaus/{model}/figures/l2_curves.png",
            caption="../report/plateaus/l2_curves.rst",
            category="Plateaus",
            labels={"model": "{model}", "figure": "read-out L2 curves"},
        ),
        hist=report(
            "results/plateaus/{model}/figures/thresholds.png",
            caption="../report/plateaus/thresholds.rst",
            category="Plateaus",
            labels={"model": "{model}", "figure": "threshold crossings"},
        ),
        tri=report(
            "results/plateaus/{model}/figures/triangle.png",
            caption="../report/plateaus/triangle.rst",
            category="Plateaus",
            labels={"model": "{model}", "figure": "interpolation triangle"},
        ),
    log:
        "results/logs/plateaus/{model}/summary.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=plateaus_settings("threshold", "plateau_kl", "seed", "bootstrap"),
    shell:
        "python -m resid_atlas plateaus-summary --model {wildcards.model} --curves {input.curves}"
        " --triangle {input.triangle} --settings {params.settings:q}"
        " --out-dir $(dirname {output.thresholds}) 2> {log}"


rule plateaus_findings:
    input:
        thresholds=expand(
            "results/plateaus/{model}/thresholds.parquet",
            model=config["plateaus"]["models"],
        ),
        triangles=expand(
            "results/plateaus/{model}/triangle_crossings.parquet",
            model=config["plateaus"]["models"],
        ),
    output:
        "results/plateaus/findings.parquet",
    log:
        "results/logs/plateaus/findings.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        models=as_json({m: config["models"][m] for m in config["plateaus"]["models"]}),
        settings=plateaus_settings("seed", "conditions", "bootstrap"),
    shell:
        "python -m resid_atlas plateaus-findings --thresholds {input.thresholds}"
        " --models {params.models:q} --settings {params.settings:q} --out {output} 2> {log}"
