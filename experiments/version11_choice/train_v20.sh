#!/bin/bash
# v20 (RULE.md, fourth step): as v19, the synthetic sources with their faint WMH unscored
cd /work/main
R=/work/runs
radiowmhseg finetune $R/sim_vent_neg_ds -o $R/v20/run --strategy all --from $R/v18c/models/radiowmhseg-attention-vnet-v18c \
  --source $R/glioma_train_bright $R/glioma_severe_train_bright $R/glioma_more_train_bright $R/glioma_extreme_train_bright \
  $R/rad_v3_train_bright $R/rad_severe_train_bright \
  --target-share 0.5 --label2 class --val-cases 1 --epochs 5 --steps-per-epoch 200 --patch-size 96 --lr 5e-5 --patience 0 \
  --seed 1 --models-dir $R/v20/models --name radiowmhseg-attention-vnet-v20 --device cpu --precision bf16 --no-progress --resume
echo TRAIN_DONE $(date)
