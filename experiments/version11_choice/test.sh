#!/bin/bash
# the dev veto, then the test sets scored once, for a candidate that passed RULE.md (argument: its model folder)
C=$1
cd /work/runs; T=${2:-v18c/test}; mkdir -p $T/raw_png  # $2: where the results go (v18c/test for W_c)
python /work/main/benchmarks/compare_models.py bundled $C --out $T/cmp_dev.md > $T/cmp_dev.log 2>&1
echo DEV_DONE $(date)
# the veto of RULE.md, read from the table (added after W_c, whose veto was read by eye and the script stopped)
python - $T/cmp_dev.md "$(basename $C)" <<'PY' || { echo VETOED $(date); exit 0; }
import sys
rows = [line.split("|") for line in open(sys.argv[1]) if line.startswith("| dev_patient26 | " + sys.argv[2] + " |")]
dice, f1 = float(rows[0][3]), float(rows[0][5])
print(f"dev case: Dice {dice}, lesion F1 {f1}")
sys.exit(0 if dice >= 0.745 and f1 >= 0.6 else 1)
PY
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
