"""Export ProMod3's structure database as the chains file `scnn train --task contacts` reads.

Needs Debian's `python3-promod3` and `promod3-data` (the database is
/usr/share/promod3/loop_data/structure_db.dat); run it with Debian's Python:

    sudo apt-get install -y python3-promod3 promod3-data
    /usr/bin/python3 tools/python/export_promod3.py | gzip > structures.jsonl.gz

One JSON object a line: id, chain, start_resnum, seq, dssp, and ca/cb as 3·L coordinates in Å
rounded to 2 decimals (glycine's Cβ is ProMod3's virtual one, 1.5 Å from Cα). The database
holds 21,119 chain stretches; the file the project's contact model was trained on is this
export with the chains ≥ 40 % identical to a set of benchmark proteins removed (20,507 left).
"""

import json
import sys

from promod3 import loop


def coordinates(points):
    return [round(float(v), 2) for p in points for v in p]


def main():
    db = loop.LoadStructureDB()
    out = sys.stdout
    for index in range(db.GetNumCoords()):
        info = db.GetCoordInfo(index)
        fragment = loop.FragmentInfo(index, 0, info.size)
        seq = db.GetSequence(fragment)
        backbone = db.GetBackboneList(fragment, seq)
        record = {
            "id": info.id,
            "chain": info.chain_name,
            "start_resnum": info.start_resnum,
            "seq": seq,
            "dssp": db.GetDSSPStates(fragment),
            "ca": coordinates(backbone.GetCA(i) for i in range(len(backbone))),
            "cb": coordinates(backbone.GetCB(i) for i in range(len(backbone))),
        }
        out.write(json.dumps(record, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
