# Planning guards: catch-all rules that turn "nothing makes this file" into one message naming
# the path and the fix, while Snakemake builds the job graph (so `snakemake -n` says it too).
# - no_such_shard: an activation shard of a layer beyond the model's depth, of a model or dataset
#   that is not a config entry, or of an unknown protocol folder (every per-layer file of every
#   analysis derives from a shard, so results/<d>/<m>/fits/layer_99.parquet ends here too);
# - no_rule_makes: any other path under results/ that no rule produces (with close matches).
# Their input functions (common.smk) stop the run in those cases; otherwise they return a path
# nothing makes, so the guards are never candidates beside a real rule and never run.


rule no_such_shard:
    input:
        layer_guard,
    output:
        "results/{dataset}/{model}/{acts}/layer_{layer}.npy",
    log:
        "results/logs/{dataset}/{model}/no-such-shard-{acts}-{layer}.log",
    wildcard_constraints:
        acts=r"activations(-[a-z]+)?",
    localrule: True
    conda:
        ENV
    shell:
        "echo 'unreachable: the input function stops first' > {log}; false"


rule no_rule_makes:
    input:
        no_rule_guard,
    output:
        "results/{path}",
    log:
        "results/logs/no-rule-makes/{path}.log",
    localrule: True
    conda:
        ENV
    shell:
        "echo 'unreachable: the input function stops first' > {log}; false"
