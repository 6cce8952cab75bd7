#!/bin/sh
# The paper's claim on the Rfam file: the SCNN against the plain CNN (`--dense`) of the same
# depth and width, and an SCNN about as large as that CNN (width 29), over seeds 1, 2 and 3.
# Every run trains from scratch for one epoch that draws at most 10 sequences of every family
# (--family-cap 10: 1,074 steps of 8), on the shipped model's split (--split-seed 1), selected
# with the nested decoder. Nine runs, about two hours one after another on two cores (about
# 70 minutes here with two or three at a time).
# It writes every run's validation and test F1 (f32, nested decoder) to OUT/summary.tsv and
# prints them with each model's mean and standard deviation over the seeds.
# A finished run is skipped and a stopped one resumes from its checkpoint, so running the
# script again after a stop goes on where it stopped. Run it from the repository root with
# `scnn` on PATH. DATA: rfam14.9_seed_train.fa; OUT: the working folder; SEEDS: the seeds.
# Extra options go to every `scnn train` (CI passes --max-steps for a smoke run).
set -eu
data=${DATA:-../shared/data/rna/rfam14.9_seed_train.fa}
out=${OUT:-rna-compare}
seeds=${SEEDS:-1 2 3}
mkdir -p "$out"

# run NAME SEED WIDTH [extra train options...]
run() {
  name=$1
  seed=$2
  width=$3
  shift 3
  # The report is written after the weights: a run stopped between the two runs again.
  [ -f "$out/$name.json" ] && [ -f "$out/$name.safetensors" ] && return 0
  ckpt=$out/ckpt-$name
  resume=
  [ -f "$ckpt/checkpoint.json" ] && resume=--resume
  # $resume is empty or one word by design.
  # shellcheck disable=SC2086
  scnn train --data "$data" -o "$out/$name.safetensors" --report "$out/$name.json" \
    --width "$width" --blocks 3:1,3:2,3:4,3:8,3:1,3:2,3:4,3:8 --epochs 1 --family-cap 10 \
    --seed "$seed" --split-seed 1 --decoder nested \
    --checkpoint "$ckpt" --checkpoint-every 300 $resume "$@"
}

for seed in $seeds; do
  run "scnn24-s$seed" "$seed" 24 "$@"
  run "cnn24-s$seed" "$seed" 24 --dense "$@"
  run "scnn29-s$seed" "$seed" 29 "$@"
done

# A top-level number of a report (indented two spaces; the epochs' fields are deeper).
number() {
  value=$(grep -o "^  \"$1\": *[0-9.e-]*" "$2" | sed 's/.*: *//')
  [ -n "$value" ] || { echo "error: $2 has no $1" >&2; exit 1; }
  echo "$value"
}
# One line a run: model, seed, parameters, validation F1, test F1.
trap 'rm -f "$out/summary.tsv.part"' EXIT
rm -f "$out/summary.tsv"
{
  printf 'model\tseed\tparameters\tvalidation_f1\ttest_f1\n'
  for model in scnn24 cnn24 scnn29; do
    for seed in $seeds; do
      report=$out/$model-s$seed.json
      parameters=$(number trainable_parameters "$report")
      validation=$(number validation_f1 "$report")
      test=$(number test_f1 "$report")
      printf '%s\t%s\t%s\t%s\t%s\n' "$model" "$seed" "$parameters" "$validation" "$test"
    done
  done
} > "$out/summary.tsv.part"
# Whole or not at all.
mv "$out/summary.tsv.part" "$out/summary.tsv"
awk -F'\t' '
  # The sample standard deviation from a count, a sum and a sum of squares (0 for one seed).
  function sd(count, sum, squares,  spread) {
    if (count < 2) return 0
    spread = (squares - sum * sum / count) / (count - 1)
    return spread > 0 ? sqrt(spread) : 0
  }
  NR == 1 { next }
  {
    printf "%-7s seed %-3s %6d parameters  validation %.4f  test %.4f\n", $1, $2, $3, $4, $5
    n[$1]++; v[$1] += $4; vv[$1] += $4 * $4; t[$1] += $5; tt[$1] += $5 * $5
    if (!($1 in seen)) { seen[$1] = 1; order[++models] = $1 }
  }
  END {
    for (k = 1; k <= models; k++) {
      m = order[k]
      sv = sd(n[m], v[m], vv[m])
      st = sd(n[m], t[m], tt[m])
      printf "%-7s %d seeds  validation %.4f ± %.4f  test %.4f ± %.4f\n", m, n[m], v[m] / n[m], sv, t[m] / n[m], st
    }
  }' "$out/summary.tsv"
