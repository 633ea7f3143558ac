#!/bin/bash
# measures B (glioma_severe_val2 with --tta, one run per model) and A (choose_model, all candidates beside version
# 10 in one run) of RULE.md: `measure.sh OUT_DIR MODEL...` (the later steps' form of choose_v19/v20/v21.sh)
O=$1; shift
cd /work/main
R=/work/runs; S=/work/shared/data
mkdir -p $O
for c in "$@"; do
  n=$(basename $c)
  python benchmarks/glioma_specificity.py $R/glioma_severe_val2 --model $c --tta -o $O/val2_$n.json > $O/val2_$n.log 2>&1
done
echo VAL2_DONE $(date)
python benchmarks/choose_model.py bundled "$@" \
  -o $O/choice.json --rule real-half-label2 --real $R/sim_vent_pv_ds:case_105911 --real-raw $S/sim_vent_wmh/case_105911 \
  --real-unscored WMH_periventricular.nii.gz \
  --glioma $R/glioma_val $R/glioma_severe_val --severe $R/rad_severe_val --glioma-extreme $R/glioma_extreme_val \
  --unlabelled-scans $S/open_ms/raw_flair/patient01_study1_FLAIR.nii.gz $S/open_ms/raw_flair/patient03_study1_FLAIR.nii.gz \
  $S/open_ms/raw_flair/patient04_study1_FLAIR.nii.gz $S/clinical_flair_1mm/FLAIR.nii.gz > $O/choose.log 2>&1
echo ALL_DONE $(date)
