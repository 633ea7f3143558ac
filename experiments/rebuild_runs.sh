#!/bin/bash
# Rebuilds the datasets that the model experiments read from runs/ (not tracked), on a fresh machine:
#   experiments/rebuild_runs.sh [RUNS_DIR]      (default /work/runs; a dataset already there is skipped)
# runs/ did not survive from the sixteenth session to the seventeenth, whose machine started bare.
# Each synth line is the one docs/model.md gives for that dataset (name, count, phenotype, seed, severity). The
# generator has changed since some of them were first made, so a rebuilt dataset is today's generator at the same
# seed, not the same voxels: a model's figures on it are comparable with one another, not with the old records.
# The real training set (sim_vent_pv_ds) is rebuilt from ../shared/data as docs/model.md (version 9) says.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${1:-/work/runs}
S=$(cd .. && pwd)/shared/data
mkdir -p "$R"

synth() {  # synth NAME ARGS...: one synthetic dataset, unless it is there
  local name=$1; shift
  if [ -f "$R/$name/dataset.json" ]; then echo "kept $name"; return; fi
  radiowmhseg synth "$R/$name" "$@" 2>&1 | grep -v "synthesising:"
}

# The six synthetic sources of versions 7 to 10 (74 cases)
synth glioma_train --n 8 --phenotype glioma --seed 800
synth rad_v3_train --n 10 --phenotype radiation --seed 810
synth rad_severe_train --n 10 --seed 820 --severity 0.6 1.0
synth glioma_severe_train --n 10 --phenotype glioma --seed 850 --severity 0.5 1.0
synth glioma_more_train --n 24 --phenotype glioma --seed 880
synth glioma_extreme_train --n 12 --phenotype glioma --seed 885 --severity 0.7 1.0
# Validation sets of benchmarks/choose_model.py and the val2 guard
synth glioma_val --n 3 --phenotype glioma --seed 950
synth glioma_severe_val --n 3 --phenotype glioma --seed 860 --severity 0.5 1.0
synth rad_severe_val --n 3 --seed 830 --severity 0.6 1.0
synth glioma_extreme_val --n 3 --phenotype glioma --seed 875 --severity 0.9 1.0
synth glioma_severe_val2 --n 6 --phenotype glioma --seed 1960 --severity 0.7 1.0
# Test sets (scored once, after a choice)
synth syn_test_v3 --n 5 --phenotype radiation --seed 910
synth rad_severe_test --n 6 --seed 840 --severity 0.6 1.0
synth glioma_test --n 4 --phenotype glioma --seed 900
synth glioma_severe_test --n 4 --phenotype glioma --seed 870 --severity 0.5 1.0

# Fresh held-out sets of the under-segmentation warning's second rule (experiments/underseg_warning/RULE.md)
synth holdout_rad --n 8 --phenotype radiation --seed 2611
synth holdout_rad_severe --n 8 --seed 2612 --severity 0.6 1.0
synth holdout_glioma --n 6 --phenotype glioma --seed 2613
synth holdout_glioma_severe --n 6 --phenotype glioma --seed 2614 --severity 0.5 1.0

# The five real clinical scans, raw, in name order: label 1 the focal lesions, 3 (unscored) the periventricular
# bands (the two never overlap in this dataset). Brain extraction and registration take about a minute a case.
if [ -d "$S/sim_vent_wmh" ] && [ ! -f "$R/sim_vent_pv_ds/dataset.json" ]; then
  masks=$(mktemp -d)
  for case in "$S"/sim_vent_wmh/case_*; do
    id=$(basename "$case")
    python - "$case" "$masks/$id.nii.gz" <<'EOF'
import sys
import SimpleITK as sitk
case, out = sys.argv[1], sys.argv[2]
lesions = sitk.ReadImage(f"{case}/WMH_lesions.nii.gz") > 0
bands = sitk.ReadImage(f"{case}/WMH_periventricular.nii.gz") > 0
mask = sitk.Cast(lesions, sitk.sitkUInt8) + sitk.Cast(bands, sitk.sitkUInt8) * 3
sitk.WriteImage(mask, out)
EOF
    radiowmhseg dataset add "$R/sim_vent_pv_ds" "$case/FLAIR.nii.gz" "$masks/$id.nii.gz" --case "$id"
  done
  rm -rf "$masks"
fi
echo "datasets in $R: $(ls "$R" | tr '\n' ' ')"
