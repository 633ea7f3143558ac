#!/bin/bash
# third step of RULE.md: v19's best and last weights, the same measures (version 10 scored beside them again)
while ! grep -q TRAIN_DONE /work/runs/v19/train.log; do sleep 15; done
cd /work/main
R=/work/runs; N=radiowmhseg-attention-vnet; M=$R/v19/models
[ -d $M/$N-v19-last ] || python experiments/version11_choice/export_last.py $R/v19/run $M $N-v19
CANDS=$(for c in $M/$N-v19 $M/$N-v19-last; do echo "$(sha256sum < $c/model.pt | cut -c1-64) $c"; done | sort -u -k1,1 | cut -d' ' -f2)
echo candidates: $CANDS
# the commands of measure.sh (written later, with these very lines)
bash experiments/version11_choice/measure.sh $R/v19/choice $CANDS
