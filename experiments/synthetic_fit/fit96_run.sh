#!/bin/bash
cd /work/main
R=/work/runs
radiowmhseg finetune $R/rad_v3_train -o $R/fit96/run --strategy all --from $R/v10_model_copy --label2 class \
  --pathology-replay 0 --val-cases 0 --epochs 20 --steps-per-epoch 60 --patch-size 96 --lr 1e-4 --patience 0 --seed 0 \
  --models-dir $R/fit96/models --name fit96-rad-v3 --device cpu --precision bf16 --no-progress --resume
echo TRAIN_DONE $(date)
cd $R
python /work/main/benchmarks/compare_models.py fit96/models/fit96-rad-v3 --synthetic rad_v3_train --out fit96/fit_on_train.md > fit96/cmp_train.log 2>&1
python /work/main/benchmarks/compare_models.py fit96/models/fit96-rad-v3 --synthetic syn_test_v3 --out fit96/fit_on_test.md > fit96/cmp_test.log 2>&1
echo ALL_DONE $(date)
