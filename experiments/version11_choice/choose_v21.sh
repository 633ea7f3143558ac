#!/bin/bash
# fifth step of RULE.md: v20, v21 best and v21 last beside version 10, measures B (val2) then A (choose_model)
# (train.log holds the TRAIN_DONE of a start that failed at 19:01 on a missing install, hence "2")
while [ "$(grep -c TRAIN_DONE /work/runs/v21/train.log)" -lt 2 ]; do sleep 15; done
cd /work/main
R=/work/runs; N=radiowmhseg-attention-vnet; M=$R/v21/models
[ -d $M/$N-v21-last ] || python experiments/version11_choice/export_last.py $R/v21/run $M $N-v21
CANDS=$(for c in $R/v20/models/$N-v20 $M/$N-v21 $M/$N-v21-last; do echo "$(sha256sum < $c/model.pt | cut -c1-64) $c"; done \
  | sort -u -k1,1 | cut -d' ' -f2)
echo candidates: $CANDS
# the commands of measure.sh (written after this step ran, with these very lines)
bash experiments/version11_choice/measure.sh $R/v21/choice $CANDS
