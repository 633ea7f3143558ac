#!/bin/bash
# v18c (RULE.md): version 10 + 10 x 200 steps of 96^3 patches, the version-10 recipe's seven datasets, on this CPU
cd /work/main
R=/work/runs
radiowmhseg finetune $R/sim_vent_pv_ds -o $R/v18c/run --strategy all --from $R/v10_model_copy \
  --source $R/glioma_train $R/glioma_severe_train $R/glioma_more_train $R/glioma_extreme_train $R/rad_v3_train $R/rad_severe_train \
  --target-share 0.5 --label2 class --val-cases 1 --epochs 10 --steps-per-epoch 200 --patch-size 96 --lr 5e-5 --patience 0 \
  --seed 1 --models-dir $R/v18c/models --name radiowmhseg-attention-vnet-v18c --device cpu --precision bf16 --no-progress --resume
echo TRAIN_DONE $(date)
