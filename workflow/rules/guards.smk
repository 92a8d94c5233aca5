# Planning guard: a catch-all for paths under results/ that no rule makes (a layer beyond the
# model's depth, a model, dataset or protocol folder that is not in the config, a typo). Its
# input function (no_rule_guard in common.smk, the message from resid_atlas.core.planning) stops
# the run while Snakemake builds the job graph, so `snakemake -n` says it too, with one message
# naming the path and the fix. Its wildcard constraint excludes every path another rule can make,
# so it is never a candidate beside a real rule, and it never runs. Keep this file the last
# include of the Snakefile.


rule no_rule_makes:
    input:
        no_rule_guard,
    output:
        "results/{path}",
    log:
        "results/logs/no-rule-makes/{path}.log",
    wildcard_constraints:
        path=unclaimed_paths(),
    localrule: True
    conda:
        ENV
    shell:
        "false 2> {log:q}  # unreachable: the input function stops first"
