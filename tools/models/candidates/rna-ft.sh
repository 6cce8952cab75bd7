#!/bin/sh
# Fine-tune of the shipped rna.safetensors (epoch 2 of the 6-epoch run): 2 more epochs at a
# lower rate, epochs selected on the nested decoder's validation F1.
exec scnn train --data ../shared/data/rna/rfam14.9_seed_train.fa \
  -o rna-ft.safetensors --report rna-ft.json --splits splits \
  --width 24 --blocks 3:1,3:2,3:4,3:8,3:1,3:2,3:4,3:8 --epochs 2 --learning-rate 0.002 \
  --init tools/models/rna.safetensors --decoder nested --tune-threshold \
  --checkpoint ckpt --checkpoint-every 300 "$@"
