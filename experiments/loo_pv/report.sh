#!/bin/bash
# partial report: the folds done so far, both recipes on the same held-out cases, both truths
cd /work/main; R=/work/runs; O=$R/loo_pv/partial; rm -rf $O; mkdir -p $O/share
for f in $R/loo_pv/preds/*.nii.gz; do cp $R/loo_share/preds/$(basename $f) $O/share/; done
radiowmhseg evaluate $R/loo_pv/preds $R/sim_vent_pv_ds/labelsTr --allow-missing --csv $O/pv_bands_unscored.csv | tail -2
radiowmhseg evaluate $O/share $R/sim_vent_pv_ds/labelsTr --allow-missing --csv $O/share_bands_unscored.csv | tail -2
radiowmhseg evaluate $R/loo_pv/preds $R/sim_vent_ds/labelsTr --allow-missing --csv $O/pv_union.csv | tail -2
radiowmhseg evaluate $O/share $R/sim_vent_ds/labelsTr --allow-missing --csv $O/share_union.csv | tail -2
