# Basic facts (seed 002): per model, statistics of token activations, weights and gradients,
# spectra, norms and findings; then all models' findings and the trained vs random-init reading.


rule facts:
    input:
        lambda wc: f"results/{config['facts']['dataset']}/corpus.parquet",
    output:
        tables=[f"results/facts/{{model}}/{t}.parquet" for t in FACTS_TABLES],
        figures=[
            report(
                f"results/facts/{{model}}/{f}.png",
                caption=f"../report/facts/{f}.rst",
                category="Facts",
                labels={"model": "{model}", "figure": f},
            )
            for f in FACTS_FIGURES
        ],
    log:
        "results/logs/facts/{model}.log",
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=model_mem(extra_mb=3000),
        runtime=model_minutes(10),
        gpu=model_gpu(config["facts"]["device"]),
    params:
        models=lambda wc: as_json(model_entries(wc.model)),
        settings=as_json(config["facts"]),
    shell:
        "python -m resid_atlas facts --corpus {input} --model {wildcards.model} --models {params.models:q}"
        " --settings {params.settings:q} --threads {threads} --out-dir results/facts/{wildcards.model} 2> {log}"


rule facts_summary:
    input:
        expand(
            "results/facts/{model}/findings.parquet", model=config["facts"]["models"]
        ),
    output:
        findings="results/facts/findings.parquet",
        comparison="results/facts/trained_vs_init.parquet",
    log:
        "results/logs/facts/summary.log",
    localrule: True
    conda:
        ENV
    resources:
        mem_mb=1000,
    params:
        models=as_json(config["models"]),
    shell:
        "python -m resid_atlas facts-summary --findings {input} --models {params.models:q}"
        " --out-findings {output.findings} --out-comparison {output.comparison} 2> {log}"
