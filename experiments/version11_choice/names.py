"""What the version-11 records call each model folder (records.py, table_rows.py)."""
NAMES = {"bundled": "version 10 (bundled)", "radiowmhseg-attention-vnet-v18c": "v18c (best = last)",
         "radiowmhseg-attention-vnet-v18g": "v18g (best = last)", "radiowmhseg-attention-vnet-v18h": "v18h best",
         "radiowmhseg-attention-vnet-v18h-last": "v18h last",
         "radiowmhseg-attention-vnet-wise-c": "W_c = mean(v18c, version 10)",
         "radiowmhseg-attention-vnet-wise-g": "W_g = mean(v18g, version 10)",
         "radiowmhseg-attention-vnet-v19": "v19 best", "radiowmhseg-attention-vnet-v19-last": "v19 last",
         "radiowmhseg-attention-vnet-v20": "v20 best (= last)",
         "radiowmhseg-attention-vnet-v21": "v21 best", "radiowmhseg-attention-vnet-v21-last": "v21 last",
         "radiowmhseg-attention-vnet-v22": "v22 best", "radiowmhseg-attention-vnet-v22-last": "v22 last",
         "radiowmhseg-attention-vnet-wise-22": "W_22 = mean(v22 last, version 10)",
         "radiowmhseg-attention-vnet-soup": "S = mean(v18c, v22 last)",
         "radiowmhseg-attention-vnet-v23": "v23 best", "radiowmhseg-attention-vnet-v23-last": "v23 last"}
