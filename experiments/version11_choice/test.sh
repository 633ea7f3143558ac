#!/bin/bash
# the test sets, scored once, for the candidate that passed RULE.md (argument: its model folder); then the dev veto
C=$1
cd /work/runs; T=v18c/test; mkdir -p $T/raw_png
python /work/main/benchmarks/compare_models.py bundled $C --out $T/cmp_dev.md > $T/cmp_dev.log 2>&1
echo DEV_DONE $(date)
python /work/main/benchmarks/compare_models.py $C --synthetic syn_test_v3 --out $T/cmp_synv3.md > $T/cmp_synv3.log 2>&1
echo SYN_DONE $(date)
python /work/main/benchmarks/bench_raw_flair.py --model $C --out $T/raw --png-dir $T/raw_png > $T/raw.log 2>&1
echo RAW_DONE $(date)
python /work/main/benchmarks/compare_models.py $C --synthetic rad_severe_test --out $T/cmp_severe.md > $T/cmp_severe.log 2>&1
for s in glioma_test glioma_test_b glioma_severe_test glioma_extreme_test; do
  python /work/main/benchmarks/glioma_specificity.py $s --model $C --tta -o $T/$s.json > $T/$s.log 2>&1
done
python /work/main/benchmarks/severe_guard_case.py $C > $T/guard.log 2>&1
echo TEST_DONE $(date)
