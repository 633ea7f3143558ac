#!/bin/bash
# fifth step of RULE.md: v20, v21 best and v21 last beside version 10, measures B (val2) then A (choose_model)
# (train.log holds the TRAIN_DONE of a start that failed at 19:01 on a missing install, hence "2")
while [ "$(grep -c TRAIN_DONE /work/runs/v21/train.log)" -lt 2 ]; do sleep 15; done
cd /work/main
R=/work/runs; S=/work/shared/data; N=radiowmhseg-attention-vnet; O=$R/v21/choice; M=$R/v21/models
mkdir -p $O
[ -d $M/$N-v21-last ] || python experiments/version11_choice/export_last.py $R/v21/run $M $N-v21
CANDS=$(for c in $R/v20/models/$N-v20 $M/$N-v21 $M/$N-v21-last; do echo "$(sha256sum < $c/model.pt | cut -c1-64) $c"; done \
  | sort -u -k1,1 | cut -d' ' -f2)
echo candidates: $CANDS
for c in $CANDS; do
  n=$(basename $c)
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
