#!/bin/bash
# fourth step of RULE.md (a record): v20, the same measures
while ! grep -q TRAIN_DONE /work/runs/v20/train.log; do sleep 15; done
cd /work/main
R=/work/runs; S=/work/shared/data; N=radiowmhseg-attention-vnet; O=$R/v20/choice; M=$R/v20/models
mkdir -p $O
[ -d $M/$N-v20-last ] || python experiments/version11_choice/export_last.py $R/v20/run $M $N-v20
CANDS=$(for c in $M/$N-v20 $M/$N-v20-last; do echo "$(sha256sum < $c/model.pt | cut -c1-64) $c"; done | sort -u -k1,1 | cut -d' ' -f2)
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
