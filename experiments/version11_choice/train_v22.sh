#!/bin/bash
# v22 (RULE.md, sixth step): train.sh (v18c) with the synthetic sources replaced by their _bright caches
cd /work/main
R=/work/runs
radiowmhseg finetune $R/sim_vent_pv_ds -o $R/v22/run --strategy all --from $R/v10_model_copy \
  --source $R/glioma_train_bright $R/glioma_severe_train_bright $R/glioma_more_train_bright \
  $R/glioma_extreme_train_bright $R/rad_v3_train_bright $R/rad_severe_train_bright \
  --target-share 0.5 --label2 class --val-cases 1 --epochs 10 --steps-per-epoch 200 --patch-size 96 --lr 5e-5 --patience 0 \
  --seed 1 --models-dir $R/v22/models --name radiowmhseg-attention-vnet-v22 --device cpu --precision bf16 --no-progress --resume
echo TRAIN_DONE $(date)
