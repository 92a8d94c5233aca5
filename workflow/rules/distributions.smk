# Distributions stage ("Beyond Gaussian", docs/distributions.md): per layer, the 19 families
# fitted to every subject:attribute pair (fits/) and the KDE minor-mode catalog (modes/); per
# (dataset, model) the summaries, figures and findings; the stage's findings stacked.


rule distributions_fits:
    input:
        shard=shard,
        index=index_of,
        meta=meta_of,
    output:
        distributions_out.FITS,
    log:
        log_of(distributions_out.FITS),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        settings=settings("distributions", distributions_out.FITS_SETTINGS),
    shell:
        "env OMP_NUM_THREADS=1 python -m resid_atlas distributions fits --shard {input.shard:q}"
        " --index {input.index:q} --meta {input.meta:q} --model {wildcards.model:q} --layer {wildcards.layer:q}"
        " --settings {params.settings:q} --out {output:q} 2> {log:q}"


rule distributions_modes:
    input:
        shard=shard,
        index=index_of,
        meta=meta_of,
    output:
        distributions_out.MODES,
    log:
        log_of(distributions_out.MODES),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=settings("distributions", distributions_out.MODES_SETTINGS),
    shell:
        "env OMP_NUM_THREADS=1 python -m resid_atlas distributions modes --shard {input.shard:q}"
        " --index {input.index:q} --meta {input.meta:q} --model {wildcards.model:q} --layer {wildcards.layer:q}"
        " --settings {params.settings:q} --out {output:q} 2> {log:q}"


rule distributions_self_check:
    input:
        shards=lambda wc: [shard(wc, l) for l in distribution_layers(wc.model)],
        index=index_of,
        meta=meta_of,
    output:
        distributions_out.SELF_CHECK,
    log:
        log_of(distributions_out.SELF_CHECK),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=settings("distributions", distributions_out.SELF_CHECK_SETTINGS),
    shell:
        "env OMP_NUM_THREADS=1 python -m resid_atlas distributions self_check"
        " --shards {input.shards:q} --index {input.index:q} --meta {input.meta:q} --model {wildcards.model:q}"
        " --settings {params.settings:q} --out {output:q} 2> {log:q}"


rule distributions_summary:
    input:
        fits=distribution_tables(distributions_out.FITS),
        modes=distribution_tables(distributions_out.MODES),
        example=lambda wc: shard(wc, example_layer(wc)),
        index=index_of,
        meta=meta_of,
        self_check=distributions_out.SELF_CHECK,
    output:
        tables=[distributions_out.table(n) for n in distributions_out.TABLES],
        findings=distributions_out.FINDINGS,
        figures=[
            report(
                distributions_out.figure(name),
                caption=f"../report/distributions/{name}.rst",
                category="Distributions",
                labels={"model": "{model}", "figure": name.replace("_", " ")},
            )
            for name in distributions_out.FIGURES
        ],
    log:
        log_of(distributions_out.FINDINGS),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=as_json(config["distributions"]),
        example_layer=example_layer,
        out_dir=lambda wc, output: str(Path(output.findings).parent),
    shell:
        "python -m resid_atlas distributions summary --fits {input.fits:q} --modes {input.modes:q}"
        " --model {wildcards.model:q} --settings {params.settings:q}"
        " --example-shard {input.example:q} --example-layer {params.example_layer:q}"
        " --index {input.index:q} --meta {input.meta:q} --out-dir {params.out_dir:q}"
        " --self-check {input.self_check:q} 2> {log:q}"


rule distributions_findings:
    input:
        atlas_files(distributions_out.FINDINGS),
    output:
        distributions_out.STAGE_FINDINGS,
    log:
        log_of(distributions_out.STAGE_FINDINGS),
    localrule: True
    conda:
        ENV
    shell:
        "python -m resid_atlas distributions findings --findings {input:q} --out {output:q} 2> {log:q}"
