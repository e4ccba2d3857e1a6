#!/usr/bin/env bash
# Inner leave-one-family-out GNN folds for nested model selection (issue 31): for each outer held-out
# family F, a LOFO run over the other five families, trained without F, zero-shot only. Resumable:
# rerun the script and finished folds are read back. Writes outputs/nested_gnn/<F>/<G>/model.ckpt.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
ALL=(nb201 nb101 nb301 transnas_macro transnas_micro zoo)
declare -A TASKS=([nb201]="nb201/*" [nb101]=nb101 [nb301]=nb301 [transnas_macro]="transnas_macro/*" [transnas_micro]="transnas_micro/*" [zoo]=zoo)
for F in "${ALL[@]}"; do
  train=(); fams=()
  for G in "${ALL[@]}"; do [[ $G == "$F" ]] && continue; train+=("${TASKS[$G]}"); fams+=("$G"); done
  dir=outputs/nested_gnn/$F
  [[ -f $dir/lofo.json ]] && continue
  python train.py experiment=lofo "data.train=[$(IFS=,; echo "${train[*]}")]" "lofo.families=[$(IFS=,; echo "${fams[*]}")]" \
    eval.fine_tune.seeds=0 eval.feature_baselines=[] trainer.enable_progress_bar=false \
    hydra.run.dir=$dir ckpt_path=$dir
done
