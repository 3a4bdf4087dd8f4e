#!/usr/bin/env python3
"""Independent numpy check of `lowrank compress --method struct` on a real model.

Reads three files written by lowrank and recomputes, with numpy only (no lowrank code):
  --dense   a factorised file holding the dense float32 weights (e.g. `lowrank compress MODEL
            --method struct --keep 1 ...`: K = 1 rewrites nothing, every tensor dense F32)
  --stats   the calibration statistics (STATS.safetensors from `lowrank calibrate`)
  --out     the struct-compressed file (its manifest gives the per-layer errors lowrank reports)
For each checked layer:
  MLP  the kept channels are recovered by matching gate rows of OUT against the dense gate;
       down_proj of OUT must equal the least-squares refit (W C)[:, S] (C_SS + λI)⁻¹,
       λ = 1e-6·mean(diag C), solved here by numpy.linalg.solve; the relative output error
       sqrt(‖W′Z_S − WZ‖² / ‖WZ‖²) computed from C must equal the manifest's; and it must be no
       worse than keeping the same number of channels by magnitude ‖W[:, j]‖²·C_jj (refit alike).
  VO   P_g is recovered from v′_g = P_g v_g (v_g has full row rank), o_proj of OUT must equal the
       least-squares refit (W_o A Pᵀ)(P A Pᵀ)⁻¹, and the relative o output error must equal the
       manifest's.
Prints one line per layer and exits 1 when a check fails.
"""
import argparse
import json
import struct
import sys

import numpy as np

DT = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "U64": np.uint64, "BF16": None}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
    meta = header.pop("__metadata__", {})

    def load(name):
        h = header[name]
        a, b = h["data_offsets"]
        dt = h["dtype"]
        with open(path, "rb") as f:
            f.seek(base + a)
            raw = f.read(b - a)
        if dt == "BF16":
            u = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            return u.view(np.float32).reshape(h["shape"])
        return np.frombuffer(raw, dtype=DT[dt]).reshape(h["shape"])

    return header, meta, load


def names(header, layer):
    """HF or GGUF names of one layer's v/o/gate/up/down."""
    hf = "model.layers.%d." % layer
    if hf + "mlp.gate_proj.weight" in header:
        return {k: hf + v for k, v in dict(v="self_attn.v_proj.weight", o="self_attn.o_proj.weight",
                                            gate="mlp.gate_proj.weight", up="mlp.up_proj.weight",
                                            down="mlp.down_proj.weight").items()}
    g = "blk.%d." % layer
    return {k: g + v for k, v in dict(v="attn_v.weight", o="attn_output.weight", gate="ffn_gate.weight",
                                       up="ffn_up.weight", down="ffn_down.weight").items()}


def refit(W, C, S, ridge=1e-6):
    lam = ridge * np.mean(np.diag(C))
    Css = C[np.ix_(S, S)] + lam * np.eye(len(S))
    Cy = (W @ C)[:, S]
    return np.linalg.solve(Css, Cy.T).T


def out_err(W, C, W2, S):
    """‖W′Z_S − WZ‖² from C (single stream)."""
    Cy = (W @ C)[:, S]
    return np.trace(W @ C @ W.T) - 2 * np.sum(W2 * Cy) + np.sum((W2 @ C[np.ix_(S, S)]) * W2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dense", required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", default="0,15,29")
    ap.add_argument("--heads", type=int, default=9)
    ap.add_argument("--kv-heads", type=int, default=3)
    a = ap.parse_args()
    hd_, _, dload = read_safetensors(a.dense)
    _, _, sload = read_safetensors(a.stats)
    ho, mo, oload = read_safetensors(a.out)
    man = json.loads(mo["lowrank.manifest"])
    rep = {x["layer"]: x for x in man["compress"]["layers"]}
    ok = True
    for layer in [int(x) for x in a.layers.split(",")]:
        nd, no = names(hd_, layer), names(ho, layer)
        Wd = dload(nd["down"]).astype(np.float64)
        G = dload(nd["gate"]).astype(np.float64)
        G2 = oload(no["gate"]).astype(np.float64)
        D2 = oload(no["down"]).astype(np.float64)
        C = sload("model.layers.%d.down_in.gram" % layer).astype(np.float64)
        # kept channels: exact row matches
        rows = {G[j].tobytes(): j for j in range(G.shape[0])}
        S = [rows[G2[i].tobytes()] for i in range(G2.shape[0])]
        assert S == sorted(S), "kept channels not ascending"
        R = refit(Wd, C, S)
        d_refit = np.abs(R - D2).max() / np.abs(R).max()
        e = np.sqrt(max(out_err(Wd, C, D2, S), 0) / np.trace(Wd @ C @ Wd.T))
        e_rep = rep[layer]["down_rel_output_error"]
        mag = np.argsort((Wd ** 2).sum(0) * np.diag(C))[::-1][:len(S)]
        mag = sorted(mag.tolist())
        e_mag = np.sqrt(max(out_err(Wd, C, refit(Wd, C, mag), mag), 0) / np.trace(Wd @ C @ Wd.T))
        # VO
        Wv = dload(nd["v"]).astype(np.float64)
        Wo = dload(nd["o"]).astype(np.float64)
        V2 = oload(no["v"]).astype(np.float64)
        O2 = oload(no["o"]).astype(np.float64)
        A = sload("model.layers.%d.o_in.gram" % layer).astype(np.float64)
        H, Gk = a.heads, a.kv_heads
        d = Wv.shape[0] // Gk
        r = V2.shape[0] // Gk
        Ps = [V2[g * r:(g + 1) * r] @ np.linalg.pinv(Wv[g * d:(g + 1) * d]) for g in range(Gk)]
        P = np.zeros((H * r, H * d))
        for h in range(H):
            P[h * r:(h + 1) * r, h * d:(h + 1) * d] = Ps[h // (H // Gk)]
        PAP = P @ A @ P.T
        CyP = Wo @ A @ P.T
        Oref = np.linalg.solve(PAP + 1e-10 * np.mean(np.diag(PAP)) * np.eye(H * r), CyP.T).T
        d_o = np.abs(Oref - O2).max() / np.abs(Oref).max()
        tot = np.trace(Wo @ A @ Wo.T)
        eo = np.sqrt(max(tot - 2 * np.sum(O2 * CyP) + np.sum((O2 @ PAP) * O2), 0) / tot)
        eo_rep = rep[layer]["o_rel_output_error"]
        good = (d_refit < 1e-3 and abs(e - e_rep) < 1e-3 * max(e_rep, 1e-3) + 1e-4 and e <= e_mag + 1e-9
                and d_o < 1e-3 and abs(eo - eo_rep) < 1e-3 * max(eo_rep, 1e-3) + 1e-4)
        ok &= good
        print("layer %2d: MLP keep %d, down refit max rel diff %.2e, rel out err numpy %.5f lowrank %.5f "
              "(magnitude %.5f); VO r=%d, o refit max rel diff %.2e, rel out err numpy %.5f lowrank %.5f  %s"
              % (layer, len(S), d_refit, e, e_rep, e_mag, r, d_o, eo, eo_rep, "OK" if good else "FAIL"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
