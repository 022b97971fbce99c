#!/usr/bin/env bash
# The lost-in-the-middle study on the built-in model (issue 4): the position curve at 10
# documents, gold at positions 0, 4, 9 (1, 5, 10 counted from one), for zero-shot, SFT and
# scratchpad (trained on questions disjoint from the test questions: task.pool), with the
# gold-only upper bound and the closed-book lower bound. Each step writes its own run directory,
# so a finished step survives a later failure. Two lanes of one thread each (the evaluations
# without training, and the trainings with their evaluations): on a shared 2-core CPU one
# thread a process is faster than two (no oversubscription).
#
#   bash benchmarks/multidoc_study.sh [OUT_DIR] [TEST_PER_POSITION] [TRAIN_EXAMPLES]
set -euo pipefail
OUT=${1:-runs/multidoc-study}
TEST=${2:-100}
TRAIN=${3:-120}
DATA=${DATA:-../shared/data/lost_in_the_middle/nq-open-oracle.jsonl.gz}
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${OMP_NUM_THREADS:-1}
CTX=".venv/bin/ctxlab"
mkdir -p "$OUT"
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/study.log"; }
common=(--runs-dir "$OUT" --no-progress --num-val-samples "$TEST" --set "task.source=$DATA"
        --set eval.batch_size=16)
train=(--task multidoc --data "$OUT/train.jsonl" --epochs 1 --batch-size 4 --lr 5e-4
       --scheduler linear --warmup-ratio 0.05 --max-seq-length 2048 --logging-steps 5
       --save-steps 1000)

evaluations() {
    log "zero-shot"
    $CTX run multidoc-sft --eval-only --name zero-shot "${common[@]}"
    log "gold-only (val_pos)"
    $CTX run multidoc-sft --eval-only --eval-split val_pos --name gold-only "${common[@]}"
    log "closed-book"
    $CTX run multidoc-sft --eval-only --eval-split closedbook --name closed-book "${common[@]}"
    while [ ! -f "$OUT/train-sft/final/adapter_config.json" ]; do sleep 20; done
    log "eval sft"
    $CTX run multidoc-sft --eval-only --load-checkpoint "$OUT/train-sft" --name sft "${common[@]}"
}

trainings() {
    log "training data: $TRAIN train-pool questions, gold cycling through the 10 positions"
    $CTX data multidoc --source "$DATA" --pool train --num-docs 10 --num-samples "$TRAIN" \
        --seed 1000 -o "$OUT/train.jsonl"
    for method in sft scratchpad; do
        log "train $method"
        $CTX train "${train[@]}" --method "$method" -o "$OUT/train-$method"
    done
    log "eval scratchpad"
    $CTX run multidoc-scratchpad --eval-only --load-checkpoint "$OUT/train-scratchpad" \
        --name scratchpad "${common[@]}"
}

evaluations > "$OUT/evaluations.log" 2>&1 &
lane=$!
trainings > "$OUT/trainings.log" 2>&1
wait "$lane"

log "curves"
$CTX curves -o "$OUT/curves" --title "SmolLM2-135M, 10 documents, nq-open (lost in the middle)" \
    --run "zero-shot=$OUT/zero-shot/latest" --run "SFT=$OUT/sft/latest" \
    --run "scratchpad=$OUT/scratchpad/latest" --run "gold only=$OUT/gold-only/latest" \
    --run "closed-book=$OUT/closed-book/latest"
log "done"
