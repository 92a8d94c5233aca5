# Activation shards: one job per (dataset, model) loads the model once and writes every layer.
# `activations/` uses the configured protocol; `activations-<protocol>/` is the same extraction
# under another protocol (controls such as the Japanese pooling check).


for _model in config["models"]:

    rule:
        name:
            f"extract_{_model.replace('-', '_').replace('.', '_')}"
        input:
            "results/{dataset}/corpus.parquet",
        output:
            shards=expand(
                "results/{{dataset}}/{model}/{{acts}}/layer_{layer}.npy",
                model=_model,
                layer=layers(_model),
            ),
            index=f"results/{{dataset}}/{_model}/{{acts}}/index.parquet",
            meta=f"results/{{dataset}}/{_model}/{{acts}}/meta.json",
        log:
            f"results/logs/{{dataset}}/{_model}/extract-{{acts}}.log",
        wildcard_constraints:
            acts=r"activations(-(seed|last|mean))?",
        conda:
            ENV
        threads: 8
        resources:
            mem_mb=model_mem(_model, extra_mb=1500),
            runtime=model_minutes(15, _model),
            gpu=model_gpu(config["extraction"]["device"]),
        params:
            model=_model,
            models=as_json(model_entries(_model)),
            settings=as_json(config["extraction"]),
            protocol=extract_protocol,
        shell:
            "python -m resid_atlas extract --corpus {input} --model {params.model} --models {params.models:q}"
            " --settings {params.settings:q} {params.protocol} --threads {threads}"
            " --out-dir $(dirname {output.index}) 2> {log}"
