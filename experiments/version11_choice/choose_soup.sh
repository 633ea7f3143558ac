#!/bin/bash
# seventh step of RULE.md: S = mean(v18c, v22 last), measured by measure.sh
cd /work/main
R=/work/runs; N=radiowmhseg-attention-vnet; M=$R/v22/models
[ -d $M/$N-soup ] || python benchmarks/average_models.py $R/v18c/models/$N-v18c $M/$N-v22-last -o $M --name $N-soup
bash experiments/version11_choice/measure.sh $R/v22/choice_soup $M/$N-soup
