#!/bin/bash
# The two runs of RULE.md, one after the other (never two torch jobs at once on 2 cores):
#   experiments/width_from_v10/train.sh [fresh]   (resumes a run from its last checkpoint when cut)
# C = version 10 trained on; W = version 10 widened 2x (widen.py), trained on the same batches.
# `fresh`: only F, version 10 widened with --start fresh (RULE.md's next step), the same recipe.
cd "$(dirname "$0")/../.."
R=/work/runs/width10
mkdir -p $R
run() {  # run NAME FROM_MODEL
  radiowmhseg finetune /work/runs/sim_vent_pv_ds -o $R/$1/run --strategy all --from $2 \
    --source /work/runs/glioma_train /work/runs/glioma_severe_train /work/runs/glioma_more_train \
    /work/runs/glioma_extreme_train /work/runs/rad_v3_train /work/runs/rad_severe_train \
    --target-share 0.5 --label2 class --val-cases 1 --epochs 8 --steps-per-epoch 200 --lr 5e-5 --patience 0 \
    --seed 1 --models-dir $R/$1/models --name radiowmhseg-attention-vnet-$1 --device cpu --precision fp32 \
    --no-progress --resume
  echo "TRAIN_DONE $1 $(date)"
}
if [ "$1" = fresh ]; then
  [ -d $R/wide/radiowmhseg-attention-vnet-v10-fresh ] ||
    python experiments/width_from_v10/widen.py $R/wide --start fresh --name radiowmhseg-attention-vnet-v10-fresh
  run f $R/wide/radiowmhseg-attention-vnet-v10-fresh
  exit
fi
[ -d $R/wide/radiowmhseg-attention-vnet-v10-wide ] || python experiments/width_from_v10/widen.py $R/wide
run c Resources/Models/radiowmhseg-attention-vnet
run w $R/wide/radiowmhseg-attention-vnet-v10-wide
