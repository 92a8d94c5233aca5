# resid-atlas: map the residual stream of language models.
#   snakemake --cores all                       the default config (embedded SmolLM2-135M, shipped corpus)
#   snakemake --cores all <one output file>     just what that file needs
#   snakemake --configfile config/seeds.yaml --workflow-profile profiles/slurm    the studies' scale
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset=NAME,
    model=NAME,
    layer=r"\d+",


rule all:
    default_target: True
    input:
        all_targets,
    localrule: True


include: "workflow/rules/corpus.smk"
include: "workflow/rules/activations.smk"
include: "workflow/rules/distributions.smk"
include: "workflow/rules/geometry.smk"
include: "workflow/rules/regions.smk"
include: "workflow/rules/plateaus.smk"
include: "workflow/rules/facts.smk"
include: "workflow/rules/classifier.smk"
include: "workflow/rules/report.smk"
# Last: its catch-all excludes the outputs of every rule included before it.
include: "workflow/rules/guards.smk"
