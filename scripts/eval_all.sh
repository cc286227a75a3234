#!/usr/bin/env bash
# The measurements behind the README's evaluation table. Each step writes a run folder
# runs/<date>-<name>/ (report.html, report.md, summary.json, results.jsonl).
#
#   scripts/eval_all.sh            everything (the embedded-model steps take a while on CPU)
#   SKIP_LLM=1 scripts/eval_all.sh retrieval + extractive only
#   GQ_SAMPLE=100 RUNS_DIR=runs    defaults shown
#
# The bench data (../shared/bench, see its README) is read in place, never copied; its
# steps are skipped when it is absent. Corpora are indexed into runs/.indexes/ and reused.
set -euo pipefail

cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
RUNS_DIR=${RUNS_DIR:-runs}
BENCH=${BENCH:-../shared/bench}
GQ_SAMPLE=${GQ_SAMPLE:-100}
SEED=${SEED:-0}
SKIP_LLM=${SKIP_LLM:-0}
PY=${PYTHON:-python}
EVAL=("$PY" -m qa eval)  # the `qa eval` command

step() { printf '\n=== %s ===\n' "$*" >&2; }
timed() {  # timed NAME CMD...: run, print wall time
  local start=$SECONDS
  "${@:2}"
  printf '%s: %d s wall\n' "$1" $((SECONDS - start)) >&2
}

have_llamacpp=0
if [[ "$SKIP_LLM" != 1 ]] && "$PY" - <<'EOF' 2>/dev/null
import llama_cpp  # noqa: F401
from qa.llm.packaged import resolve_gguf
from qa.settings import Settings
resolve_gguf(Settings().gguf)
EOF
then
  have_llamacpp=1
fi

# --- sample test set on the sample corpus (data/articles) -----------------------------------
step "sample test set: retrieval only"
timed sample-retrieval "${EVAL[@]}" data/testset.jsonl --corpus data/articles --retrieval-only \
  --name sample-retrieval --runs-dir "$RUNS_DIR" --quiet

step "sample test set: extractive answers"
timed sample-extractive "${EVAL[@]}" data/testset.jsonl --corpus data/articles --llm extractive \
  --name sample-extractive --runs-dir "$RUNS_DIR" --quiet

if [[ $have_llamacpp == 1 ]]; then
  step "sample test set: embedded model (llama.cpp)"
  timed sample-llamacpp "${EVAL[@]}" data/testset.jsonl --corpus data/articles --llm llamacpp \
    --name sample-llamacpp --runs-dir "$RUNS_DIR"
else
  step "embedded model unavailable (llama_cpp or the packaged GGUF missing, or SKIP_LLM=1): skipped"
fi

# --- external bench ---------------------------------------------------------------------------
if [[ ! -d "$BENCH" ]]; then
  step "no bench data at $BENCH: bench steps skipped"
  exit 0
fi

corpus_of() {  # xquad-en asks English questions over the German xquad-de corpus
  if [[ $1 == xquad-en ]]; then echo "$BENCH/xquad-de/corpus"; else echo "$BENCH/$1/corpus"; fi
}

for set in germanquad xquad-de xquad-en; do
  if [[ -f "$BENCH/$set/questions.jsonl" && -d "$(corpus_of "$set")" ]]; then
    step "$set: retrieval only"
    timed "$set-retrieval" "${EVAL[@]}" "$BENCH/$set" --corpus "$(corpus_of "$set")" \
      --retrieval-only --name "$set-retrieval" --runs-dir "$RUNS_DIR" --quiet
  else
    step "$set missing in $BENCH: skipped"
  fi
done

for set in germanquad xquad-de xquad-en; do
  [[ -d "$(corpus_of "$set")" ]] || continue
  step "$set: extractive answers on a sample of $GQ_SAMPLE (seed $SEED)"
  timed "$set-extractive-n$GQ_SAMPLE" "${EVAL[@]}" "$BENCH/$set" \
    --corpus "$(corpus_of "$set")" --llm extractive --limit "$GQ_SAMPLE" --seed "$SEED" \
    --name "$set-extractive-n$GQ_SAMPLE" --runs-dir "$RUNS_DIR" --quiet
  if [[ $have_llamacpp == 1 ]]; then
    step "$set: embedded model on a sample of $GQ_SAMPLE (seed $SEED)"
    timed "$set-llamacpp-n$GQ_SAMPLE" "${EVAL[@]}" "$BENCH/$set" \
      --corpus "$(corpus_of "$set")" --llm llamacpp --limit "$GQ_SAMPLE" --seed "$SEED" \
      --name "$set-llamacpp-n$GQ_SAMPLE" --runs-dir "$RUNS_DIR"
  fi
done
