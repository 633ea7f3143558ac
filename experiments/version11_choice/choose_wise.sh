#!/bin/bash
# second step of RULE.md: version 10 averaged halfway with v18c and with v18g (WiSE-FT), the same measures
cd /work/main
R=/work/runs; N=radiowmhseg-attention-vnet; W=$R/v18c/wise
[ -d $W/$N-wise-c ] || python benchmarks/average_models.py $R/v18c/models/$N-v18c $R/v10_model_copy -o $W --name $N-wise-c
[ -d $W/$N-wise-g ] || python benchmarks/average_models.py $R/v18g/$N-v18g $R/v10_model_copy -o $W --name $N-wise-g
CANDS="$W/$N-wise-c $W/$N-wise-g"
# the commands of measure.sh (written later, with these very lines)
bash experiments/version11_choice/measure.sh $R/v18c/choice_wise $CANDS
