#!/bin/bash
# second step of RULE.md: version 10 averaged halfway with v18c and with v18g (WiSE-FT), the same measures
cd /work/main
R=/work/runs; S=/work/shared/data; N=radiowmhseg-attention-vnet; O=$R/v18c/choice_wise; W=$R/v18c/wise
mkdir -p $O
[ -d $W/$N-wise-c ] || python benchmarks/average_models.py $R/v18c/models/$N-v18c $R/v10_model_copy -o $W --name $N-wise-c
[ -d $W/$N-wise-g ] || python benchmarks/average_models.py $R/v18g/$N-v18g $R/v10_model_copy -o $W --name $N-wise-g
CANDS="$W/$N-wise-c $W/$N-wise-g"
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
