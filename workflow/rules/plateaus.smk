# Plateaus stage (study 003, docs/plateaus.md): one sweep job per model loads it once and writes
# every condition's curves (one file per condition); the summary turns them into threshold
# crossings and figures; the findings compare conditions and models.


rule plateaus_sweep:
    input:
        plateaus_source,
    output:
        **plateaus_out.SWEEP,
        curves=plateaus_out.curves(config),
    log:
        log_of(plateaus_out.SWEEP["meta"]),
    benchmark:
        benchmark_of(plateaus_out.SWEEP["meta"])
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=model_mem(extra_mb=2000),
        runtime=model_minutes(10),
        gpu=model_gpu(config["plateaus"]["device"]),
    params:
        models=lambda wc: as_json(model_entries(wc.model)),
        settings=settings("plateaus", plateaus_out.SWEEP_SETTINGS),
        kind=plateaus_source_kind,
        out_dir=lambda wc, output: str(Path(output.meta).parent),
    shell:
        "python -m resid_atlas plateaus sweep --model {wildcards.model:q} --models {params.models:q}"
        " --settings {params.settings:q} --source {input:q} --source-kind {params.kind:q}"
        " --threads {threads}"
        " --out-dir {params.out_dir:q} 2> {log:q}"


rule plateaus_summary:
    input:
        curves=plateaus_out.curves(config),
        triangle=plateaus_out.SWEEP["triangle"],
    output:
        **plateaus_out.SUMMARY,
        figures=[
            report(
                plateaus_out.figure(name),
                caption=f"../report/plateaus/{name}.rst",
                category="Plateaus",
                labels={"model": "{model}", "figure": name.replace("_", " ")},
            )
            for name in plateaus_out.FIGURES
        ],
    log:
        log_of(plateaus_out.SUMMARY["summary"]),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=settings("plateaus", plateaus_out.SUMMARY_SETTINGS),
        out_dir=lambda wc, output: str(Path(output.summary).parent),
    shell:
        "python -m resid_atlas plateaus summary --model {wildcards.model:q} --curves {input.curves:q}"
        " --triangle {input.triangle:q} --settings {params.settings:q}"
        " --out-dir {params.out_dir:q} 2> {log:q}"


rule plateaus_findings:
    input:
        thresholds=plateaus_files(plateaus_out.SUMMARY["thresholds"]),
        triangles=plateaus_files(plateaus_out.SUMMARY["triangle_crossings"]),
    output:
        plateaus_out.STAGE_FINDINGS,
    log:
        log_of(plateaus_out.STAGE_FINDINGS),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        models=as_json({m: config["models"][m] for m in config["plateaus"]["models"]}),
        settings=settings("plateaus", plateaus_out.FINDINGS_SETTINGS),
    shell:
        "python -m resid_atlas plateaus findings --thresholds {input.thresholds:q}"
        " --triangles {input.triangles:q} --models {params.models:q}"
        " --settings {params.settings:q} --out {output:q} 2> {log:q}"
