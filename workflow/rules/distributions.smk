# Distribution atlas ("Beyond Gaussian", METHODS.md section 1): per layer, the 19 families fitted
# to every subject:attribute pair (fits/) and the KDE minor-mode catalog (modes/); per model the
# summaries, figures and findings (distributions/).


rule fits:
    input:
        shard="results/{dataset}/{model}/activations/layer_{layer}.npy",
        index="results/{dataset}/{model}/activations/index.parquet",
    output:
        "results/{dataset}/{model}/fits/layer_{layer}.parquet",
    log:
        "results/logs/{dataset}/{model}/fits/layer_{layer}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        settings=lambda wc: as_json(fit_settings()),
    shell:
        "OMP_NUM_THREADS=1 python -m resid_atlas fits --shard {input.shard} --index {input.index}"
        " --model {wildcards.model} --layer {wildcards.layer} --settings {params.settings:q}"
        " --out {output} 2> {log}"


rule modes:
    input:
        shard="results/{dataset}/{model}/activations/layer_{layer}.npy",
        index="results/{dataset}/{model}/activations/index.parquet",
    output:
        "results/{dataset}/{model}/modes/layer_{layer}.parquet",
    log:
        "results/logs/{dataset}/{model}/modes/layer_{layer}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=lambda wc: as_json(mode_settings()),
    shell:
        "OMP_NUM_THREADS=1 python -m resid_atlas modes --shard {input.shard} --index {input.index}"
        " --model {wildcards.model} --layer {wildcards.layer} --settings {params.settings:q}"
        " --out {output} 2> {log}"


rule distributions_summary:
    input:
        fits=distribution_fits,
        modes=distribution_modes,
        index="results/{dataset}/{model}/activations/index.parquet",
    output:
        shares="results/{dataset}/{model}/distributions/family_shares.parquet",
        criteria="results/{dataset}/{model}/distributions/criteria.parquet",
        tails="results/{dataset}/{model}/distributions/tails_by_layer.parquet",
        modes_layer="results/{dataset}/{model}/distributions/modes_by_layer.parquet",
        modes_attr="results/{dataset}/{model}/distributions/modes_by_attribute.parquet",
        findings="results/{dataset}/{model}/distributions/findings.parquet",
        fig_shares=report(
            "results/{dataset}/{model}/distributions/family_shares.png",
            caption="../report/distributions/family_shares.rst",
            category="Distributions",
            labels={"model": "{model}", "figure": "family shares by layer"},
        ),
        fig_modes=report(
            "results/{dataset}/{model}/distributions/modes_by_layer.png",
            caption="../report/distributions/modes_by_layer.rst",
            category="Distributions",
            labels={"model": "{model}", "figure": "mode characteristics by layer"},
        ),
        fig_attr=report(
            "results/{dataset}/{model}/distributions/secondary_modes_by_attribute.png",
            caption="../report/distributions/secondary_modes_by_attribute.rst",
            category="Distributions",
            labels={"model": "{model}", "figure": "secondary modes by attribute"},
        ),
        fig_example=report(
            "results/{dataset}/{model}/distributions/fit_example.png",
            caption="../report/distributions/fit_example.rst",
            category="Distributions",
            labels={"model": "{model}", "figure": "example fit"},
        ),
    log:
        "results/logs/{dataset}/{model}/distributions-summary.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=lambda wc: as_json(config["distributions"]),
    shell:
        "python -m resid_atlas distributions-summary --fits {input.fits} --modes {input.modes}"
        " --model {wildcards.model} --settings {params.settings:q}"
        " --acts-dir $(dirname {input.index}) --out-dir $(dirname {output.shares}) 2> {log}"
