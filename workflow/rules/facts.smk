# Facts stage (study 002, docs/facts.md): per model, statistics of token activations, weights and
# gradients, spectra, norms and findings; then all models' findings and the trained vs
# random-init reading.


rule facts_measure:
    input:
        corpus_of(config["facts"]["dataset"]),
    output:
        tables=[facts_out.table(t) for t in facts_out.TABLES],
        figures=[
            report(
                facts_out.figure(f),
                caption=f"../report/facts/{f}.rst",
                category="Facts",
                labels={"model": "{model}", "figure": f},
            )
            for f in facts_out.FIGURES
        ],
    log:
        log_of(facts_out.table("findings")),
    benchmark:
        benchmark_of(facts_out.table("findings"))
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
        out_dir=lambda wc, output: str(Path(output.tables[0]).parent),
    shell:
        "python -m resid_atlas facts measure --corpus {input:q} --model {wildcards.model:q}"
        " --models {params.models:q} --settings {params.settings:q} --threads {threads}"
        " --out-dir {params.out_dir:q} 2> {log:q}"


rule facts_summary:
    input:
        [facts_out.table("findings").format(model=m) for m in config["facts"]["models"]],
    output:
        findings=facts_out.STAGE_FINDINGS,
        comparison=facts_out.COMPARISON,
    log:
        log_of(facts_out.STAGE_FINDINGS),
    localrule: True
    conda:
        ENV
    resources:
        mem_mb=1000,
    params:
        models=as_json(config["models"]),
    shell:
        "python -m resid_atlas facts summary --findings {input:q} --models {params.models:q}"
        " --out-findings {output.findings:q} --out-comparison {output.comparison:q}"
        " 2> {log:q}"
