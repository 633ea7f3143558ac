#!/bin/bash
# eighth step of RULE.md: v23 best and last, measured by measure.sh when the run ends
while ! grep -q TRAIN_DONE /work/runs/v23/train.log; do sleep 15; done
cd /work/main
R=/work/runs; N=radiowmhseg-attention-vnet; M=$R/v23/models
[ -d $M/$N-v23-last ] || python experiments/version11_choice/export_last.py $R/v23/run $M $N-v23
CANDS=$(for c in $M/$N-v23 $M/$N-v23-last; do echo "$(sha256sum < $c/model.pt | cut -c1-64) $c"; done \
  | sort -u -k1,1 | cut -d' ' -f2)
echo candidates: $CANDS
bash experiments/version11_choice/measure.sh $R/v23/choice $CANDS
