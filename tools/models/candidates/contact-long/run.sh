#!/bin/sh
# A longer schedule for the contact model, in progress: contact.safetensors (3,000 steps)
# trained on for 3 more epochs (13,074 steps, about 7 hours here) at 0.003 decayed linearly,
# each epoch scored on the identity-held-out validation split and the best kept. Run from the
# repository root; the checkpoint beside this script holds the run so far (and the identity
# clusters), so `sh tools/models/candidates/contact-long/run.sh --resume` continues it.
# DATA: ProMod3's chains as the contact model card describes (structures.jsonl.gz).
here=tools/models/candidates/contact-long
exec scnn train --task contacts --data "${DATA:-../shared/data/protein/structures.jsonl.gz}" \
  -o "$here/contact-long.safetensors" --report "$here/contact-long.json" --splits "$here/splits" \
  --pair-len 256 --crop 128 --dim 8 --width 16 --separation 16 \
  --blocks 3:1,3:2,3:4,3:8,3:1,3:2,3:4 --epochs 3 --batch 4 --learning-rate 0.003 \
  --validation 0.05 --test 0.1 --init tools/models/contact.safetensors \
  --checkpoint "$here/ckpt" --checkpoint-every 200 "$@"
