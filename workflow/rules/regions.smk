# Regions stage (study 004, docs/regions.md): per model, interpolation curves between real
# activations, sharpness per prompt pair and 2-D slices; then one summary, semantic check and
# findings across regions.models.


rule regions_curves:
    input:
        corpus_of(config["regions"]["dataset"]),
    output:
        **regions_out.CURVES,
        figures=[
            report(
                regions_out.figure(name),
                caption=f"../report/regions/{name}.rst",
                category="Stable regions",
                labels={"model": "{model}", "figure": name},
            )
            for name in regions_out.CURVES_FIGURES
        ],
    log:
        log_of(regions_out.CURVES["meta"]),
    benchmark:
        benchmark_of(regions_out.CURVES["meta"])
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
        out_dir=lambda wc, output: str(Path(output.meta).parent),
    shell:
        "python -m resid_atlas regions curves --corpus {input:q} --model {wildcards.model:q}"
        " --models {params.models:q} --settings {params.settings:q} --threads {threads}"
        " --out-dir {params.out_dir:q} 2> {log:q}"


rule regions_summary:
    input:
        sharpness=[
            regions_out.CURVES["sharpness"].format(model=m)
            for m in config["regions"]["models"]
        ],
        meta=[
            regions_out.CURVES["meta"].format(model=m)
            for m in config["regions"]["models"]
        ],
    output:
        **regions_out.SUMMARY,
        findings=regions_out.STAGE_FINDINGS,
        figure=report(
            regions_out.SUMMARY_FIGURE,
            caption="../report/regions/sharpness.rst",
            category="Stable regions",
            labels={"model": "all", "figure": "sharpness by model"},
        ),
    log:
        log_of(regions_out.SUMMARY["summary"]),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=as_json(config["regions"]),
    shell:
        "python -m resid_atlas regions summary --sharpness {input.sharpness:q} --meta {input.meta:q}"
        " --settings {params.settings:q} --summary {output.summary:q}"
        " --semantic {output.semantic:q} --findings {output.findings:q}"
        " --figure {output.figure:q} 2> {log:q}"
