#!/usr/bin/env python3
# Research prototype for issue 15: reduced-rank routing predictions. The per-generator qualities of a prompt are
# noisy; across prompts they vary along few directions of generator space (a prompt is "hard for the small models",
# "good for the photo-real ones"...). Projecting the ensemble's predicted deviations from the training mean onto
# the top r principal directions of the training targets (reduced-rank regression: every member is a linear
# smoother of the targets, so this equals fitting them on rank-r targets) may remove noise the argmax reads.
# numpy replica (NOT the product's evaluation): kernel + ridge + lexical on MiniLM embeddings from `catimage embed`,
# own 5 folds, paired per fold against r = M (no projection).
#
# usage: scripts/research/lowrank.py cems-clip|cems-nima|evalmi-perception|evalmi-correspondence
#            [--catimage .build/release/catimage] [--embeddings cache.npy] [--ranks 1,2,3]
import argparse, json, os, subprocess, sys, tempfile
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import routing_data  # the datasets and routing_prototypes.py's evaluation helpers

ap = argparse.ArgumentParser()
ap.add_argument('data', choices=['cems-clip', 'cems-nima', 'evalmi-perception', 'evalmi-correspondence'])
ap.add_argument('--catimage', default='.build/release/catimage')
ap.add_argument('--embeddings')
ap.add_argument('--ranks', default='')
ap.add_argument('--top', default='', help='also: choose only among the k best-on-average training generators (k list)')
ap.add_argument('--relative', action='store_true', help='principal directions of the per-prompt-centred targets')
ap.add_argument('--shared', default=os.path.join(here, '../../../shared/datasets'))
a = ap.parse_args()

gens, Q, C, texts, tau = routing_data.load(a.data, a.shared)
exec(routing_data.helpers_source())
X = load_embeddings(texts, a.catimage, a.embeddings)
N, D = X.shape; M = Q.shape[1]
LAMBDAS = np.concatenate([[0], np.geomspace(1e-3, 1e4, 600)])
quality_only = not C.any()


ranks = [int(r) for r in a.ranks.split(',') if r] or list(range(1, M))
rng = np.random.default_rng(0); order = rng.permutation(N); folds = np.array_split(order, 5)
results = {r: [] for r in ranks + [M]}
for f, te in enumerate(folds):
    tr = np.setdiff1d(order, te)
    Xtr, Ytr = X[tr], Q[tr]
    pl = lexical([texts[i] for i in tr], [texts[i] for i in te], Ytr)
    pred = (kernel(Xtr, Ytr, tau)(X[te]) + ridge(Xtr, Ytr, 10.0)[0](X[te]) + pl) / 3
    ym, ys = Ytr.mean(0), Ytr.std(0)
    Z = (Ytr - ym) / ys
    if a.relative: Z = Z - Z.mean(1, keepdims=True)
    _, _, Vt = np.linalg.svd(Z, full_matrices=False)
    for r in ranks + [M]:
        P = Vt[:r].T @ Vt[:r]
        if a.relative: P = P + np.ones((M, M)) / M  # the common mode passes through: it cannot change a choice
        results[r].append(routing_data.score(((pred - ym) / ys) @ P * ys + ym, Q[te], C[te], Ytr, gap))
    for k in [int(k) for k in a.top.split(',') if k]:
        keep = np.argsort(-ym)[:k]; masked = np.full_like(pred, -np.inf); masked[:, keep] = pred[:, keep]
        results.setdefault(f'top{k}', []).append(routing_data.score(masked, Q[te], C[te], Ytr, gap))
    print(f'fold {f + 1}: ' + ' '.join(f'r{r}={results[r][-1]:+.4f}' for r in results), flush=True)
base = np.array(results[M])
print(f'{a.data}: {"quality gain" if quality_only else "gap recovered"}, kernel τ={tau} + ridge α=10 + lexical α=3')
for r in results:
    v = np.array(results[r]); d = v - base
    print(f'  {"rank " + str(r) if isinstance(r, int) else r:>7}: {v.mean():+.4f} ± {v.std(ddof=1):.4f}   paired vs full rank {d.mean():+.4f} ± '
          f'{d.std(ddof=1):.4f} ({(d > 0).sum()}/5)')
