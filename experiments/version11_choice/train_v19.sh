#!/bin/bash
# v19 (RULE.md, third step): v18c + 5 x 200 steps of 96^3 patches with the real cases' bands as background
cd /work/main
R=/work/runs
radiowmhseg finetune $R/sim_vent_neg_ds -o $R/v19/run --strategy all --from $R/v18c/models/radiowmhseg-attention-vnet-v18c \
  --source $R/glioma_train $R/glioma_severe_train $R/glioma_more_train $R/glioma_extreme_train $R/rad_v3_train $R/rad_severe_train \
  --target-share 0.5 --label2 class --val-cases 1 --epochs 5 --steps-per-epoch 200 --patch-size 96 --lr 5e-5 --patience 0 \
  --seed 1 --models-dir $R/v19/models --name radiowmhseg-attention-vnet-v19 --device cpu --precision bf16 --no-progress --resume
echo TRAIN_DONE $(date)
