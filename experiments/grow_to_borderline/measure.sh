#!/bin/bash
# RULE.md's measures: B (glioma_severe_val2 with flips) for G30 and G20, then A (choose_model, version 10's flags)
# for bundled, G30 and G20 in one run: `measure.sh OUT_DIR` (the candidates made first by run.py make)
set -e
O=$1
cd "$(dirname "$0")/../.."
R=/work/runs; S=/work/shared/data; RUN="python experiments/grow_to_borderline/run.py"
mkdir -p $O
[ -d $O/G30 ] || $RUN make $O
for c in G30 G20; do
  $RUN glioma_specificity $R/glioma_severe_val2 --model $O/$c --tta -o $O/val2_$c.json > $O/val2_$c.log 2>&1
done
echo VAL2_DONE $(date)
$RUN choose_model bundled $O/G30 $O/G20 \
  -o $O/choice.json --rule real-half-label2 --real $R/sim_vent_pv_ds:case_105911 --real-raw $S/sim_vent_wmh/case_105911 \
  --real-unscored WMH_periventricular.nii.gz \
  --glioma $R/glioma_val $R/glioma_severe_val --severe $R/rad_severe_val --glioma-extreme $R/glioma_extreme_val \
  --unlabelled-scans $S/open_ms/raw_flair/patient01_study1_FLAIR.nii.gz $S/open_ms/raw_flair/patient03_study1_FLAIR.nii.gz \
  $S/open_ms/raw_flair/patient04_study1_FLAIR.nii.gz $S/clinical_flair_1mm/FLAIR.nii.gz > $O/choose.log 2>&1
echo ALL_DONE $(date)
