#!/bin/sh
# Trains rna.safetensors and rna.scnn from the Rfam file in one command: the four stages the
# model card describes (about four and a half hours on two cores), then the int8 conversion
# and the score on the test split.
#   base      epoch 2 of a 6-epoch schedule (--epochs-per-run stops it there)
#   first-ft  2 epochs at 0.002 from base, selected and threshold-tuned for the nested decoder
#   domains   1 epoch at 0.002 from first-ft that also trains on closed domains (--domains 48)
#   rna       2 epochs at 0.001 from domains, each drawing at most 10 sequences (or domains)
#             of every family (--family-cap 10)
# Every stage checkpoints into OUT; run the script again after a stop and it goes on where it
# stopped (a finished stage is skipped). Run it from the repository root with `scnn` on PATH.
# DATA: rfam14.9_seed_train.fa (its README says how to rebuild it from Rfam); OUT: the working
# folder; CAL: the calibration sequences of the int8 conversion. Extra options go to every
# `scnn train` (CI passes --max-steps and a small CAL for a smoke run).
set -eu
data=${DATA:-../shared/data/rna/rfam14.9_seed_train.fa}
out=${OUT:-rna-run}
cal=${CAL:-tools/data/rna-calibration.fa}
mkdir -p "$out"

# stage NAME "OPTIONS" [extra train options...]
stage() {
  name=$1
  opts=$2
  shift 2
  [ -f "$out/$name.safetensors" ] && return 0
  ckpt=$out/ckpt-$name
  resume=
  done=0
  if [ -f "$ckpt/checkpoint.json" ]; then
    resume=--resume
    done=$(grep -o '"epochs_done": *[0-9]*' "$ckpt/checkpoint.json" | grep -o '[0-9]*$')
  fi
  if [ "$name" = base ]; then
    # The base run stops after epoch 2 of its schedule. --epochs-per-run counts the epochs of
    # this run, so a resumed run is told how many are left (with none left, it writes the
    # best of them).
    if [ "$done" -ge 2 ]; then
      opts="$opts --export-best"
    else
      opts="$opts --epochs-per-run $((2 - done))"
    fi
  fi
  # $opts and $resume are word lists by design.
  # shellcheck disable=SC2086
  scnn train --data "$data" -o "$out/$name.safetensors" --report "$out/$name-training.json" \
    --splits "$out/splits" --width 24 --blocks 3:1,3:2,3:4,3:8,3:1,3:2,3:4,3:8 \
    --checkpoint "$ckpt" --checkpoint-every 300 $opts $resume "$@"
}

stage base "--epochs 6 --tune-threshold" "$@"
stage first-ft "--epochs 2 --learning-rate 0.002 --init $out/base.safetensors \
  --decoder nested --tune-threshold" "$@"
stage domains "--epochs 1 --domains 48 --learning-rate 0.002 --init $out/first-ft.safetensors \
  --decoder nested --tune-threshold" "$@"
stage rna "--epochs 2 --domains 48 --family-cap 10 --learning-rate 0.001 \
  --init $out/domains.safetensors --decoder nested --tune-threshold" "$@"
[ -f "$out/rna.scnn" ] || scnn convert "$out/rna.safetensors" --calibrate "$cal" -o "$out/rna.scnn"
scnn evaluate "$out/rna.scnn" --data "$out/splits/test.fa" --decoder nested
