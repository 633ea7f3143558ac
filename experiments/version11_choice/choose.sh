#!/bin/bash
# after train.sh: v18c's last weights exported, then RULE.md's measures for every candidate and version 10
while ! grep -q TRAIN_DONE /work/runs/v18c/train.log; do sleep 15; done
cd /work/main
R=/work/runs; S=/work/shared/data; N=radiowmhseg-attention-vnet; O=$R/v18c/choice
mkdir -p $O
[ -d $R/v18c/models/$N-v18c-last ] || python experiments/version11_choice/export_last.py $R/v18c/run $R/v18c/models $N-v18c
# a run whose best epoch was its last gives the same weights twice (v18g, v18c): each set of weights is scored once
CANDS=$(for c in $R/v18c/models/$N-v18c $R/v18c/models/$N-v18c-last $R/v18g/$N-v18g $R/v18g/$N-v18g-last \
          $R/v18h/$N-v18h $R/v18h/$N-v18h-last; do echo "$(sha256sum < $c/model.pt | cut -c1-64) $c"; done | sort -u -k1,1 | cut -d' ' -f2)
echo candidates: $CANDS
for c in bundled $CANDS; do
  n=$(basename $c)
  [ -s $O/val2_$n.json ] && continue  # already measured (the chain was restarted)
  python benchmarks/glioma_specificity.py $R/glioma_severe_val2 --model $c --tta -o $O/val2_$n.json > $O/val2_$n.log 2>&1
done
echo VAL2_DONE $(date)
python benchmarks/choose_model.py bundled $CANDS \
  -o $O/choice.json --rule real-half-label2 --real $R/sim_vent_pv_ds:case_105911 --real-raw $S/sim_vent_wmh/case_105911 \
  --real-unscored WMH_periventricular.nii.gz \
  --glioma $R/glioma_val $R/glioma_severe_val --severe $R/rad_severe_val --glioma-extreme $R/glioma_extreme_val \
  --unlabelled-scans $S/open_ms/raw_flair/patient01_study1_FLAIR.nii.gz $S/open_ms/raw_flair/patient03_study1_FLAIR.nii.gz \
  $S/open_ms/raw_flair/patient04_study1_FLAIR.nii.gz $S/clinical_flair_1mm/FLAIR.nii.gz > $O/choose.log 2>&1
echo ALL_DONE $(date)
