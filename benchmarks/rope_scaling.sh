#!/usr/bin/env bash
# NIAH past the trained window: the built-in model (trained to 8,192 tokens) at 4K, 8K and 12K,
# without RoPE scaling (12K is refused) and with yarn x2 and dynamic x2 (16,384-token windows).
# Results go to runs/rope-*/latest/results.json; benchmarks/RESULTS.md records them.
set -euo pipefail
export HF_HUB_OFFLINE=1
common=(--variant niah_single_2 --depths 0,50,100 --num-samples 6 --batch-size 2 --no-progress)
ctxlab eval "${common[@]}" --lengths 4096,8192 --name rope-none
for scaling in yarn:2 dynamic:2; do
    ctxlab eval "${common[@]}" --lengths 4096,8192,12288 --rope-scaling "$scaling" \
        --name "rope-${scaling%%:*}"
done
ctxlab eval "${common[@]}" --lengths 12288 --name rope-none-12k || echo "(refused, as it should be)"
