#!/bin/bash
# RULE.md's measures A and B for the two runs' last weights beside version 10 (version 11's measure.sh), then
# both widths' speed on this CPU. After train.sh; about an hour on 2 cores.
# `measure.sh fresh`: F's last weights beside C's (RULE.md's next step), after `train.sh fresh`; about 35 min.
cd "$(dirname "$0")/../.."
R=/work/runs/width10
for n in c w f; do  # the rule's candidates are the last weights; the trainer's model folder holds the best
  [ -d $R/$n/run ] && [ ! -d $R/$n/models/radiowmhseg-attention-vnet-$n-last ] &&
    python experiments/version11_choice/export_last.py $R/$n/run $R/$n/models radiowmhseg-attention-vnet-$n
done
if [ "$1" = fresh ]; then
  experiments/version11_choice/measure.sh $R/measure_f $R/c/models/radiowmhseg-attention-vnet-c-last \
    $R/f/models/radiowmhseg-attention-vnet-f-last
  echo MEASURED $(date)
  exit
fi
experiments/version11_choice/measure.sh $R/measure $R/c/models/radiowmhseg-attention-vnet-c-last \
  $R/w/models/radiowmhseg-attention-vnet-w-last
python benchmarks/bench_network_width.py --widths shipped 2x --repeats 3 --precision fp32 --out $R/measure/speed.json
echo MEASURED $(date)
