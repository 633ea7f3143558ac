#!/bin/bash
cd /work/main
R=/work/runs
radiowmhseg finetune $R/sim_vent_pv_ds -o $R/v17/run --strategy all --from $R/v9_model_copy \
  --source $R/glioma_train $R/glioma_severe_train $R/glioma_more_train $R/glioma_extreme_train $R/rad_v3_train $R/rad_severe_train \
  --target-share 0.3 --label2 class --val-cases 1 --epochs 10 --steps-per-epoch 200 --lr 5e-5 --patience 0 --seed 2 \
  --models-dir $R/v17/models --name radiowmhseg-attention-vnet-v17 --device cpu --precision bf16 --no-progress --resume
echo TRAIN_DONE
