#!/bin/bash
# v23 (RULE.md, eighth step): train_v22.sh with only the synthetic lesions fainter than 0.5 unscored (_faint05 caches)
cd /work/main
R=/work/runs
radiowmhseg finetune $R/sim_vent_pv_ds -o $R/v23/run --strategy all --from $R/v10_model_copy \
  --source $R/glioma_train_faint05 $R/glioma_severe_train_faint05 $R/glioma_more_train_faint05 \
  $R/glioma_extreme_train_faint05 $R/rad_v3_train_faint05 $R/rad_severe_train_faint05 \
  --target-share 0.5 --label2 class --val-cases 1 --epochs 10 --steps-per-epoch 200 --patch-size 96 --lr 5e-5 --patience 0 \
  --seed 1 --models-dir $R/v23/models --name radiowmhseg-attention-vnet-v23 --device cpu --precision bf16 --no-progress --resume
echo TRAIN_DONE $(date)
