"""Compare bench/peer.py's JSON with imgtokens' --json output, token by token.

    python3 bench/peer_compare.py PEER.json OURS.json [--period 1024]

Prints the fraction of the 576 image tokens whose top-1 id agrees exactly, the same with ids taken modulo
--period (the bench checkpoints' embed_tokens rows repeat every 1024 rows: bench/synth.ts fills every
matrix from one 1024x4096 pool of random values, so rows i and i+1024 are identical and their cosine scores
tie exactly; which of the tied ids a top-k returns first is up to the implementation), whether the top-5
id sets are equal, top-5 overlap modulo --period, and the largest top-1 score difference. Plain Python, no third-party imports.
"""

import argparse
import json


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("peer")
    ap.add_argument("ours")
    ap.add_argument("--period", type=int, default=1024)
    a = ap.parse_args()
    peer = json.load(open(a.peer))["tokens"]
    ours = [t for t in json.load(open(a.ours))["tokens"] if t.get("kind", "patch") == "patch"]
    if len(peer) != len(ours):
        raise SystemExit(f"token counts differ: peer {len(peer)}, imgtokens {len(ours)}")
    n = len(peer)
    exact = tied = same5 = 0
    overlap = 0.0
    dmax = 0.0
    for p, o in zip(peer, ours):
        pt, ot = p["top"], o["top"]
        exact += pt[0]["id"] == ot[0]["id"]
        tied += pt[0]["id"] % a.period == ot[0]["id"] % a.period
        same5 += {t["id"] for t in pt} == {t["id"] for t in ot}
        ps = {t["id"] % a.period for t in pt}
        os_ = {t["id"] % a.period for t in ot}
        overlap += len(ps & os_) / len(os_)
        dmax = max(dmax, abs(pt[0]["score"] - ot[0]["score"]))
    print(
        f"{n} tokens: top-1 id exact {exact}/{n} ({exact / n:.1%}); "
        f"top-1 id mod {a.period} (tied rows) {tied}/{n} ({tied / n:.1%}); "
        f"top-5 id sets equal {same5}/{n} ({same5 / n:.1%}); top-5 overlap mod {a.period} {overlap / n:.1%}; max |top-1 score diff| {dmax:.2e}"
    )


if __name__ == "__main__":
    main()
