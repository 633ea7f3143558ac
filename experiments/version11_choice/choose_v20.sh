#!/bin/bash
# fourth step of RULE.md (a record): v20, the same measures
while ! grep -q TRAIN_DONE /work/runs/v20/train.log; do sleep 15; done
cd /work/main
R=/work/runs; N=radiowmhseg-attention-vnet; M=$R/v20/models
[ -d $M/$N-v20-last ] || python experiments/version11_choice/export_last.py $R/v20/run $M $N-v20
CANDS=$(for c in $M/$N-v20 $M/$N-v20-last; do echo "$(sha256sum < $c/model.pt | cut -c1-64) $c"; done | sort -u -k1,1 | cut -d' ' -f2)
echo candidates: $CANDS
# the commands of measure.sh (written later, with these very lines)
bash experiments/version11_choice/measure.sh $R/v20/choice $CANDS
