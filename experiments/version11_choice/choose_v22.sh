#!/bin/bash
# sixth step of RULE.md: v22 best, v22 last and W_22 = mean(v22 last, version 10), measured by measure.sh
while ! grep -q TRAIN_DONE /work/runs/v22/train.log; do sleep 15; done
cd /work/main
R=/work/runs; N=radiowmhseg-attention-vnet; M=$R/v22/models
[ -d $M/$N-v22-last ] || python experiments/version11_choice/export_last.py $R/v22/run $M $N-v22
[ -d $M/$N-wise-22 ] || python benchmarks/average_models.py $M/$N-v22-last $R/v10_model_copy -o $M --name $N-wise-22
CANDS=$(for c in $M/$N-v22 $M/$N-v22-last $M/$N-wise-22; do echo "$(sha256sum < $c/model.pt | cut -c1-64) $c"; done \
  | sort -u -k1,1 | cut -d' ' -f2)
echo candidates: $CANDS
bash experiments/version11_choice/measure.sh $R/v22/choice $CANDS
