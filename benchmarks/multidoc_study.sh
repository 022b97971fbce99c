#!/usr/bin/env bash
# The lost-in-the-middle study on the built-in model (issue 4): the position curve at 10
# documents, gold at positions 0, 4, 9 (1, 5, 10 counted from one), for zero-shot, SFT and
# scratchpad (trained on questions disjoint from the test questions: task.pool), with the
# gold-only upper bound and the closed-book lower bound. Each step writes its own run directory
# and is skipped when a finished one exists, so the script resumes after a failure. Two lanes
# of one thread each (SFT, scratchpad; the untrained evaluations go first in the SFT lane): on a
# shared 2-core CPU one thread a process is faster than two. Training runs at batch 1 with 4
# accumulation steps (the effective batch of 4): batch 4 at ~1.3K tokens took 10 GB of memory.
#
#   bash benchmarks/multidoc_study.sh [OUT_DIR] [TEST_PER_POSITION] [TRAIN_EXAMPLES]
set -euo pipefail
OUT=${1:-runs/multidoc-study}
TEST=${2:-100}
TRAIN=${3:-200}
DATA=${DATA:-../shared/data/lost_in_the_middle/nq-open-oracle.jsonl.gz}
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${OMP_NUM_THREADS:-1}
CTX=".venv/bin/ctxlab"
mkdir -p "$OUT"
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/study.log"; }
common=(--runs-dir "$OUT" --no-progress --num-val-samples "$TEST" --set "task.source=$DATA"
        --set eval.batch_size=16)

evaluate() {  # NAME PRESET [FLAGS...]: an eval-only run, unless a finished one exists
    local name=$1 preset=$2
    shift 2
    if [ -f "$OUT/$name/latest/eval/results.json" ]; then log "$name: done before"; return; fi
    log "eval $name"
    $CTX run "$preset" --eval-only --name "$name" "${common[@]}" "$@"
    log "eval $name finished"
}

train_and_evaluate() {  # METHOD
    local method=$1
    if [ ! -f "$OUT/train-$method/summary.json" ]; then
        log "train $method"
        rm -rf "$OUT/train-$method"
        $CTX train --task multidoc --data "$OUT/train.jsonl" --method "$method" --epochs 1 \
            --batch-size 1 --grad-accum 4 --lr 5e-4 --scheduler linear --warmup-ratio 0.05 \
            --max-seq-length 2048 --logging-steps 2 --save-steps 1000 -o "$OUT/train-$method"
        log "train $method finished"
    fi
    evaluate "$method" "multidoc-$method" --load-checkpoint "$OUT/train-$method"
}

if [ ! -f "$OUT/train.jsonl" ]; then
    log "training data: $TRAIN train-pool questions, gold cycling through the 10 positions"
    $CTX data multidoc --source "$DATA" --pool train --num-docs 10 --num-samples "$TRAIN" \
        --seed 1000 -o "$OUT/train.jsonl"
fi
(
    evaluate zero-shot multidoc-sft
    evaluate gold-only multidoc-sft --eval-split val_pos
    evaluate closed-book multidoc-sft --eval-split closedbook
    train_and_evaluate sft
) > "$OUT/lane-sft.log" 2>&1 &
lane=$!
train_and_evaluate scratchpad > "$OUT/lane-scratchpad.log" 2>&1
wait "$lane"

log "curves"
$CTX curves -o "$OUT/curves" --title "SmolLM2-135M, 10 documents, nq-open (lost in the middle)" \
    --run "zero-shot=$OUT/zero-shot/latest" --run "SFT=$OUT/sft/latest" \
    --run "scratchpad=$OUT/scratchpad/latest" --run "gold only=$OUT/gold-only/latest" \
    --run "closed-book=$OUT/closed-book/latest"
log "done"
