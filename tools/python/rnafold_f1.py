"""Mean pair F1 of ViennaRNA's RNAfold (minimum free energy, default parameters) on a 3-line
FASTA with reference dot-bracket structures, scored as `scnn evaluate` scores a model: exact
pairs, F1 per sequence (1 when both structures are empty), mean over sequences.

    pip install viennarna==2.8.0
    python3 tools/python/rnafold_f1.py tools/data/rna-test.fa
"""

import sys

import RNA

BRACKETS = ("()", "[]", "{}", "<>")


def pairs(structure):
    """Pairs of a dot-bracket string: `()[]{}<>`, then `Aa`, `Bb`, … (upper case opens)."""
    stacks, out = {}, set()
    for i, ch in enumerate(structure):
        for opening, closing in BRACKETS:
            if ch == opening:
                stacks.setdefault(opening, []).append(i)
            elif ch == closing and stacks.get(opening):
                out.add((stacks[opening].pop(), i))
        if ch.isalpha():
            if ch.isupper():
                stacks.setdefault(ch, []).append(i)
            elif stacks.get(ch.upper()):
                out.add((stacks[ch.upper()].pop(), i))
    return out


def f1(predicted, truth):
    if not predicted and not truth:
        return 1.0
    return 2 * len(predicted & truth) / (len(predicted) + len(truth))


def records(path):
    with open(path) as file:
        lines = [l.strip() for l in file if l.strip() and not l.startswith(";")]
    for k in range(0, len(lines), 3):
        yield lines[k][1:], lines[k + 1], lines[k + 2]


def family(name):
    """The family of an `ACC|ID|NAME` header (as in Rfam), as `scnn evaluate` reads it."""
    accession, bar, _ = name.partition("|")
    return accession if bar and accession else None


def main(path):
    scores = []
    for name, sequence, reference in records(path):
        predicted, _ = RNA.fold(sequence.upper().replace("T", "U"))
        scores.append((name.split()[0], f1(pairs(predicted), pairs(reference))))
    mean = sum(s for _, s in scores) / len(scores)
    print(f"{len(scores)} sequences, RNAfold {RNA.__version__} mean pair F1 {mean:.4f}")
    by_family = {}
    for name, score in scores:
        if family(name) is None:
            return
        by_family.setdefault(family(name), []).append(score)
    means = [sum(s) / len(s) for s in by_family.values()]
    print(f"families {len(means)}: mean pair F1 over families {sum(means) / len(means):.4f}")


if __name__ == "__main__":
    main(sys.argv[1])
