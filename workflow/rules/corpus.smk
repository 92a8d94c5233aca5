# Sentence datasets -> results/<dataset>/violations.parquet (the validator) -> corpus.parquet
# (violations applied, train/test split) -> corpus_summary.parquet/.png and corpus_findings.
# Extraction reads corpus.parquet only, so it never sees an unvalidated dataset.
# Opt-in: download_levinson_2024 (runs only for a levinson-2024 entry without path:) and
# regenerate_corpus (never a default target; `snakemake --cores 1 regenerate_corpus`).


rule download_levinson_2024:
    output:
        sentences="resources/downloads/levinson-2024/sentences_20241018_00.json",
        split="resources/downloads/levinson-2024/seed_42_test_split.json",
    log:
        "results/logs/downloads/levinson-2024.log",
    localrule: True
    conda:
        ENV
    params:
        users=reference_users(),
    shell:
        "python -m resid_atlas download-reference --file sentences_20241018_00.json"
        " --file seed_42_test_split.json --out-dir $(dirname {output.sentences})"
        " --datasets {params.users} 2> {log}"


rule validate_dataset:
    input:
        dataset_inputs,
    output:
        "results/{dataset}/violations.parquet",
    log:
        "results/logs/{dataset}/validate.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        spec=lambda wc: as_json(config["datasets"][wc.dataset]),
        validation=as_json(config["corpus"]["validation"]),
    shell:
        "python -m resid_atlas validate --name {wildcards.dataset} --spec {params.spec:q}"
        " --validation {params.validation:q} --out {output} 2> {log}"


rule ingest:
    input:
        files=dataset_inputs,
        violations="results/{dataset}/violations.parquet",
    output:
        "results/{dataset}/corpus.parquet",
    log:
        "results/logs/{dataset}/ingest.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        spec=lambda wc: as_json(config["datasets"][wc.dataset]),
        validation=as_json(config["corpus"]["validation"]),
    shell:
        "python -m resid_atlas ingest --name {wildcards.dataset} --spec {params.spec:q}"
        " --validation {params.validation:q} --violations {input.violations} --out {output} 2> {log}"


rule corpus_summary:
    input:
        corpus="results/{dataset}/corpus.parquet",
        violations="results/{dataset}/violations.parquet",
    output:
        summary="results/{dataset}/corpus_summary.parquet",
        figure=report(
            "results/{dataset}/corpus_summary.png",
            caption="../report/corpus/summary.rst",
            category="Corpus",
            labels={"dataset": "{dataset}", "figure": "summary"},
        ),
        findings="results/{dataset}/corpus_findings.parquet",
    log:
        "results/logs/{dataset}/corpus_summary.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        models=summary_model_entries(),
        summary_models=summary_models(),
        min_per_pair=lambda wc: config["datasets"][wc.dataset]["min_per_pair"],
    shell:
        "python -m resid_atlas corpus-summary --corpus {input.corpus} --violations {input.violations}"
        " --dataset {wildcards.dataset} --models {params.models:q}"
        " --summary-models {params.summary_models} --min-per-pair {params.min_per_pair}"
        " --out {output.summary} --figure {output.figure} --findings {output.findings} 2> {log}"


rule regenerate_corpus:
    output:
        config["corpus"]["regeneration"]["output"],
    log:
        "results/logs/regenerate_corpus.log",
    localrule: True
    conda:
        ENV
    params:
        settings=as_json(config["corpus"]["regeneration"]),
        validation=as_json(config["corpus"]["validation"]),
    shell:
        "python -m resid_atlas regenerate --settings {params.settings:q}"
        " --validation {params.validation:q} --out {output} 2> {log}"
