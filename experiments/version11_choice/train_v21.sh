#!/bin/bash
# v21 (started 2026-11-27 18:34 for the next session; no rule or score yet): v20's recipe in full from version 10:
# 12 x 200 steps of 96^3, the real bands as background, the synthetic sources' faint WMH unscored. Cut at the
# session's end; rerun this script to resume from the last finished epoch (--resume).
cd /work/main
R=/work/runs
radiowmhseg finetune $R/sim_vent_neg_ds -o $R/v21/run --strategy all --from $R/v10_model_copy \
  --source $R/glioma_train_bright $R/glioma_severe_train_bright $R/glioma_more_train_bright $R/glioma_extreme_train_bright \
  $R/rad_v3_train_bright $R/rad_severe_train_bright \
  --target-share 0.5 --label2 class --val-cases 1 --epochs 12 --steps-per-epoch 200 --patch-size 96 --lr 5e-5 --patience 0 \
  --seed 1 --models-dir $R/v21/models --name radiowmhseg-attention-vnet-v21 --device cpu --precision bf16 --no-progress --resume
echo TRAIN_DONE $(date)
