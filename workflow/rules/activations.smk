# Activations stage (README, "What the pipeline writes"): one job per (dataset, model, protocol)
# loads the model once and writes every layer's shard into
# results/activations/<dataset>/<model>/<protocol>/. The analyses read the configured protocol's
# folder; controls (the Japanese pooling check) read another protocol's. One rule per model,
# because its output list has one shard per layer of that model.


for _model in config["models"]:

    rule:
        name:
            f"activations_extract_{_model.replace('-', '_').replace('.', '_')}"
        input:
            corpus_out.CORPUS,
        output:
            shards=[
                activations_out.SHARD.format(
                    dataset="{dataset}", model=_model, protocol="{protocol}", layer=l
                )
                for l in layers(_model)
            ],
            index=activations_out.INDEX.format(
                dataset="{dataset}", model=_model, protocol="{protocol}"
            ),
            meta=activations_out.META.format(
                dataset="{dataset}", model=_model, protocol="{protocol}"
            ),
        log:
            log_of(
                activations_out.INDEX.format(
                    dataset="{dataset}", model=_model, protocol="{protocol}"
                )
            ),
        benchmark:
            benchmark_of(
                activations_out.INDEX.format(
                    dataset="{dataset}", model=_model, protocol="{protocol}"
                )
            )
        wildcard_constraints:
            protocol="|".join(activations_out.PROTOCOLS),
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
            settings=settings("extraction", activations_out.SETTINGS),
            out_dir=lambda wc, output: str(Path(output.index).parent),
        shell:
            "python -m resid_atlas activations extract --corpus {input:q} --model {params.model:q}"
            " --models {params.models:q} --settings {params.settings:q}"
            " --protocol {wildcards.protocol:q} --threads {threads}"
            " --out-dir {params.out_dir:q} 2> {log:q}"
