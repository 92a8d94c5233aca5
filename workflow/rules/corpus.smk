# Sentence datasets -> results/<dataset>/corpus.parquet (checked, with a train/test split).


rule ingest:
    input:
        dataset_inputs,
    output:
        "results/{dataset}/corpus.parquet",
    log:
        "results/logs/{dataset}/ingest.log",
    conda:
        ENV
    params:
        spec=lambda wc: as_json(config["datasets"][wc.dataset]),
    shell:
        "python -m resid_atlas ingest --name {wildcards.dataset} --spec {params.spec:q} --out {output} 2> {log}"
