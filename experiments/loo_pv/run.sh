#!/bin/bash
# RULE.md. Resumable: finished folds are skipped.
set -e
cd /work/main
R=/work/runs
mkdir -p $R/loo_pv/preds
for K in 0 1 2 3 4; do
  D=$R/loo_pv/fold_$K
  if [ ! -f $D/done_train ]; then
    radiowmhseg finetune $R/sim_vent_pv_ds --fold $K --val-cases 0 -o $D/run --strategy all \
      --from $R/v1_model/Resources/Models/radiowmhseg-attention-vnet \
      --source $R/glioma_train $R/glioma_severe_train $R/glioma_more_train $R/glioma_extreme_train \
               $R/rad_v3_train $R/rad_severe_train --target-share 0.5 \
      --label2 class --epochs 12 --steps-per-epoch 200 --lr 3e-4 --patience 0 \
      --models-dir $D/models --name loo-pv-fold$K --device cpu --precision bf16 --no-progress --resume
    touch $D/done_train
  fi
  CASE=$(python -c "import json;print(json.load(open('$R/sim_vent_ds/splits.json'))['folds'][$K]['val'][0])")
  ID=${CASE#case_}
  if [ ! -f $R/loo_pv/preds/$CASE.nii.gz ]; then
    radiowmhseg segment /work/shared/data/sim_vent_wmh/case_$ID/FLAIR.nii.gz -o $R/loo_pv/preds/$CASE.nii.gz \
      --model $D/models/loo-pv-fold$K --reference $R/sim_vent_pv_ds/labelsTr/$CASE.nii.gz \
      --png $D/overlay.png --device cpu --overwrite
  fi
  echo "fold $K done $(date)"
done
radiowmhseg evaluate $R/loo_pv/preds $R/sim_vent_pv_ds/labelsTr --allow-missing --csv $R/loo_pv/loo_pv_bands_unscored.csv
radiowmhseg evaluate $R/loo_pv/preds $R/sim_vent_ds/labelsTr --allow-missing --csv $R/loo_pv/loo_pv_union.csv
radiowmhseg evaluate $R/loo_share/preds $R/sim_vent_pv_ds/labelsTr --allow-missing --csv $R/loo_pv/loo_share_bands_unscored.csv
echo ALL_DONE
