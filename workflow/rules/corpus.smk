# Corpus stage (docs/corpus.md): sentence datasets -> results/corpus/<dataset>/violations.parquet
# (the validator) -> corpus.parquet (violations applied, train/test split) -> summary and
# findings; the stage's findings stacked over datasets. Extraction reads corpus.parquet only, so
# it never sees an unvalidated dataset. Opt-in: corpus_download (runs only for a levinson-2024
# entry without path:) and corpus_regenerate (never a default target).


rule corpus_download:
    output:
        sentences=f"{corpus_out.DOWNLOAD_DIR}/sentences_20241018_00.json",
        split=f"{corpus_out.DOWNLOAD_DIR}/seed_42_test_split.json",
    log:
        "results/logs/corpus/download.log",
    localrule: True
    conda:
        ENV
    params:
        users=reference_users(),
    shell:
        "python -m resid_atlas corpus download --out {output.sentences:q} --out {output.split:q}"
        " --datasets {params.users:q} 2> {log:q}"


rule corpus_validate:
    input:
        dataset_inputs,
    output:
        corpus_out.VIOLATIONS,
    log:
        log_of(corpus_out.VIOLATIONS),
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
        "python -m resid_atlas corpus validate --name {wildcards.dataset:q} --spec {params.spec:q}"
        " --validation {params.validation:q} --out {output:q} 2> {log:q}"


rule corpus_ingest:
    input:
        files=dataset_inputs,
        violations=corpus_out.VIOLATIONS,
    output:
        corpus_out.CORPUS,
    log:
        log_of(corpus_out.CORPUS),
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
        "python -m resid_atlas corpus ingest --name {wildcards.dataset:q} --spec {params.spec:q}"
        " --validation {params.validation:q} --violations {input.violations:q}"
        " --out {output:q} 2> {log:q}"


rule corpus_summary:
    input:
        corpus=corpus_out.CORPUS,
        violations=corpus_out.VIOLATIONS,
    output:
        summary=corpus_out.SUMMARY,
        figure=report(
            corpus_out.SUMMARY_FIGURE,
            caption="../report/corpus/summary.rst",
            category="Corpus",
            labels={"dataset": "{dataset}", "figure": "summary"},
        ),
        findings=corpus_out.FINDINGS,
    log:
        log_of(corpus_out.SUMMARY),
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
        "python -m resid_atlas corpus summary --corpus {input.corpus:q} --violations {input.violations:q}"
        " --dataset {wildcards.dataset:q} --models {params.models:q}"
        " --summary-models {params.summary_models:q} --min-per-pair {params.min_per_pair:q}"
        " --out {output.summary:q} --figure {output.figure:q}"
        " --findings {output.findings:q} 2> {log:q}"


rule corpus_findings:
    input:
        [corpus_out.FINDINGS.format(dataset=d) for d in config["atlas"]["datasets"]],
    output:
        corpus_out.STAGE_FINDINGS,
    log:
        log_of(corpus_out.STAGE_FINDINGS),
    localrule: True
    conda:
        ENV
    shell:
        "python -m resid_atlas corpus findings --findings {input:q} --out {output:q} 2> {log:q}"


rule corpus_regenerate:
    output:
        config["corpus"]["regeneration"]["output"],
    log:
        "results/logs/corpus/regenerate.log",
    localrule: True
    conda:
        ENV
    params:
        settings=as_json(config["corpus"]["regeneration"]),
        validation=as_json(config["corpus"]["validation"]),
    shell:
        "python -m resid_atlas corpus regenerate --settings {params.settings:q}"
        " --validation {params.validation:q} --out {output:q} 2> {log:q}"
