#!/bin/bash
while ! grep -q TRAIN_DONE /work/runs/v17/train.log; do sleep 15; done
cd /work/main
R=/work/runs; M=$R/v17/models; S=/work/shared/data; N=radiowmhseg-attention-vnet
python $R/v17/export_last.py
CANDS="$M/$N-v17 $M/$N-v17-last $R/v15/models/$N-v15"
for c in $CANDS bundled $R/v8_model_copy; do
  n=$(basename $c)
  python benchmarks/glioma_specificity.py $R/glioma_severe_val2 --model $c --tta -o $R/v17/val2_$n.json > $R/v17/val2_$n.log 2>&1
done
echo VAL2_DONE $(date)
python benchmarks/choose_model.py bundled $R/v8_model_copy $CANDS \
  -o $R/v17/choice.json --rule real-half-label2 --real $R/sim_vent_pv_ds:case_105911 --real-raw $S/sim_vent_wmh/case_105911 \
  --real-unscored WMH_periventricular.nii.gz \
  --glioma $R/glioma_val $R/glioma_severe_val --severe $R/rad_severe_val --glioma-extreme $R/glioma_extreme_val \
  --unlabelled-scans $S/open_ms/raw_flair/patient01_study1_FLAIR.nii.gz $S/open_ms/raw_flair/patient03_study1_FLAIR.nii.gz \
  $S/open_ms/raw_flair/patient04_study1_FLAIR.nii.gz $S/clinical_flair_1mm/FLAIR.nii.gz > $R/v17/choose.log 2>&1
echo ALL_DONE $(date)
